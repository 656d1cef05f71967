"""Entry point `clock_compare`: every label representation on the same backbone, data and budget, as nested runs.

    python -m pipeline.steps.clock_compare --profile quick

Every representation starts from one backbone pretrained first, in a nested `clock-backbone` run, on where the
dial's 12 and the hands point in rendered clocks (pipeline/clock/backbone.py; for a course-format folder, whose
poses nobody knows, on rendered clocks of the same size, the representations then learning the folder's labels
alone), or from the backbone --backbone names; the parent tags its model URI (`backbone_model_uri`). The polar
reader (models/polar_reader.py) is a network of its own and starts from no backbone: on every source it learns from
the labels alone.
The parent logs the comparison table (CSV and Markdown), ranked by validation CSE, a bar chart of validation and
test CSE per representation, and tags the winner, chosen on validation.
"""
from __future__ import annotations

import dataclasses
import json

import pandas as pd

from pipeline import cli, plots
from pipeline.clock.backbone import pretrain, resolve
from pipeline.clock.data import load_clock_data, synthetic
from pipeline.clock.request import EXPERIMENT, ClockRequest, add_data_arguments, own_network, request_from
from pipeline.config import get_profile
from pipeline.datasets.splits import Splits
from pipeline.errors import InputError
from pipeline.tracking import runs

# The representations compared, as HeadSpec fields. The periodic model with both hands is also read with the
# independent decoding (a second row, same network), to show what making hour and minute agree is worth. The polar
# reader is a network of its own, built to learn from labels alone; it starts from no backbone.
REPRESENTATIONS = [
    *({"head": "classification", "n_classes": n} for n in (24, 72, 144, 360, 720)),
    *({"head": "regression", "loss": loss} for loss in ("mae", "mse", "circular")),
    *({"head": "multihead", "minute_head": minute} for minute in ("regression", "periodic")),
    {"head": "periodic", "hands": "hour"},
    {"head": "periodic", "hands": "both", "decoding": "consistent"},
    {"head": "polar"},
]
ONE_PER_HEAD = [{"head": "classification", "n_classes": 24}, {"head": "regression", "loss": "circular"},
                {"head": "multihead", "minute_head": "periodic"}, {"head": "periodic", "hands": "both"},
                {"head": "polar"}]
REPRESENTATION_SETS = {"all": REPRESENTATIONS, "one_per_head": ONE_PER_HEAD}
TABLE_COLUMNS = ["representation", "val_cse_mean", "test_cse_mean", "test_cse_median", "test_cse_p90", "test_within_1",
                 "test_within_5", "test_within_10", "test_hour_error_share", "parameters", "train_seconds",
                 "epochs_trained", "run_id"]


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """One row per representation, in the order they are chosen by: lowest mean validation CSE first."""
    table = pd.DataFrame(rows)
    return table[[c for c in TABLE_COLUMNS if c in table]].sort_values("val_cse_mean", kind="stable").reset_index(
        drop=True)


def winner(rows: list[dict]) -> dict:
    """The representation the champion is trained as: the lowest mean validation CSE (the first on a tie).
    Test figures are reported beside it and never choose."""
    return min(rows, key=lambda row: row["val_cse_mean"])


def log_winner(rows: list[dict], backbone: str) -> None:
    """Tag the winner and log the validation figure it won on, with its test figure for the report. The winner
    may be a second decoding of a network (a row "... (same network)"): the champion must be trained with that
    decoding, so the tags name the winning row's head fields, not only its run, and the backbone it started from
    (`best_backbone_model_uri`: the comparison's, or "" for a network of its own)."""
    from models.time_heads import HeadSpec

    best = winner(rows)
    runs.log_metrics({"best_val_cse_mean": best["val_cse_mean"], "best_test_cse_mean": best["test_cse_mean"]})
    runs.set_tags({"best_representation": HeadSpec(**best["head_fields"]).label, "selected_on": "validation",
                   "best_head": json.dumps(best["head_fields"]), "best_run_id": best["run_id"],
                   "best_backbone_model_uri": "" if own_network(best["head_fields"]) else backbone})


