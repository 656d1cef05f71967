"""Tracking overhead: a trial's training throughput against a bare `model.fit` of the same model and data.

    python benchmarks/tracking_overhead.py [--family cnn] [--images 10800] [--epochs 3] [--repeats 3]

The trial side is what the search does for every trial: an active nested MLflow run, the per-epoch metrics
callback, Optuna's pruning report and validation each epoch. Two throughputs per fit: training images per second
with validation excluded (what a trial logs), and images per second of the whole fit (validation, the metrics
written to the store and the pruning report included: the cost of tracking). Bare and tracked fits alternate,
and each pair gives a ratio, so drift on the machine (epochs here vary by 15% from one minute to the next) hits
both sides of a ratio; the median ratio is the figure. Prints one JSON line.
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
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
    import keras
    import numpy as np
    import optuna

    from pipeline import search, tracking, trials
    from pipeline.datasets.splits import processed_dir, read_splits
    from pipeline.training import MetricsToRun, fit

    data = read_splits(processed_dir("fashion_mnist", "seed0"))
    x, y = data.train.x[:args.images], data.train.y[:args.images]
    validation = (data.validation.x[:2000], data.validation.y[:2000])
    config = {**search.REFERENCE["cnn"], "batch_norm": True, "batch_size": 128, "filters": 32} \
        if args.family == "cnn" else {**search.REFERENCE["mlp"], "batch_size": 128}
    study = optuna.create_study(direction="maximize")
    bare, tracked = [], []
    for repeat in range(args.repeats):
        keras.utils.set_random_seed(repeat)
        model = trials.compile_classifier(args.family, config)
        bare.append(fit(model, x, y, validation=validation, epochs=args.epochs, batch_size=config["batch_size"]))
        keras.utils.set_random_seed(repeat)
        model = trials.compile_classifier(args.family, config)
        trial = study.ask()
        with tracking.start_run("overhead", run_name="parent"), \
                tracking.start_run("overhead", run_name=f"trial-{repeat}", nested=True):
            tracking.log_params(config)
            tracked.append(fit(model, x, y, validation=validation, epochs=args.epochs,
                               batch_size=config["batch_size"],
                               callbacks=[MetricsToRun(), trials.PruneOnReport(trial)]))
        study.tell(trial, 0.0)
    training = lambda f: f.images_per_second  # noqa: E731
    whole = lambda f: len(y) * f.epochs / f.seconds  # noqa: E731
    median = lambda values: float(np.median(values))  # noqa: E731
    print(json.dumps({"family": args.family, "images": args.images, "epochs": args.epochs,
                      "bare_training_images_per_second": [round(training(f)) for f in bare],
                      "tracked_training_images_per_second": [round(training(f)) for f in tracked],
                      "bare_whole_fit_images_per_second": [round(whole(f)) for f in bare],
                      "tracked_whole_fit_images_per_second": [round(whole(f)) for f in tracked],
                      "training_ratio_median": round(median([training(t) / training(b)
                                                             for b, t in zip(bare, tracked)]), 4),
                      "whole_fit_ratio_median": round(median([whole(t) / whole(b)
                                                              for b, t in zip(bare, tracked)]), 4)}))


if __name__ == "__main__":
    main()
