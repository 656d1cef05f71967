"""The study: its storage opened safely, its sampler and pruner, its starting points queued, and what it found so far."""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass

import optuna

from pipeline.errors import InputError
from pipeline.search.space import NAMED_STARTING_POINTS, STARTING_POINTS
from pipeline.search.storage import (
    HEARTBEAT_SECONDS,
    creation_lock,
    masked,
    open_storage,
    reporting_errors,
)
from pipeline.tracking import liveness, runs

# The experiment of a search's parent run, its trials and its refits.
EXPERIMENT = "task1-search"
TOP_K = 3

PRUNERS = ("median", "hyperband", "none")

# How often a search waiting for the study's other workers looks again (at most; its heartbeat when shorter).
SETTLE_POLL_SECONDS = 5

# Random trials before TPE models the space: budgets here allow a few dozen trials, not hundreds.
STARTUP_TRIALS = 6

# Validation accuracy at or below which a trial is learning nothing (a zeros initializer, sigmoid layers under a
# tiny learning rate, a diverged optimizer): twice chance on ten classes. The median rule spares its start-up
# trials, so without this floor such a network would train to its last epoch.
CHANCE_FLOOR = 0.2


class MedianOrChance(optuna.pruners.BasePruner):
    """The median rule, and any trial still at chance after an epoch that is not its last, start-up trials
    included. After the last epoch there is nothing left to save: the trial completes with what it reached
    (a one-epoch smoke trial on 64 images is near chance and still a result)."""

    # Optuna has no pruner that prunes when either of two others would, hence this class: the floor is Optuna's
    # ThresholdPruner, asked only before the last epoch, the median rule is its MedianPruner (after `warmup`).
    # ThresholdPruner prunes strictly below `lower` (and on NaN); a value at the floor is pruned here too, so `lower`
    # is the next float above it.
    def __init__(self, epochs: int, floor: float = CHANCE_FLOOR, warmup: int = 0):
        self.last_step = epochs - 1
        self.floor = optuna.pruners.ThresholdPruner(lower=math.nextafter(floor, math.inf))
        self.median = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warmup)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        before_last = step is not None and step < self.last_step
        return (before_last and self.floor.prune(study, trial)) or self.median.prune(study, trial)


def make_pruner(name: str, epochs: int, warmup: int = 0) -> optuna.pruners.BasePruner:
    """Median (after `warmup` + 1 epochs, once 3 trials finished; at chance before the last epoch, at once),
    Hyperband over the epochs, or none."""
    if name == "median":
        return MedianOrChance(epochs, warmup=warmup)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)
    return optuna.pruners.NopPruner()


def default_study_name(family: str, profile: str, seed: int) -> str:
    """Studies are kept per family, profile and seed, so a budget's trials are never mixed with another's."""
    return f"fashion_mnist-{family}-{profile}-seed{seed}"


def open_study(name: str, storage_url: str, seed: int, pruner: optuna.pruners.BasePruner, family: str, *,
               create: bool = True, heartbeat: int = HEARTBEAT_SECONDS, parallel: bool = False) -> optuna.Study:
    """Create the study (its first trials the starting points, Geron's reference network first), or load it to add
    trials; the sampler's seed moves on with the trials already run. Safe when several workers start at once on a
    fresh database. `parallel`: other workers sample beside this one, so TPE counts their running trials as bad
    ones (Optuna's constant liar) rather than suggest the same region again."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with reporting_errors(storage_url), creation_lock(storage_url):
        storage = open_storage(storage_url, heartbeat, stale_trial_callback=requeue_lost_trial)
        if name not in optuna.get_all_study_names(storage):
            if not create:
                raise InputError(None, f"study {name} does not exist in {masked(storage_url)}; "
                                 "start the search without parent_run_id or refit_only first")
            offset = 0
        else:
            offset = len(optuna.load_study(study_name=name, storage=storage).trials)
        with warnings.catch_warnings():
            # multivariate and group are "experimental" in Optuna 4 and the recommended TPE set-up all the same.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed + offset, multivariate=True, group=True,
                                                 n_startup_trials=STARTUP_TRIALS, constant_liar=parallel)
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                    sampler=sampler, pruner=pruner)
        if create and not study.trials:
            for config in STARTING_POINTS[family]:
                study.enqueue_trial(config)
        return study


def requeue_lost_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, why: str = "stopped beating") -> None:
    """A trial whose worker died (killed, machine lost): its MLflow run ends FAILED, and the same configuration is
    queued again for the next free worker (without the dead worker's name and run, which the retry would copy)."""
    if trial.user_attrs.get("mlflow_run_id"):
        runs.end_lost_run(trial.user_attrs["mlflow_run_id"], f"worker of trial {trial.number} {why}")
    print(f"trial {trial.number} lost its worker: failed, queued again", flush=True)
    lost = copy.deepcopy(trial)
    lost.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in ("worker", "mlflow_run_id")}
    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)(study, lost)


