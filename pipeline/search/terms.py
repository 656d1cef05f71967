"""What every machine adding trials to one search shares with the machine that started it: the study, the family and
pruner, what a trial trains on (its budget and data) and the code. The parent run records them as its `join_terms`
tag; a joining machine, each worker and each Ray node is compared with them before it adds a trial, so trials of
another recipe never mix into the study."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from pipeline.config import SearchBudget
from pipeline.errors import InputError
from pipeline.tracking import runs, workflow

TAG = "join_terms"
# The budget's fields that change what a trial measures. n_trials and timeout are each machine's own share, and the
# refit's fields only matter to the machine that refits.
TRIAL_BUDGET = ("epochs", "train_fraction", "validation_limit", "prune_warmup", "score_best_epoch")


def data_digest(manifest: Mapping) -> str:
    """One digest of the processed splits, from the per-split digests their manifest holds."""
    splits = manifest["splits"]
    return hashlib.sha256("".join(splits[name]["sha256"] for name in sorted(splits)).encode()).hexdigest()[:16]


def join_terms(study: str, family: str, pruner: str, budget: SearchBudget, manifest: Mapping) -> dict[str, str]:
    """This machine's terms, as strings, by the names the error line shows."""
    return {"study": study, "family": family, "pruner": pruner,
            **{f"budget.{name}": str(getattr(budget, name)) for name in TRIAL_BUDGET},
            "data digest": data_digest(manifest), "code version": workflow.code_version()[:16]}


def differences(here: Mapping[str, str], there: Mapping[str, str], where: str = "there") -> list[str]:
    """Each term that differs, as `name X here, Y <where>`."""
    return [f"{name} {here.get(name)} here, {there.get(name)} {where}"
            for name in dict.fromkeys([*there, *here]) if here.get(name) != there.get(name)]


def parent_terms(parent_run_id: str) -> dict[str, str]:
    """The terms the search's parent run recorded; InputError when there is no such run or it is no search's."""
    parent = runs.run_or_none(parent_run_id)
    if parent is None:
        raise InputError(None, f"parent run {parent_run_id} does not exist in the tracking store {runs.configure()}")
    if TAG not in parent.data.tags:
        raise InputError(None, f"run {parent_run_id} is no search's parent run (it records no {TAG})")
    return json.loads(parent.data.tags[TAG])


def check(here: Mapping[str, str], parent_run_id: str) -> None:
    """Refuse, in one line naming each difference, a machine whose terms differ from the parent run's."""
    found = differences(here, parent_terms(parent_run_id), "in the parent run")
    if found:
        raise InputError(None, f"this machine's search differs from parent run {parent_run_id}'s: "
                         + "; ".join(found))
