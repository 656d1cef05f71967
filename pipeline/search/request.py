"""What one search is asked to do: the family and budget, the study it adds to and where that lives, the data, and
how its trials run."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna

from pipeline.config import SearchBudget
from pipeline.search.storage import HEARTBEAT_SECONDS
from pipeline.search.study import make_pruner


@dataclass(frozen=True)
class SearchRequest:
    """One search of one family: its budget, its study (name and storage URL), the processed splits it reads, and
    whether its trials run here or in `workers` processes, local or Ray tasks (under `parent_run_id` when another
    machine started it)."""
    family: str
    budget: SearchBudget
    storage: str
    study_name: str
    data_dir: Path
    profile: str = ""
    seed: int = 0
    pruner: str | optuna.pruners.BasePruner = "median"   # a name of study.PRUNERS, or a pruner (tests pass one)
    workers: int = 1
    heartbeat: int = HEARTBEAT_SECONDS
    parent_run_id: str = ""
    launcher: str = "local"     # where workers run: "local" processes, or "ray" tasks on the cluster at ray_address
    ray_address: str = ""
    worker_cpus: float = 1.0    # each Ray task's request
    worker_gpus: float = 0.0
    refit_only: bool = False    # add no trials: wait for the study's running trials, then refit its top

    @property
    def in_workers(self) -> bool:
        """Whether trials run in worker processes rather than in this one."""
        return self.workers > 1 or self.launcher == "ray"

    @property
    def pruner_name(self) -> str:
        """The pruner as logged and as worker processes are told it."""
        return self.pruner if isinstance(self.pruner, str) else type(self.pruner).__name__

    def study_pruner(self) -> optuna.pruners.BasePruner:
        """The pruner the study uses: the named one, fitted to the budget's epochs, or the one given."""
        if isinstance(self.pruner, str):
            return make_pruner(self.pruner, self.budget.epochs, self.budget.prune_warmup)
        return self.pruner
