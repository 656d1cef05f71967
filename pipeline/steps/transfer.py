"""Entry point `transfer`: retrain each family's top Fashion-MNIST configurations on CIFAR-10 and compare.

    python -m pipeline.steps.transfer --profile quick [--search-run-id ID ...] [--top-configs FILE ...] [--top-k 3]
        [--augment true]

By default the configurations come from the latest finished search run of each family; given search runs, or
top_configs.json files saved from search runs (from another tracking server, say), take only their families.
Each retraining is a nested run tagged with its source and its Fashion-MNIST scores; the parent logs the comparison
table, a bar chart of the two data sets side by side, and the CIFAR-10 learning curves overlaid.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow.exceptions import MlflowException

from pipeline import cli, plots
from pipeline.config import PROFILES, TransferBudget, get_profile
from pipeline.datasets.splits import processed_dir, read_splits
from pipeline.errors import InputError
from pipeline.search.space import applies
from pipeline.search.trials import train_to_budget
from pipeline.tracking import runs
from pipeline.training import affordable_epochs, subset

EXPERIMENT = "task1-transfer"
CIFAR_SHAPE = (32, 32, 3)
FAMILIES = ("mlp", "cnn")
ENTRY_KEYS = ("rank", "family", "trial", "config", "val_accuracy", "test_accuracy")


@dataclass(frozen=True)
class Source:
    """One family's top configurations and where they came from (tags for the runs that retrain them)."""
    family: str
    entries: list[dict]
    tags: dict[str, str]


def latest_search(family: str) -> str:
    """The id of the newest finished search run of a family."""
    found = runs.find_runs(f"tags.step = 'search' and tags.family = '{family}' and "
                           "attributes.status = 'FINISHED'", max_results=1)
    if not found:
        raise InputError(None, f"no finished {family} search run found; run the search step first")
    return found[0].info.run_id


def top_configs(search_run_id: str, top_k: int) -> list[dict]:
    """The first `top_k` entries of a search run's top_configs.json."""
    entries = runs.load_json_artifact(search_run_id, "top_configs.json")
    if not entries:
        raise InputError(None, f"search run {search_run_id} has no finished configurations to transfer")
    return sorted(entries, key=lambda e: e["rank"])[:top_k]


def from_search_run(run_id: str, top_k: int) -> Source:
    """A search run of this tracking store as a source."""
    try:
        run = runs.get_run(run_id)
    except MlflowException:
        raise InputError(None, f"no run {run_id} in the tracking store") from None
    family = run.data.tags.get("family")
    if run.data.tags.get("step") != "search" or family not in FAMILIES:
        raise InputError(None, f"run {run_id} is not a search run")
    return Source(family, top_configs(run_id, top_k), {"source_search_run_id": run_id})


