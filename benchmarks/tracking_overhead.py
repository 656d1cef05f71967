"""Tracking overhead: a trial's training throughput against a bare `model.fit` of the same model and data.

    python benchmarks/tracking_overhead.py [--family cnn] [--images 10800] [--epochs 3] [--repeats 3]

The trial side is what the search does for every trial: an active nested MLflow run, the per-epoch metrics
callback, Optuna's pruning report and validation each epoch. Throughput is training images per second with
validation time excluded on both sides, so only the cost of tracking shows. Bare and tracked fits alternate,
so drift on the machine hits both. Prints one JSON line.
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
        bare.append(fit(model, x, y, validation=validation, epochs=args.epochs,
                        batch_size=config["batch_size"]).images_per_second)
        keras.utils.set_random_seed(repeat)
        model = trials.compile_classifier(args.family, config)
        trial = study.ask()
        with tracking.start_run("overhead", run_name="parent"), \
                tracking.start_run("overhead", run_name=f"trial-{repeat}", nested=True):
            tracking.log_params(config)
            tracked.append(fit(model, x, y, validation=validation, epochs=args.epochs,
                               batch_size=config["batch_size"],
                               callbacks=[MetricsToRun(), trials.PruneOnReport(trial)]).images_per_second)
        study.tell(trial, 0.0)
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    print(json.dumps({"family": args.family, "images": args.images, "epochs": args.epochs,
                      "bare_images_per_second": [round(v) for v in bare],
                      "tracked_images_per_second": [round(v) for v in tracked],
                      "tracked_over_bare": round(mean(tracked) / mean(bare), 4)}))


if __name__ == "__main__":
    main()
