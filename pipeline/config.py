"""The project's configuration: where things live (root, data folders, default stores) and the named budgets of
the study (smoke for CI, quick for half an hour, full for benchmark-grade figures), kept as data.

Every step reads its budget from here; command-line values override single fields.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# The package lives at the project root (installed editable or run from a clone).
ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("PIPELINE_DATA_DIR", ROOT / "data")).resolve()
RAW_DIR = DATA_DIR / "raw"
PROCESSED_DIR = DATA_DIR / "processed"

# MLflow 3's embedded default, anchored at the root so every entry point shares it.
DEFAULT_TRACKING_URI = f"sqlite:///{ROOT / 'mlflow.db'}"
DEFAULT_ARTIFACT_ROOT = ROOT / "mlruns"

def default_optuna_storage() -> str:
    """Optuna studies persist in the data folder (out of git), so a study can be resumed by name."""
    return f"sqlite:///{DATA_DIR / 'optuna.db'}"


# Eager training (`eager=True` below): on a few dozen images, tracing a model's train, test and predict functions
# costs more than running its handful of batches eagerly, so the smoke CNNs and clock readers run eagerly; an MLP
# traces quickly and its thousand images run faster traced. Graph mode stays covered by tests: every clock loss and
# metric traced, and the clock trainer (both outputs) fitted traced.
@dataclass(frozen=True)
class SearchBudget:
    """One family's Optuna search on Fashion-MNIST and the refit of its best configurations."""
    n_trials: int                  # trials to add to the study
    timeout: int                   # seconds for adding trials (the refits come after)
    epochs: int                    # epochs per trial
    train_fraction: float          # share of the 54,000 training images a trial sees
    refit_epochs: int              # at most, with early stopping on validation
    patience: int
    refit_fraction: float = 1.0    # share of the training split the refits see
    refit_seconds: int | None = None     # wall-time budget per refit: epochs follow from the trial's throughput
    validation_limit: int | None = None  # cap on validation images during trials (None: all)
    test_limit: int | None = None        # cap on test images (None: all)
    eager: bool = False                  # train without tf.function (see the note above)
    refit_augment: bool | None = None    # refits train with flips and shifts (None: as the trial chose)
    prune_warmup: int = 0                # epochs before the median rule may prune (the chance floor applies at once)
    score_best_epoch: bool = False       # a trial scores its best epoch's validation accuracy, not its last's
    repeats: int = 1                     # refits of the selected configuration, each with its own seed


@dataclass(frozen=True)
class TransferBudget:
    """Retraining one family's top configurations on CIFAR-10."""
    epochs: int
    patience: int
    seconds: int | None = None     # wall-time budget per model: epochs follow from its measured throughput
    train_fraction: float = 1.0
    validation_limit: int | None = None
    test_limit: int | None = None
    eager: bool = False            # train without tf.function (see the note above)


@dataclass(frozen=True)
class ClockBudget:
    """Training one clock model."""
    epochs: int
    patience: int
    batch_size: int = 64
    train_limit: int | None = None       # cap on training images (None: the whole split)
    extra_train: int = 0                 # extra rendered training images (synthetic source only)
    widths: tuple[int, ...] = (16, 32, 64, 128)  # the backbone's stage widths, shared by a comparison
    dial_weight: float = 1.0             # loss weight of the dial output (synthetic source only; 0: none)
    eager: bool = False                  # train without tf.function (see the note above)


@dataclass(frozen=True)
class Profile:
    """How much data and compute each step of the study gets."""
    name: str
    search: dict[str, SearchBudget]
    transfer: dict[str, TransferBudget]
    clock_count: int               # rendered clock images (train + validation + test)
    clock_size: int                # 150 or 75 pixels
    representations: str = "all"   # which label representations clock_compare trains: all, or one_per_head
    backbone_epochs: int = 0       # clock_compare: epochs of the shared pretrained backbone (0: each starts fresh)
    clock: ClockBudget = field(default_factory=lambda: ClockBudget(epochs=1, patience=1))
    champion: ClockBudget = field(default_factory=lambda: ClockBudget(epochs=1, patience=1))