def read_json(path: str | Path):
    """A JSON file's content; a missing or unreadable file is an InputError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not a readable JSON file ({exc})") from None


def from_file(path: str | Path, top_k: int) -> list[Source]:
    """A saved top_configs.json as sources, one per family it holds; every entry checked against the search space."""
    entries = read_json(path)
    if not isinstance(entries, list) or not entries:
        raise InputError(path, "expected a non-empty list of top configurations, as a search run logs them")
    for number, entry in enumerate(entries):
        missing = [key for key in ENTRY_KEYS if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise InputError(path, f"entry {number} lacks {', '.join(missing)}")
        if entry["family"] not in FAMILIES or not isinstance(entry["config"], dict) or \
                not applies(entry["family"], entry["config"]):
            raise InputError(path, f"entry {number}: not a {entry['family']} configuration of the search space")
    return [Source(family, sorted((e for e in entries if e["family"] == family), key=lambda e: e["rank"])[:top_k],
                   {"source_top_configs": str(path)})
            for family in FAMILIES if any(e["family"] == family for e in entries)]


def retrain(entry: dict, source: dict[str, str], budget: TransferBudget, data, augment: bool, seed: int) -> dict:
    """Train one configuration on CIFAR-10 as a nested run; returns its row of the comparison."""
    family, config = entry["family"], {**entry["config"], "augment": augment}
    x_train, y_train = subset(data.train.x, data.train.y, budget.train_fraction)
    x_val, y_val = subset(data.validation.x, data.validation.y, limit=budget.validation_limit)
    x_test, y_test = subset(data.test.x, data.test.y, limit=budget.test_limit)
    # Throughput measured on Fashion-MNIST, scaled by the larger CIFAR-10 images (32x32 against 28x28 pixels).
    rate = entry.get("images_per_second") and entry["images_per_second"] * (28 * 28) / (32 * 32)
    epochs = affordable_epochs(budget.epochs, budget.seconds, len(y_train), rate)
    with runs.start_run(EXPERIMENT, run_name=f"{family}-rank-{entry['rank']}-cifar10", nested=True,
                        tags={"step": "transfer-model", "family": family, "fashion_mnist_rank": entry["rank"],
                              "source_trial": entry["trial"], **source,
                              "source_refit_run_id": entry.get("refit_run_id"),
                              "fashion_mnist_val_accuracy": entry["val_accuracy"],
                              "fashion_mnist_test_accuracy": entry["test_accuracy"]}):
        runs.log_params({**config, "family": family, "max_epochs": epochs, "patience": budget.patience,
                         "train_images": len(y_train)})
        trained = train_to_budget(
            family, config, CIFAR_SHAPE, (x_train, y_train), (x_val, y_val), (x_test, y_test), epochs=epochs,
            patience=budget.patience, seconds=budget.seconds, eager=budget.eager, seed=seed)
        fitted, val_accuracy, test_accuracy = trained.fitted, trained.val_accuracy, trained.test_accuracy
        parameters = trained.classifier.count_params()
        metrics = {"val_accuracy_best": val_accuracy, "test_accuracy": test_accuracy, "epochs_trained": fitted.epochs,
                   "wall_seconds": fitted.seconds, "parameters": parameters}
        runs.log_metrics(metrics)
        run_id = runs.active_run_id()
    print(f"{family} rank {entry['rank']} on CIFAR-10: validation {val_accuracy:.4f}, test {test_accuracy:.4f}")
    return {"family": family, "fashion_mnist_rank": entry["rank"], "trial": entry["trial"],
            "fashion_mnist_val_accuracy": entry["val_accuracy"], "fashion_mnist_test_accuracy": entry["test_accuracy"],
            "cifar10_val_accuracy": val_accuracy, "cifar10_test_accuracy": test_accuracy,
            "mirror_averaged": trained.mirror_averaged, "epochs": fitted.epochs, "wall_seconds": fitted.seconds,
            "parameters": parameters,
            "run_id": run_id, "curve": fitted.history.get("val_accuracy", [])}


def comparison(rows: list[dict]) -> pd.DataFrame:
    """The side-by-side table, with each model's rank on CIFAR-10 within its family and its accuracy drop."""
    table = pd.DataFrame(rows).drop(columns=["curve"])
    table["cifar10_rank"] = validation_order(table).groupby("family").cumcount() + 1
    table["drop"] = table["fashion_mnist_test_accuracy"] - table["cifar10_test_accuracy"]
    order = ["family", "fashion_mnist_rank", "fashion_mnist_val_accuracy", "fashion_mnist_test_accuracy",
             "cifar10_val_accuracy", "cifar10_test_accuracy", "cifar10_rank", "drop", "epochs", "wall_seconds",
             "parameters", "trial", "run_id"]
    return table[order]


def validation_order(table: pd.DataFrame) -> pd.DataFrame:
    """The rows best CIFAR-10 validation accuracy first, ties to the better Fashion-MNIST rank: the one ranking
    that `cifar10_rank` and the headline model both come from."""
    return table.sort_values(["cifar10_val_accuracy", "fashion_mnist_rank"], ascending=[False, True], kind="stable")


def chosen_on_validation(table: pd.DataFrame) -> dict[str, pd.Series]:
    """Each family's headline model: the first of `validation_order`. Its test accuracy is the family's reported
    figure; the maximum over test is not a choice."""
    return {family: group.iloc[0] for family, group in validation_order(table).groupby("family", sort=True)}


