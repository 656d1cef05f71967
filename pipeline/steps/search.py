"""Entry point `search`: an Optuna study over one family (MLP or CNN) on Fashion-MNIST, every trial a nested MLflow run.

    python -m pipeline.steps.search --family cnn --profile quick [--n-trials N] [--study-name NAME]

Trials train on part of the training split and are judged on the validation split; once no trial of the study runs
anywhere, the top 3 are refit on the training split with early stopping, and only those refits meet the test split,
once. Trials run here, in local worker processes (`--workers N`) or in Ray tasks (`--launcher ray`); other machines
join with `--parent-run-id`; `--refit-only` refits a study that others filled.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import optuna

from pipeline import cli, plots
from pipeline.config import PROFILES, get_profile
from pipeline.datasets.splits import Splits, processed_dir, read_splits
from pipeline.errors import InputError, StepFailed
from pipeline.search import ray_launcher, terms
from pipeline.search.request import SearchRequest
from pipeline.search.space import space_table
from pipeline.search.storage import HEARTBEAT_SECONDS, masked, resolve
from pipeline.search.study import (
    EXPERIMENT,
    PRUNERS,
    StartingPoint,
    default_study_name,
    end_dead,
    finished_trials,
    open_study,
    param_importances,
    settle,
    starting_points,
    top_trials,
)
from pipeline.search.workers import run_workers
from pipeline.tracking import registry, runs

LAUNCHERS = ("local", "ray")


def log_study(study: optuna.Study, family: str) -> None:
    """The trials table and Optuna's plots (history, importances, parallel coordinates, intermediate values)."""
    table = study.trials_dataframe(attrs=("number", "value", "state", "duration", "params", "user_attrs"))
    runs.log_table(table, "trials.csv")
    runs.log_table(space_table(family), "search_space.csv", markdown=True)
    runs.log_json(param_importances(study), "param_importances.json")
    for name, figure in plots.study_figures(study).items():
        runs.log_figure(figure, f"plots/{name}.png")


def search(request: SearchRequest) -> list[dict]:
    """Run the search (in this process, or in worker processes) and, once no trial of the study runs anywhere, the
    refits of its top configurations, inside one parent run; returns top_configs."""
    data = read_splits(request.data_dir)
    started = time.perf_counter()
    family = request.family
    here = join_terms(request, data)
    # The Ray cluster and the storage are checked before the run starts: a wrong one leaves no failed run behind.
    prepare_launcher(request, here)
    study = open_study(request.study_name, request.storage, request.seed, request.study_pruner(), family,
                       create=not request.refit_only, heartbeat=request.heartbeat, parallel=request.in_workers)
    end_dead(study)
    with runs.start_run(EXPERIMENT, run_name=f"search-{family}",
                        tags={"step": "search", "family": family, "study_name": request.study_name,
                              terms.TAG: json.dumps(here), "refit_only": request.refit_only}):
        log_request(request, data)
        states = add_trials(study, request, data, started)
        best_trials = top_trials(study)
        runs.log_metrics({"trials_added": len(states), "trials_total": len(study.trials),
                          "trials_pruned": states.count(optuna.trial.TrialState.PRUNED),
                          "trials_failed": states.count(optuna.trial.TrialState.FAIL),
                          "best_trial_val_accuracy": best_trials[0].value if best_trials else None,
                          "search_seconds": time.perf_counter() - started})
        log_study(study, family)
        entries = refit_top(best_trials, starting_points(study, family, best_trials), request, data, started)
    for e in entries:
        print(f"{family} rank {e['rank']}: trial {e['trial']}  validation {e['val_accuracy']:.4f}  "
              f"test {e['test_accuracy']:.4f}  ({e['epochs']} epochs)")
    return entries


def join_terms(request: SearchRequest, data: Splits) -> dict[str, str]:
    """What a machine joining this search must share with it (`terms`)."""
    return terms.join_terms(request.study_name, request.family, request.pruner_name, request.budget, data.manifest)


def prepare_launcher(request: SearchRequest, here: dict[str, str]) -> None:
    """For Ray workers: attach to the cluster and check that each node can run them, before anything starts."""
    if request.launcher == "ray":
        ray_launcher.connect(request.ray_address)
        ray_launcher.check_nodes(request, here)


