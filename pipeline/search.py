"""Entry point `search`: an Optuna study over one family (MLP or CNN) on Fashion-MNIST, every trial a nested MLflow run.

    python -m pipeline.search --family cnn --profile quick [--n-trials N] [--study-name NAME]

Trials train on part of the training split and are judged on the validation split; the top 3 are then refit on
the training split with early stopping, and only those refits meet the test split, once.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path

import optuna

from pipeline import cli, plots, search_workers, settings, study_storage, tracking
from pipeline.datasets.splits import processed_dir, read_splits
from pipeline.errors import InputError, StepFailed
from pipeline.profiles import PROFILES, SearchBudget, get_profile
from pipeline.search_space import STARTING_POINTS, space_table

EXPERIMENT = settings.SEARCH_EXPERIMENT
TOP_K = 3
PRUNERS = ("median", "hyperband", "none")
# Random trials before TPE models the space: budgets here allow a few dozen trials, not hundreds.
STARTUP_TRIALS = 6


# Validation accuracy at or below which a trial is learning nothing (a zeros initializer, sigmoid layers under a
# tiny learning rate, a diverged optimizer): twice chance on ten classes. The median rule spares its start-up
# trials, and in the full CNN study such a network (0.09 after 3 epochs) took 226 s of the first hour.
CHANCE_FLOOR = 0.2


class MedianOrChance(optuna.pruners.BasePruner):
    """The median rule, and any trial still at chance after an epoch that is not its last, start-up trials
    included. After the last epoch there is nothing left to save: the trial completes with what it reached
    (a one-epoch smoke trial on 64 images is near chance and still a result)."""

    def __init__(self, epochs: int, floor: float = CHANCE_FLOOR, warmup: int = 0):
        self.last_step, self.floor = epochs - 1, floor
        self.median = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warmup)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is not None and step < self.last_step and trial.intermediate_values[step] <= self.floor:
            return True
        return self.median.prune(study, trial)


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
               create: bool = True, heartbeat: int = study_storage.HEARTBEAT_SECONDS) -> optuna.Study:
    """Create the study (its first trials the starting points, Geron's reference network first), or load it to add
    trials; the sampler's seed moves on with the trials already run. Safe when several workers start at once on a
    fresh database."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with study_storage.reporting_errors(storage_url), study_storage.creation_lock(storage_url):
        storage = study_storage.open_storage(storage_url, heartbeat, stale_trial_callback=requeue_lost_trial)
        if name not in optuna.get_all_study_names(storage):
            if not create:
                raise InputError(None, f"study {name} does not exist in {study_storage.masked(storage_url)}; "
                                 "start the search without parent_run_id first")
            offset = 0
        else:
            offset = len(optuna.load_study(study_name=name, storage=storage).trials)
        with warnings.catch_warnings():
            # multivariate and group are "experimental" in Optuna 4 and the recommended TPE set-up all the same.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed + offset, multivariate=True, group=True,
                                                 n_startup_trials=STARTUP_TRIALS)
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                    sampler=sampler, pruner=pruner)
        if create and not study.trials:
            for config in STARTING_POINTS[family]:
                study.enqueue_trial(config)
        return study


def requeue_lost_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """A trial whose worker stopped beating (killed, machine lost): its MLflow run ends FAILED, and the same
    configuration is queued again for the next free worker."""
    if trial.user_attrs.get("mlflow_run_id"):
        tracking.end_lost_run(trial.user_attrs["mlflow_run_id"], f"worker of trial {trial.number} stopped beating")
    print(f"trial {trial.number} lost its worker: failed, queued again", flush=True)
    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)(study, trial)


def finished_trials(study: optuna.Study) -> int:
    """Trials that count towards n_trials: complete or pruned."""
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED)))


def fail_lost_trials(study: optuna.Study, heartbeat: int) -> None:
    """Wait until trials left running by a killed worker miss their heartbeats, then fail and re-queue them."""
    deadline = time.monotonic() + 4 * heartbeat + 5
    while time.monotonic() < deadline and study.get_trials(deepcopy=False,
                                                           states=(optuna.trial.TrialState.RUNNING,)):
        time.sleep(heartbeat)
        optuna.storages.fail_stale_trials(study)


