"""Where the project keeps things: its root, the data folders, and the default stores."""
from __future__ import annotations

import os
from pathlib import Path

# The package lives at the project root (installed editable or run from a clone).
ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("PIPELINE_DATA_DIR", ROOT / "data")).resolve()
RAW_DIR = DATA_DIR / "raw"
PROCESSED_DIR = DATA_DIR / "processed"

# MLflow 3's embedded default, anchored at the root so every entry point shares it.
DEFAULT_TRACKING_URI = f"sqlite:///{ROOT / 'mlflow.db'}"
DEFAULT_ARTIFACT_ROOT = ROOT / "mlruns"

# The experiment of a search and of its trials and refits (trials.py and search.py both need it; neither imports
# the other at load time).
SEARCH_EXPERIMENT = "task1-search"


def default_optuna_storage() -> str:
    """Optuna studies persist in the data folder (out of git), so a study can be resumed by name."""
    return f"sqlite:///{DATA_DIR / 'optuna.db'}"