def start_workers(request: SearchRequest, parent_run_id: str) -> list[int]:
    """Run the request's workers (local processes or Ray tasks) under `parent_run_id`; returns their exit codes."""
    if request.launcher == "ray":
        return ray_launcher.run_workers(request, parent_run_id, runs.configure())
    return run_workers(request, parent_run_id)


def log_request(request: SearchRequest, data: Splits) -> None:
    """The search's parameters (storage password masked) and the splits it reads, as dataset inputs."""
    runs.log_params({"family": request.family, "profile": request.profile, "study": request.study_name,
                     "optuna_storage": masked(request.storage), "seed": request.seed,
                     "pruner": request.pruner_name, "workers": request.workers, "launcher": request.launcher,
                     "data_dir": str(request.data_dir), "budget": dataclasses.asdict(request.budget)})
    runs.log_splits(data)


def add_trials(study: optuna.Study, request: SearchRequest, data: Splits, started: float) -> list:
    """Add the budget's trials (none when refit_only), here or in worker processes, then wait until no trial of the
    study runs anywhere; returns the states of the trials added meanwhile."""
    from pipeline.search import trials

    # Trials queued and not yet run (a new study's starting points, a lost trial queued again) are added here.
    before = len(study.trials) - len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))
    objective = trials.objective_for(request.family, request.budget, data, request.seed)
    if request.in_workers and not request.refit_only:
        add_trials_in_workers(study, request, objective, started)
    elif not request.refit_only:
        study.optimize(objective, n_trials=request.budget.n_trials, timeout=request.budget.timeout,
                       gc_after_trial=True)
    settle(study, objective, request.heartbeat)
    return [t.state for t in study.trials[before:]]


def add_trials_in_workers(study: optuna.Study, request: SearchRequest, objective, started: float) -> None:
    """Let worker processes add the trials under this run; if any of them failed, wait for their lost trials to be
    failed and run again, and add what is still missing here, within what is left of the budget's time."""
    target = finished_trials(study) + request.budget.n_trials
    family, parent_run_id = request.family, runs.active_run_id()
    print(f"search {family}: {request.workers} {request.launcher} workers join study {request.study_name} under "
          f"parent run {parent_run_id}", flush=True)
    codes = start_workers(request, parent_run_id)
    if not any(codes):
        return
    print(f"search {family}: worker exit codes {codes}; failing their lost trials and adding what is missing here",
          flush=True)
    settle(study, objective, request.heartbeat)
    missing = target - finished_trials(study)
    remaining = request.budget.timeout - (time.perf_counter() - started)
    if missing > 0 and remaining > 0:
        study.optimize(objective, n_trials=missing, timeout=remaining, gc_after_trial=True)


def refit_top(best_trials: list, starting: list[StartingPoint], request: SearchRequest, data: Splits,
              started: float) -> list[dict]:
    """Refit the best trials' configurations, log them as top_configs, and log the one that validates best as the
    search's model (the test split only reports on it), then what it gained over the starting points; returns
    top_configs."""
    from pipeline.search import trials

    names = {point.rank: point.name for point in starting if point.rank is not None}
    refits = [trials.refit(request.family, trial, rank, request.budget, data, request.seed,
                           starting_point=names.get(rank, ""))
              for rank, trial in enumerate(best_trials, start=1)]
    entries = [entry for entry, _ in refits]
    runs.log_json(entries, "top_configs.json")
    if not refits:
        print(f"{request.family}: no trial of study {request.study_name} finished (all pruned or failed): "
              "nothing to refit")
        return entries
    best, best_model = max(refits, key=lambda pair: pair[0]["val_accuracy"])
    runs.log_metrics({"best_val_accuracy": best["val_accuracy"], "best_test_accuracy": best["test_accuracy"]})
    runs.set_tags({"best_refit_run_id": best["refit_run_id"], "best_trial": best["trial"]})
    registry.log_keras_model(best_model, "model", data.test.x[:4])
    repeat_selected(best_trials[best["rank"] - 1], best, request, data)
    compare_with_starting_points(starting, entries, best, request, data)
    runs.log_metrics({"total_seconds": time.perf_counter() - started})
    return entries