def transfer(profile: str, sources: list[Source], top_k: int, augment: bool, seed: int,
             data_dir: Path, epochs: int | None = None) -> pd.DataFrame:
    """Retrain the top configurations of each family on CIFAR-10 under one parent run."""
    data = read_splits(data_dir)
    budgets = {source.family: get_profile(profile).transfer[source.family] for source in sources}
    if epochs is not None:
        budgets = {family: dataclasses.replace(b, epochs=epochs) for family, b in budgets.items()}
    rows = []
    with runs.start_run(EXPERIMENT, run_name="transfer-cifar10", tags={"step": "transfer"}):
        runs.log_params({"profile": profile, "top_k": top_k, "augment": augment, "seed": seed,
                         "data_dir": str(data_dir), "sources": {s.family: s.tags for s in sources},
                         "budget": {f: dataclasses.asdict(b) for f, b in budgets.items()}})
        runs.log_splits(data)
        for source in sources:
            for entry in source.entries:
                rows.append(retrain(entry, source.tags, budgets[source.family], data, augment, seed))
        table = comparison(rows)
        runs.log_table(table, "comparison.csv", markdown=True)
        labels = table["family"] + " #" + table["fashion_mnist_rank"].astype(str)
        bars = table.assign(model=labels).rename(columns={"fashion_mnist_test_accuracy": "Fashion-MNIST test",
                                                          "cifar10_test_accuracy": "CIFAR-10 test"})
        runs.log_figure(plots.grouped_bars(bars, "model", ["Fashion-MNIST test", "CIFAR-10 test"], "accuracy",
                                           "Top configurations: Fashion-MNIST against CIFAR-10"),
                        "accuracy_by_dataset.png")
        runs.log_figure(plots.overlaid_curves({f"{r['family']} #{r['fashion_mnist_rank']}": r["curve"]
                                               for r in rows}, "validation accuracy",
                                              "CIFAR-10 learning curves"), "cifar10_learning_curves.png")
        for family, chosen in chosen_on_validation(table).items():
            group = table[table["family"] == family]
            runs.log_metrics({f"{family}_cifar10_val_accuracy": chosen["cifar10_val_accuracy"],
                              f"{family}_cifar10_test_accuracy": chosen["cifar10_test_accuracy"],
                              f"{family}_max_cifar10_test_accuracy": group["cifar10_test_accuracy"].max(),
                              f"{family}_mean_drop": group["drop"].mean()})
            runs.set_tags({f"{family}_chosen_run_id": chosen["run_id"]})
    print(table.drop(columns=["run_id"]).to_string(index=False))
    return table


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--search-run-id", action="append", default=[],
                   help="a search run to take configurations from (repeatable); default: the latest of each family")
    p.add_argument("--top-configs", action="append", default=[],
                   help="a top_configs.json saved from a search run (repeatable), instead of a run of this store")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--epochs", type=cli.optional(int), default=None, help="default: the profile's")
    p.add_argument("--augment", type=cli.boolean, default=True, help="flips and shifts while training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="", help="processed CIFAR-10 folder (default: data/processed/cifar10/seed<seed>)")
    return p


def listed(values: list[str]) -> list[str]:
    """Repeated or comma-separated command-line values, as one list."""
    return [i.strip() for item in values for i in str(item).split(",") if i.strip()]


def run(args) -> pd.DataFrame:
    files = [source for path in listed(args.top_configs) for source in from_file(path, args.top_k)]
    searches = [from_search_run(run_id, args.top_k) for run_id in listed(args.search_run_id)]
    sources = searches + files or [from_search_run(latest_search(family), args.top_k) for family in FAMILIES]
    families = [source.family for source in sources]
    if len(set(families)) < len(families):
        raise InputError(None, "each family's configurations must come from one search run or file; "
                               f"given: {', '.join(f'{s.family} from {next(iter(s.tags.values()))}' for s in sources)}")
    return transfer(args.profile, sources, args.top_k, args.augment, args.seed,
                    Path(args.data) if args.data else processed_dir("cifar10", f"seed{args.seed}"), args.epochs)


def main(argv=None) -> None:
    cli.main_with(build_parser, run, argv)


if __name__ == "__main__":
    main()
