"""Refit recipe: retrain one of a search's top configurations on the whole training split, with augmentation
switched on or off, under the refit's own budget, and report its validation and test accuracy.

    python benchmarks/refit_recipe.py --top-configs mlruns/0/<search run>/artifacts/top_configs.json \\
        [--rank 1] [--augment true] [--seconds 1500] [--epochs 30] [--patience 6]

The search refits a configuration as the trials trained it; this asks what the same configuration reaches when
the long fit changes one thing. Epochs are planned from the configuration's measured throughput as the refit
plans them (augmentation costs a little of it: the wall-time guard stops the fit within `--seconds`). Works on the
processed Fashion-MNIST splits (`preprocess` first) and a throwaway MLflow store. Prints one JSON line.
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
    parser.add_argument("--top-configs", required=True, help="a search run's top_configs.json")
    parser.add_argument("--rank", type=int, default=1)
    parser.add_argument("--augment", choices=("true", "false"), default="true")
    parser.add_argument("--seconds", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=6)
    args = parser.parse_args()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tempfile.mkdtemp()) / 'mlflow.db'}"
    from pipeline.datasets.splits import processed_dir, read_splits
    from pipeline.search.trials import INPUT_SHAPE, train_to_budget
    from pipeline.tracking import runs
    from pipeline.training import affordable_epochs

    entries = {e["rank"]: e for e in json.loads(Path(args.top_configs).read_text())}
    if args.rank not in entries:
        parser.error(f"{args.top_configs}: no rank {args.rank} (ranks {sorted(entries)})")
    entry = entries[args.rank]
    config = {**entry["config"], "augment": args.augment == "true"}
    data = read_splits(processed_dir("fashion_mnist", "seed0"))
    train, validation, test = ((s.x, s.y) for s in (data.train, data.validation, data.test))
    epochs = affordable_epochs(args.epochs, args.seconds, len(train[1]), entry.get("images_per_second"))
    with runs.start_run("refit-recipe", run_name=f"rank-{args.rank}-augment-{args.augment}"):
        trained = train_to_budget(
            entry["family"], config, INPUT_SHAPE, train, validation, test, epochs=epochs, patience=args.patience,
            seconds=args.seconds, eager=False, seed=0)
    fitted, val_accuracy, test_accuracy = trained.fitted, trained.val_accuracy, trained.test_accuracy
    print(json.dumps({"family": entry["family"], "rank": args.rank, "trial": entry["trial"],
                      "augment": config["augment"], "planned_epochs": epochs, "epochs": fitted.epochs,
                      "seconds": round(fitted.seconds), "val_accuracy": round(float(val_accuracy), 4),
                      "test_accuracy": round(float(test_accuracy), 4), "mirror_averaged": trained.mirror_averaged,
                      "search_refit": {"augment": entry["config"].get("augment"), "epochs": entry["epochs"],
                                       "val_accuracy": round(entry["val_accuracy"], 4),
                                       "test_accuracy": round(entry["test_accuracy"], 4)}}))


if __name__ == "__main__":
    main()