def compare_with_starting_points(starting: list[StartingPoint], top: list[dict], selected: dict,
                                 request: SearchRequest, data: Splits) -> None:
    """Log each starting point's accuracies refit under the selected configuration's budget, data and seed, and the
    search's gain over it in test accuracy. A starting point among the top trials reuses that refit; one a resumed
    study never ran is skipped. The refits made here are no entries of top_configs."""
    from pipeline.search import trials

    family, metrics = request.family, {}
    for point in starting:
        if point.trial is None:
            print(f"{family}: study {request.study_name} has no finished trial of the starting point {point.name}: "
                  f"no refit of it, no search gain over it")
            continue
        if point.rank is not None:
            entry = next(e for e in top if e["rank"] == point.rank)
        else:
            entry, _ = trials.refit(family, point.trial, None, request.budget, data, request.seed,
                                    starting_point=point.name)
        gain = selected["test_accuracy"] - entry["test_accuracy"]
        metrics.update({f"starting_point.{point.name}.val_accuracy": entry["val_accuracy"],
                        f"starting_point.{point.name}.test_accuracy": entry["test_accuracy"],
                        f"search_gain.{point.name}": gain})
        print(f"{family} search gain over the {point.name} (trial {point.trial.number}): test "
              f"{selected['test_accuracy']:.4f} against {entry['test_accuracy']:.4f} ({gain:+.4f})")
    runs.log_metrics(metrics)


def repeat_selected(trial, selected: dict, request: SearchRequest, data: Splits) -> None:
    """Refit the selected configuration `repeats - 1` more times, seed after seed, and log each seed's test
    accuracy with their mean and standard deviation: how sure the headline is. Nothing is chosen among them."""
    from pipeline.search import trials

    seeds = [request.seed + repeat for repeat in range(request.budget.repeats)]
    results = [selected] + [trials.refit(request.family, trial, selected["rank"], request.budget, data, seed,
                                         repeat=repeat)[0]
                            for repeat, seed in enumerate(seeds[1:], start=1)]
    test = np.array([entry["test_accuracy"] for entry in results])
    runs.log_metrics({**{f"selected_test_accuracy_seed_{seed}": value for seed, value in zip(seeds, test)},
                      "selected_test_accuracy_mean": float(test.mean()),
                      "selected_test_accuracy_sd": float(test.std(ddof=1)) if len(test) > 1 else 0.0,
                      "selected_val_accuracy_mean": float(np.mean([entry["val_accuracy"] for entry in results])),
                      "repeats": len(test)})


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
    p.add_argument("--repeats", type=cli.optional(int), default=None,
                   help="refits of the selected configuration, one seed each, for the mean and sd of its test "
                        "accuracy (default: the profile's)")
    p.add_argument("--storage", default="", help="Optuna storage: a URL without password, env:NAME or file:PATH "
                                                 "holding the URL (default: $PIPELINE_OPTUNA_STORAGE, then "
                                                 "sqlite:///data/optuna.db)")
    p.add_argument("--workers", type=cli.whole, default=1,
                   help="worker processes (default 1: with the local launcher, trials run in this process)")
    p.add_argument("--launcher", default="local", choices=LAUNCHERS,
                   help="where workers run: local processes on this machine, or ray tasks on the cluster at "
                        "--ray-address (pip install '.[ray]')")
    p.add_argument("--ray-address", default="", help="the Ray cluster's address, HOST:PORT or ray://HOST:PORT")
    p.add_argument("--worker-cpus", type=float, default=1.0, help="CPUs each Ray worker task asks for")
    p.add_argument("--worker-gpus", type=float, default=0.0, help="GPUs each Ray worker task asks for")
    p.add_argument("--refit-only", type=cli.boolean, default=False,
                   help="add no trials: wait until no trial of the study runs, then refit its top configurations")
    p.add_argument("--parent-run-id", default="", help="join the running search with this parent run (another "
                                                       "machine started it): add trials only, no refits")
    p.add_argument("--heartbeat", type=cli.whole, default=HEARTBEAT_SECONDS,
                   help="seconds between a worker's heartbeats; a trial silent for three is failed and re-queued")
    p.add_argument("--study-name", default="", help="default: fashion_mnist-<family>-<profile>-seed<seed>")
    p.add_argument("--pruner", default="median", choices=PRUNERS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="", help="processed Fashion-MNIST folder (default: data/processed/"
                   "fashion_mnist/seed<seed>, made by the preprocess step)")
    return p