def top_trials(study: optuna.Study, k: int = TOP_K) -> list[optuna.trial.FrozenTrial]:
    """The k best finished trials by validation accuracy, ties going to the earlier trial."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return sorted(done, key=lambda t: (-t.value, t.number))[:k]


def param_importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's fANOVA importance of each hyperparameter for the objective ({} with too few finished trials)."""
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return {name: float(value)
                for name, value in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def log_study(study: optuna.Study, family: str) -> None:
    """The trials table and Optuna's plots (history, importances, parallel coordinates, intermediate values)."""
    table = study.trials_dataframe(attrs=("number", "value", "state", "duration", "params", "user_attrs"))
    tracking.log_table(table, "trials.csv")
    tracking.log_table(space_table(family), "search_space.csv", markdown=True)
    tracking.log_json(param_importances(study), "param_importances.json")
    for name, figure in plots.study_figures(study).items():
        tracking.log_figure(figure, f"plots/{name}.png")


def search(family: str, budget: SearchBudget, *, profile: str, storage: str, study_name: str, seed: int,
           data_dir: Path, pruner: str | optuna.pruners.BasePruner = "median", workers: int = 1,
           heartbeat: int = study_storage.HEARTBEAT_SECONDS) -> list[dict]:
    """Run the search (in this process, or in `workers` worker processes) and the refits of its top
    configurations, inside one parent run; returns top_configs."""
    data = read_splits(data_dir)
    started = time.perf_counter()
    pruner_name = pruner if isinstance(pruner, str) else type(pruner).__name__
    if isinstance(pruner, str):
        pruner = make_pruner(pruner, budget.epochs, budget.prune_warmup)
    # Opened before the run starts: a storage that cannot be reached leaves no failed run behind.
    study = open_study(study_name, storage, seed, pruner, family, heartbeat=heartbeat)
    with tracking.start_run(EXPERIMENT, run_name=f"search-{family}",
                            tags={"step": "search", "family": family, "study_name": study_name}):
        from pipeline import trials  # TensorFlow loads only now that the storage and the tracking server answered
        tracking.log_params({"family": family, "profile": profile, "study": study_name,
                             "optuna_storage": study_storage.masked(storage), "seed": seed, "pruner": pruner_name,
                             "workers": workers, "data_dir": str(data_dir), "budget": dataclasses.asdict(budget)})
        # Trials queued and not yet run (a new study's starting points, a lost trial queued again) are added here.
        before = len(study.trials) - len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))
        target = finished_trials(study) + budget.n_trials
        if workers > 1:
            print(f"search {family}: {workers} workers join study {study_name} under parent run "
                  f"{tracking.active_run_id()}", flush=True)
            codes = search_workers.run_workers(family, budget, storage_url=storage, study_name=study_name,
                                               seed=seed, parent_run_id=tracking.active_run_id(),
                                               data_dir=data_dir, workers=workers, heartbeat=heartbeat,
                                               pruner=pruner_name)
            if any(codes):
                print(f"search {family}: worker exit codes {codes}; failing their lost trials and adding what "
                      "is missing here", flush=True)
                fail_lost_trials(study, heartbeat)
                missing = target - finished_trials(study)
                remaining = budget.timeout - (time.perf_counter() - started)
                if missing > 0 and remaining > 0:
                    study.optimize(trials.objective_for(family, budget, data, seed), n_trials=missing, timeout=remaining,
                                   gc_after_trial=True)
        else:
            study.optimize(trials.objective_for(family, budget, data, seed), n_trials=budget.n_trials,
                           timeout=budget.timeout, gc_after_trial=True)
        states = [t.state for t in study.trials[before:]]
        best_trials = top_trials(study)
        tracking.log_metrics({"trials_added": len(states), "trials_total": len(study.trials),
                              "trials_pruned": states.count(optuna.trial.TrialState.PRUNED),
                              "trials_failed": states.count(optuna.trial.TrialState.FAIL),
                              "best_trial_val_accuracy": best_trials[0].value if best_trials else None,
                              "search_seconds": time.perf_counter() - started})
        log_study(study, family)
        refits = [trials.refit(family, trial, rank, budget, data, seed)
                  for rank, trial in enumerate(best_trials, start=1)]
        entries = [entry for entry, _ in refits]
        tracking.log_json(entries, "top_configs.json")
        if refits:
            # The study's model is the refit that validates best; the test split only reports on it.
            best, best_model = max(refits, key=lambda pair: pair[0]["val_accuracy"])
            tracking.log_metrics({"best_val_accuracy": best["val_accuracy"],
                                  "best_test_accuracy": best["test_accuracy"],
                                  "total_seconds": time.perf_counter() - started})
            tracking.set_tags({"best_refit_run_id": best["refit_run_id"], "best_trial": best["trial"]})
            tracking.log_keras_model(best_model, "model", data.test.x[:4])
        else:
            print(f"{family}: no trial of study {study_name} finished (all pruned or failed): nothing to refit")
    for e in entries:
        print(f"{family} rank {e['rank']}: trial {e['trial']}  validation {e['val_accuracy']:.4f}  "
              f"test {e['test_accuracy']:.4f}  ({e['epochs']} epochs)")
    return entries


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--family", required=True, choices=("mlp", "cnn"))
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--n-trials", type=cli.optional(int), default=None, help="trials to add (default: the profile's)")
    p.add_argument("--timeout", type=cli.optional(int), default=None,
                   help="seconds for adding trials (default: the profile's)")
    p.add_argument("--epochs", type=cli.optional(int), default=None, help="epochs per trial (default: the profile's)")
    p.add_argument("--train-fraction", type=cli.optional(float), default=None,
                   help="share of training images per trial (default: the profile's)")
    p.add_argument("--storage", default="", help="Optuna storage: a URL without password, env:NAME or file:PATH "
                                                 "holding the URL (default: $PIPELINE_OPTUNA_STORAGE, then "
                                                 "sqlite:///data/optuna.db)")
    p.add_argument("--workers", type=cli.whole, default=1,
                   help="worker processes on this machine (default 1: trials run in this process)")
    p.add_argument("--parent-run-id", default="", help="join the running search with this parent run (another "
                                                       "machine started it): add trials only, no refits")
    p.add_argument("--heartbeat", type=cli.whole, default=study_storage.HEARTBEAT_SECONDS,
                   help="seconds between a worker's heartbeats; a trial silent for three is failed and re-queued")
    p.add_argument("--study-name", default="", help="default: fashion_mnist-<family>-<profile>-seed<seed>")
    p.add_argument("--pruner", default="median", choices=PRUNERS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="", help="processed Fashion-MNIST folder (default: data/processed/"
                                               "fashion_mnist/seed<seed>, made by the preprocess step)")
    return p


def run(args) -> list[dict]:
    profile = get_profile(args.profile)
    overrides = {"n_trials": args.n_trials, "timeout": args.timeout, "epochs": args.epochs,
                 "train_fraction": args.train_fraction}
    budget = dataclasses.replace(profile.search[args.family],
                                 **{k: v for k, v in overrides.items() if v is not None})
    storage = study_storage.resolve(args.storage)
    study_name = args.study_name or default_study_name(args.family, args.profile, args.seed)
    data_dir = Path(args.data) if args.data else processed_dir("fashion_mnist", f"seed{args.seed}")
    if args.workers < 1:
        raise InputError(None, f"workers must be at least 1, got {args.workers}")
    if args.parent_run_id:
        return join(args.family, budget, storage=storage, study_name=study_name, seed=args.seed, data_dir=data_dir,
                    parent_run_id=args.parent_run_id, workers=args.workers, heartbeat=args.heartbeat,
                    pruner=args.pruner)
    return search(args.family, budget, profile=args.profile, storage=storage, study_name=study_name,
                  seed=args.seed, pruner=args.pruner, data_dir=data_dir, workers=args.workers,
                  heartbeat=args.heartbeat)


def join(family: str, budget: SearchBudget, *, storage: str, study_name: str, seed: int, data_dir: Path,
         parent_run_id: str, workers: int, heartbeat: int, pruner: str) -> list[dict]:
    """Another machine's share of a running search: worker processes add trials under its parent run. This
    machine's own run (a `search-worker` run under the same parent) records what it contributed."""
    read_splits(data_dir)  # bad data stops here, before any worker starts
    open_study(study_name, storage, seed, make_pruner(pruner, budget.epochs, budget.prune_warmup), family,
               create=False, heartbeat=heartbeat)
    with tracking.start_run(EXPERIMENT, run_name=f"search-{family}-workers",
                            tags={"step": "search-worker", "family": family, "study_name": study_name,
                                  "mlflow.parentRunId": parent_run_id}):
        tracking.log_params({"family": family, "study": study_name, "workers": workers,
                             "optuna_storage": study_storage.masked(storage), "n_trials": budget.n_trials})
        codes = search_workers.run_workers(family, budget, storage_url=storage, study_name=study_name, seed=seed,
                                           parent_run_id=parent_run_id, data_dir=data_dir, workers=workers,
                                           heartbeat=heartbeat, pruner=pruner)
        tracking.set_tags({"worker_exit_codes": codes})
    if any(codes):
        raise StepFailed(f"worker exit codes {codes}: their lost trials are re-queued for the other workers")
    return []


def main(argv=None) -> None:
    cli.main_with(build_parser, run, argv)


if __name__ == "__main__":
    main()