def fail_dead_trials(study: optuna.Study) -> None:
    """Fail, and queue again, the running trials whose workers are dead: those that stopped beating (Optuna's
    heartbeat, any machine), and, at once, those whose worker process on this machine is gone."""
    with warnings.catch_warnings():
        # Marked experimental in Optuna 4 like the heartbeats it reads (see storage.open_storage).
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker", "")
        if not (worker and liveness.gone(worker)):
            continue
        try:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError):
            continue  # it finished, or another process failed it first
        requeue_lost_trial(study, trial, f"is gone ({worker})")


def queued_again(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Lost trials queued again that no worker has taken yet (starting points still queued are not among them)."""
    return [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
            if "failed_trial" in t.system_attrs]


def finished_trials(study: optuna.Study) -> int:
    """Trials that count towards n_trials: complete or pruned."""
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED)))


def settle(study: optuna.Study, objective, heartbeat: int) -> None:
    """Wait until no trial of the study runs anywhere and no machine that joined it is still at work (other
    machines' trials included), so that a refit sees every trial. Dead workers' trials are failed and queued again
    meanwhile (`end_dead`); a lost trial queued again that no worker is left to take runs here."""
    waited = False
    while True:
        end_dead(study)
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        joined = runs.find_runs(f"tags.step = 'search-worker' and tags.study_name = '{study.study_name}' "
                                "and attributes.status = 'RUNNING'")
        if running or joined:
            if not waited:
                print(f"study {study.study_name}: waiting for {len(running)} running trial(s) and "
                      f"{len(joined)} joined machine(s) before the refit", flush=True)
            waited = True
            time.sleep(min(heartbeat, SETTLE_POLL_SECONDS))
            continue
        queued = queued_again(study)
        if not queued:
            return
        study.optimize(objective, n_trials=len(queued), gc_after_trial=True)


def end_dead(study: optuna.Study) -> None:
    """End what dead processes of this study left behind: their trials failed and queued again, their MLflow runs
    (and the runs nested under them) FAILED."""
    fail_dead_trials(study)
    for run_id in runs.end_dead_runs(f"tags.study_name = '{study.study_name}'"):
        print(f"study {study.study_name}: ended run {run_id} FAILED: the process that ran it is dead", flush=True)


def top_trials(study: optuna.Study, k: int = TOP_K) -> list[optuna.trial.FrozenTrial]:
    """The k best finished trials by validation accuracy, ties going to the earlier trial."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return sorted(done, key=lambda t: (-t.value, t.number))[:k]


@dataclass(frozen=True)
class StartingPoint:
    """A point the study started from, by its short name: the finished trial that ran it (None when a resumed study
    never ran it) and that trial's rank among the top trials (None when it is not one of them)."""
    name: str
    trial: optuna.trial.FrozenTrial | None
    rank: int | None


def starting_points(study: optuna.Study, family: str,
                    top: list[optuna.trial.FrozenTrial]) -> list[StartingPoint]:
    """Each of the family's starting points with the trial that ran it: a finished one (complete or pruned) whose
    parameters are the starting point's, one among the `top` trials if any (its refit then serves), else the first."""
    ranks = {trial.number: rank for rank, trial in enumerate(top, start=1)}
    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED))
    points = []
    for name, config in NAMED_STARTING_POINTS[family].items():
        ran = sorted((t for t in finished if t.params == config), key=lambda t: (t.number not in ranks, t.number))
        trial = ran[0] if ran else None
        points.append(StartingPoint(name, trial, ranks.get(trial.number) if trial is not None else None))
    return points


def param_importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's fANOVA importance of each hyperparameter for the objective ({} with too few finished trials)."""
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return {name: float(value)
                for name, value in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


