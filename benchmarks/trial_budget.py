"""Trial budget: score one configuration as a search's trial would (the profile's epochs and share of the training
split, validation accuracy after the last epoch), with augmentation off and on, to see where the search would
rank it among its trials.

    python benchmarks/trial_budget.py --top-configs benchmarks/results/deep-cnn-probe.json [--rank 1] \\
        [--profile full]

Works on the processed Fashion-MNIST splits (`preprocess` first) and a throwaway MLflow store; no pruning (the
trials run to their last epoch). Prints one JSON line per setting of augmentation.
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
    parser.add_argument("--profile", default="full")
    args = parser.parse_args()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tempfile.mkdtemp()) / 'mlflow.db'}"
    import optuna

    from pipeline.config import get_profile
    from pipeline.datasets.splits import processed_dir, read_splits
    from pipeline.search.trials import objective_for
    from pipeline.tracking import runs

    entries = {e["rank"]: e for e in json.loads(Path(args.top_configs).read_text())}
    if args.rank not in entries:
        parser.error(f"{args.top_configs}: no rank {args.rank} (ranks {sorted(entries)})")
    family, config = entries[args.rank]["family"], entries[args.rank]["config"]
    budget = get_profile(args.profile).search[family]
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    for augment in (False, True):
        study.enqueue_trial({**config, "augment": augment})
    with runs.start_run("trial-budget", run_name=f"rank-{args.rank}-{args.profile}"):
        study.optimize(objective_for(family, budget, read_splits(processed_dir("fashion_mnist", "seed0")), seed=0),
                       n_trials=2)
    for trial in study.trials:
        print(json.dumps({"family": family, "rank": args.rank, "profile": args.profile, "trial": trial.number,
                          "augment": trial.params["augment"], "epochs": budget.epochs,
                          "train_fraction": budget.train_fraction, "val_accuracy": round(trial.value, 4),
                          "images_per_second": round(trial.user_attrs["images_per_second"])}))


if __name__ == "__main__":
    main()