def request_from(args) -> SearchRequest:
    """A SearchRequest from parsed arguments, the profile filling what was not given."""
    overrides = {"n_trials": args.n_trials, "timeout": args.timeout, "epochs": args.epochs,
                 "train_fraction": args.train_fraction, "repeats": args.repeats}
    budget = dataclasses.replace(get_profile(args.profile).search[args.family],
                                 **{k: v for k, v in overrides.items() if v is not None})
    storage = resolve(args.storage)
    check_workers(args)
    if budget.repeats < 1:
        raise InputError(None, f"repeats must be at least 1, got {budget.repeats}")
    return SearchRequest(
        family=args.family, budget=budget, storage=storage,
        study_name=args.study_name or default_study_name(args.family, args.profile, args.seed),
        data_dir=Path(args.data) if args.data else processed_dir("fashion_mnist", f"seed{args.seed}"),
        profile=args.profile, seed=args.seed, pruner=args.pruner, workers=args.workers, heartbeat=args.heartbeat,
        parent_run_id=args.parent_run_id, launcher=args.launcher, ray_address=args.ray_address,
        worker_cpus=args.worker_cpus, worker_gpus=args.worker_gpus, refit_only=args.refit_only)


def check_workers(args) -> None:
    """Refuse worker settings that cannot work, in one line."""
    if args.workers < 1:
        raise InputError(None, f"workers must be at least 1, got {args.workers}")
    if args.launcher == "ray":
        if not args.ray_address:
            raise InputError(None, "launcher ray needs ray_address, the cluster's HOST:PORT")
        ray_launcher.host_and_port(args.ray_address)
        if args.worker_cpus < 0 or args.worker_gpus < 0 or args.worker_cpus + args.worker_gpus == 0:
            raise InputError(None, "a Ray worker asks for some CPUs or GPUs: worker_cpus and worker_gpus are at "
                             f"least 0 and not both 0, got {args.worker_cpus} and {args.worker_gpus}")
    if args.refit_only and args.parent_run_id:
        raise InputError(None, "refit_only starts its own parent run: leave parent_run_id empty")


def run(args) -> list[dict]:
    request = request_from(args)
    return join(request) if request.parent_run_id else search(request)


def join(request: SearchRequest) -> list[dict]:
    """Another machine's share of a running search: worker processes add trials under its parent run, once this
    machine's study, family, pruner, trial budget, data and code are found to be the parent's. This machine's own
    run (a `search-worker` run under the same parent) records what it contributed."""
    data = read_splits(request.data_dir)  # bad data stops here, before any worker starts
    study = open_study(request.study_name, request.storage, request.seed, request.study_pruner(), request.family,
                       create=False, heartbeat=request.heartbeat, parallel=True)
    here = join_terms(request, data)
    terms.check(here, request.parent_run_id)
    prepare_launcher(request, here)
    end_dead(study)
    with runs.start_run(EXPERIMENT, run_name=f"search-{request.family}-workers",
                        tags={"step": "search-worker", "family": request.family, "study_name": request.study_name,
                              "mlflow.parentRunId": request.parent_run_id}):
        runs.log_params({"family": request.family, "study": request.study_name, "workers": request.workers,
                         "launcher": request.launcher, "optuna_storage": masked(request.storage),
                         "n_trials": request.budget.n_trials})
        codes = start_workers(request, request.parent_run_id)
        runs.set_tags({"worker_exit_codes": codes})
    if any(codes):
        raise StepFailed(f"worker exit codes {codes}: their lost trials are re-queued for the other workers")
    return []


def main(argv=None) -> None:
    cli.main_with(build_parser, run, argv)


if __name__ == "__main__":
    main()