PROFILES = {
    # smoke: every step and code path in a few minutes on tiny subsets (what CI runs); its figures mean nothing.
    "smoke": Profile(
        "smoke",
        # mlp search: 3 one-epoch trials and refits on 2% of the images: trials, pruning and refits all run, in seconds.
        search={"mlp": SearchBudget(n_trials=3, timeout=120, epochs=1, train_fraction=0.02, refit_epochs=1,
                                    patience=1, refit_fraction=0.02, validation_limit=500, test_limit=1000),
                # cnn search: about 64 images each way, eager: tracing would cost more than the few batches.
                "cnn": SearchBudget(n_trials=3, timeout=180, epochs=1, train_fraction=0.0012, refit_epochs=1,
                                    patience=1, refit_fraction=0.0012, validation_limit=64, test_limit=128,
                                    eager=True)},
        # transfer: one epoch on subsets of CIFAR-10 as small as the search's, so the comparison is built and logged.
        transfer={"mlp": TransferBudget(epochs=1, patience=1, train_fraction=0.02, validation_limit=500,
                                        test_limit=1000),
                  "cnn": TransferBudget(epochs=1, patience=1, train_fraction=0.0015, validation_limit=64,
                                        test_limit=128, eager=True)},
        # clocks: 720 renders at 75 px (one per minute of the dial), one model per head, one backbone epoch.
        clock_count=720, clock_size=75, representations="one_per_head", backbone_epochs=1,
        # clock models: a narrow backbone on 192 images for one eager epoch in two batches (eager steps cost per step,
        # not per image): every clock step runs end to end.
        clock=ClockBudget(epochs=1, patience=1, batch_size=96, widths=(8, 16, 32), train_limit=192, eager=True),
        champion=ClockBudget(epochs=1, patience=1, batch_size=96, widths=(8, 16, 32), train_limit=192, eager=True),
    ),
    # quick: meaningful results from the whole study in about half an hour on 2 cores.
    "quick": Profile(
        "quick",
        # mlp search: short trials on a fifth of the images, 45 s refits: searches and transfer within 20 minutes.
        search={"mlp": SearchBudget(n_trials=25, timeout=90, epochs=3, train_fraction=0.2, refit_epochs=20,
                                    patience=4, refit_seconds=45),
                # cnn search: small shares, capped evaluation: CNNs train slowly here and a refit epoch must fit 45 s.
                "cnn": SearchBudget(n_trials=8, timeout=120, epochs=2, train_fraction=0.03, refit_epochs=4,
                                    patience=2, refit_fraction=0.06, refit_seconds=45, validation_limit=1000,
                                    test_limit=2000)},
        # transfer: MLPs on all of CIFAR-10 for 20 s; CNNs on 6% with capped evaluation, for the same reason.
        transfer={"mlp": TransferBudget(epochs=15, patience=4, seconds=20),
                  "cnn": TransferBudget(epochs=4, patience=2, train_fraction=0.06, seconds=45,
                                        validation_limit=1000, test_limit=2000)},
        # clocks: all 18,000 renders at 75 px, the cheaper size; one representation per head, to fit the half hour.
        clock_count=18000, clock_size=75, representations="one_per_head",
        # backbone: taught the dial and the hands, it finds the 12 sooner than any model alone; trained once for all.
        backbone_epochs=5,
        # compared models: 2 epochs on 3,000 images from the shared backbone, enough to rank the representations.
        clock=ClockBudget(epochs=2, patience=2, train_limit=3000),
        # champion: the winner trained further on the whole training split.
        champion=ClockBudget(epochs=5, patience=5),
    ),
    # full: benchmark-grade figures against the study's targets; hours on 2 cores.
    "full": Profile(
        "full",
        # mlp search: 8-epoch trials until the 35-minute timeout; refits run their whole cosine schedule in 600 s.
        search={"mlp": SearchBudget(n_trials=200, timeout=2100, epochs=8, train_fraction=0.5, refit_epochs=80,
                                    patience=80, refit_seconds=600, repeats=3),
                # cnn search: best-epoch scores (big networks overfit a trial's data); augmented refits in 1,700 s.
                "cnn": SearchBudget(n_trials=200, timeout=2100, epochs=8, train_fraction=0.2, refit_epochs=30,
                                    patience=6, refit_seconds=1700, refit_augment=True, score_best_epoch=True,
                                    repeats=3)},
        # transfer: each model's epochs planned to fit its wall time; all six within the transfer's two hours.
        transfer={"mlp": TransferBudget(epochs=60, patience=10, seconds=400),
                  "cnn": TransferBudget(epochs=40, patience=5, seconds=1800)},
        # clocks: 18,000 at 150 px, every representation compared, each from a backbone pretrained for 10 epochs.
        clock_count=18000, clock_size=150, backbone_epochs=10,
        # compared models: up to 30 epochs each (patience 10), the same budget for every representation.
        clock=ClockBudget(epochs=30, patience=10),
        # champion: 26 epochs of 43,200 clocks (28,800 extra renders): the 150 px recipe, within 90 minutes' training.
        champion=ClockBudget(epochs=26, patience=10, extra_train=28800),
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called `name`; unknown names list the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
