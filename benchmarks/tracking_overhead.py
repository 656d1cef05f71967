"""Tracking overhead: a trial's training throughput against a bare `model.fit` of the same model and data.

    python benchmarks/tracking_overhead.py [--family cnn] [--images 10800] [--epochs 3] [--repeats 3]
                                           [--control] [--keep-session]

The trial side is what the search does for every trial: an active nested MLflow run, the per-epoch metrics
callback, Optuna's pruning report and validation each epoch. Three throughputs per fit: training images per
second with validation excluded (what a trial logs; the first epoch, which traces the model, included), the same
over the epochs after the first (steady state: no tracing), and images per second of the whole fit (validation,
the metrics written to the store and the pruning report included: the cost of tracking). Bare and tracked fits
come in pairs, and each pair gives a ratio, so drift on the machine (epochs here vary by 15% from one minute to the
next) hits both sides of a ratio; the median ratio is the figure. The order within a pair alternates (bare first,
then tracked first), so whatever the first fit of a pair leaves behind (garbage, a warmer cache) does not land on
one side only. Each fit starts as a trial does (`start_fresh`: Keras' session cleared and the garbage of the fits
before collected, then seeded); `--keep-session` only seeds, as the search did before 2026-12-01 (measured: no
difference in throughput, benchmarks/README.md). `--control` makes both sides of every pair bare: the ratios
then show the noise floor.
Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="cnn", choices=("mlp", "cnn"))
    parser.add_argument("--images", type=int, default=10800)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--control", action="store_true", help="both sides bare: the noise floor of the ratios")
    parser.add_argument("--keep-session", action="store_true",
                        help="seed each fit without clearing Keras' session or collecting garbage first")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the steady-state figure leaves the first epoch out")
    tmp = tempfile.mkdtemp()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
    import keras
    import numpy as np
    import optuna

    from pipeline.datasets.splits import processed_dir, read_splits
    from pipeline.search import trials
    from pipeline.search.space import REFERENCE
    from pipeline.tracking import runs
    from pipeline.training import MetricsToRun, fit, start_fresh

    data = read_splits(processed_dir("fashion_mnist", "seed0"))
    x, y = data.train.x[:args.images], data.train.y[:args.images]
    validation = (data.validation.x[:2000], data.validation.y[:2000])
    config = {**REFERENCE["cnn"], "batch_norm": True, "batch_size": 128, "filters": 32} \
        if args.family == "cnn" else {**REFERENCE["mlp"], "batch_size": 128}
    # The pruning report and question cost what they cost in a trial, but the answer is always no: a pruned fit
    # would stop after fewer epochs, and its images/s would then be mostly the first epoch's tracing. (Until
    # 2026-12-01 this study had Optuna's default median pruner, and tracked fits got pruned.)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    begin = keras.utils.set_random_seed if args.keep_session else start_fresh

    def bare_fit(seed):
        begin(seed)
        model = trials.compile_classifier(args.family, config)
        return fit(model, x, y, validation=validation, epochs=args.epochs, batch_size=config["batch_size"])

    def tracked_fit(seed):
        begin(seed)
        model = trials.compile_classifier(args.family, config)
        trial = study.ask()
        with runs.start_run("overhead", run_name="parent"), \
                runs.start_run("overhead", run_name=f"trial-{seed}", nested=True):
            runs.log_params(config)
            fitted = fit(model, x, y, validation=validation, epochs=args.epochs, batch_size=config["batch_size"],
                         callbacks=[MetricsToRun(), trials.StopWhenPruned(trial)])
        study.tell(trial, 0.0)
        return fitted

    other = bare_fit if args.control else tracked_fit
    bare, tracked = [], []
    for repeat in range(args.repeats):
        if repeat % 2 == 0:
            bare.append(bare_fit(repeat))
            tracked.append(other(repeat))
        else:
            tracked.append(other(repeat))
            bare.append(bare_fit(repeat))
    training = lambda f: f.images_per_second  # noqa: E731
    steady = lambda f: len(y) * (len(f.epoch_seconds) - 1) / sum(f.epoch_seconds[1:])  # noqa: E731
    whole = lambda f: len(y) * f.epochs / f.seconds  # noqa: E731
    median = lambda values: float(np.median(values))  # noqa: E731
    ratio = lambda rate: round(median([rate(t) / rate(b) for b, t in zip(bare, tracked)]), 4)  # noqa: E731
    print(json.dumps({"family": args.family, "images": args.images, "epochs": args.epochs, "control": args.control,
                      "keep_session": args.keep_session,
                      "bare_training_images_per_second": [round(training(f)) for f in bare],
                      "tracked_training_images_per_second": [round(training(f)) for f in tracked],
                      "bare_whole_fit_images_per_second": [round(whole(f)) for f in bare],
                      "tracked_whole_fit_images_per_second": [round(whole(f)) for f in tracked],
                      "bare_steady_images_per_second": [round(steady(f)) for f in bare],
                      "tracked_steady_images_per_second": [round(steady(f)) for f in tracked],
                      "training_ratio_median": ratio(training), "steady_ratio_median": ratio(steady),
                      "whole_fit_ratio_median": ratio(whole),
                      "ratios_bare_first": [round(training(t) / training(b), 3)
                                            for b, t in zip(bare[::2], tracked[::2])],
                      "ratios_tracked_first": [round(training(t) / training(b), 3)
                                               for b, t in zip(bare[1::2], tracked[1::2])]}))


if __name__ == "__main__":
    main()
