"""Pruning against no pruning: the same seeded study run twice, counting epochs trained and the best accuracy.

    python benchmarks/pruning.py [--family mlp] [--trials 40] [--epochs 8] [--train-fraction 0.3] [--seed 0]

Both studies use the same TPE seed, the same trials budget and the same data; one prunes with the median rule,
one never prunes. Runs go to a scratch MLflow store and Optuna storage in a temporary folder (no refits: the
question is what the trials cost). Prints one JSON line per study and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_study(family: str, pruner: str, n_trials: int, epochs: int, fraction: float, seed: int,
              folder: Path) -> dict:
    """One study without refits; returns epochs trained, best validation accuracy, states and wall time."""

    from pipeline.config import SearchBudget
    from pipeline.datasets.splits import processed_dir, read_splits
    from pipeline.search import trials
    from pipeline.search.study import make_pruner, open_study
    from pipeline.tracking import runs

    budget = SearchBudget(n_trials=n_trials, timeout=10**6, epochs=epochs, train_fraction=fraction, refit_epochs=1,
                          patience=1)
    data = read_splits(processed_dir("fashion_mnist", "seed0"))
    storage = f"sqlite:///{folder / 'optuna.db'}"
    started = time.perf_counter()
    with runs.start_run("pruning-benchmark", run_name=f"{family}-{pruner}"):
        study = open_study(f"{family}-{pruner}", storage, seed, make_pruner(pruner, epochs), family)
        study.optimize(trials.objective_for(family, budget, data, seed), n_trials=n_trials)
    states = [t.state.name for t in study.trials]
    return {"family": family, "pruner": pruner, "trials": len(study.trials),
            "pruned": states.count("PRUNED"), "epochs_trained": sum(t.user_attrs.get("epochs_trained", 0)
                                                                    for t in study.trials),
            "best_val_accuracy": study.best_value, "wall_seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="mlp", choices=("mlp", "cnn"))
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        results = [run_study(args.family, pruner, args.trials, args.epochs, args.train_fraction, args.seed,
                             Path(tmp)) for pruner in ("none", "median")]
    for result in results:
        print(json.dumps(result))
    plain, pruned = results
    print(json.dumps({"epochs_saved": round(1 - pruned["epochs_trained"] / plain["epochs_trained"], 3),
                      "best_val_accuracy_difference": round(pruned["best_val_accuracy"]
                                                            - plain["best_val_accuracy"], 4)}))


if __name__ == "__main__":
    main()