def compare(args, representations: list[dict] | None = None) -> pd.DataFrame:
    """Train every representation (by default, the profile's set) under one parent run and log the comparison."""
    profile = get_profile(args.profile)
    representations = representations or REPRESENTATION_SETS[profile.representations]
    first = resolve(request_from(args, representations[0]))  # a bad backbone URI stops here, before any data or run
    if first.split != "80/10/10":
        raise InputError(None, f"clock_compare chooses its winner on the validation split; split {first.split} "
                               "has none (use 80/10/10)")
    splits = load_clock_data(first)
    backbone_epochs = profile.backbone_epochs if args.backbone_epochs is None else args.backbone_epochs
    if first.backbone or all(own_network(head) for head in representations):
        backbone_epochs = 0
    from pipeline.clock.training import train_clock

    rows, backbone = [], first.backbone
    with runs.start_run(EXPERIMENT, run_name=f"clock-compare-{args.profile}", tags={"step": "clock_compare"}):
        runs.log_params({"profile": args.profile, "image_size": first.image_size, "epochs": first.budget.epochs,
                         "augment": first.augment, "split": first.split, "seed": first.seed,
                         "representations": len(representations), "backbone_epochs": backbone_epochs,
                         "backbone": first.backbone or "none"})
        if backbone_epochs:
            backbone = shared_backbone(first, splits, backbone_epochs)
        if backbone:
            runs.set_tags({"backbone_model_uri": backbone})
        for number, head in enumerate(representations, start=1):
            print(f"--- representation {number}/{len(representations)}: {head}", flush=True)
            request = dataclasses.replace(request_from(args, head), log_model=False,
                                          backbone="" if own_network(head) else backbone)
            with runs.start_run(EXPERIMENT, run_name=f"clock-{head['head']}", nested=True):
                row = train_clock(request, splits)
            rows.append(row)
            rows.extend(row.pop("alternatives", []))
        table = comparison_table(rows)
        runs.log_table(table, "comparison.csv", markdown=True)
        runs.log_figure(plots.grouped_bars(table, "representation", ["val_cse_mean", "test_cse_mean"],
                                           "minutes", "Mean common-sense error by label representation"),
                        "comparison.png")
        log_winner(rows, backbone)
    print(table.drop(columns=["run_id"]).to_string(index=False))
    return table


def shared_backbone(first: ClockRequest, splits: Splits, epochs: int) -> str:
    """Pretrain the backbone every representation starts from, in a nested `clock-backbone` run, on the request's
    rendered clocks, or, for a course-format folder (no known poses), on rendered clocks of the same size and
    count; returns its registered version's model URI."""
    if not synthetic(first):
        first = dataclasses.replace(first, source="synthetic")
        splits = load_clock_data(first)
    print(f"--- shared backbone: {epochs} epochs on where the 12 and the hands point in {len(splits.train.y)} "
          "rendered training clocks", flush=True)
    with runs.start_run(EXPERIMENT, run_name="clock-backbone", nested=True):
        return pretrain(first, splits, epochs)


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    add_data_arguments(p)
    p.add_argument("--backbone-epochs", type=cli.optional(int), default=None,
                   help="epochs of the shared pretrained backbone every representation starts from (on rendered "
                        "clocks, whatever the source; 0: none; default: the profile's)")
    p.add_argument("--backbone", default="", help="start every representation from this pretrained backbone, a "
                   "model URI (models:/clock-backbone/3, models:/clock-backbone@<alias>, runs:/<run id>/backbone), "
                   "instead of pretraining one")
    return p


def main(argv=None) -> None:
    cli.main_with(build_parser, compare, argv)


if __name__ == "__main__":
    main()
