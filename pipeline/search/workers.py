"""Worker processes of a search: each joins the study and the search's parent MLflow run, and adds trials.

`search --workers N` starts N of them on this machine, each pinned to its share of the cores; `--launcher ray`
starts them as Ray tasks instead (`ray_launcher`); on other machines `search --parent-run-id ID` (the id the first
machine printed) starts more against the same storage. A worker reads the storage URL from
$PIPELINE_OPTUNA_STORAGE, never from its command line, where `ps` would show it, and checks its budget, data and
code against the parent run's before TensorFlow loads.

    python -m pipeline.search.workers --family mlp --study-name S --parent-run-id ID --budget '{...}' --data DIR \\
        --cores 0,1
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import cli
from pipeline.search.storage import HEARTBEAT_SECONDS, STORAGE_VARIABLE

if TYPE_CHECKING:
    from pipeline.search.request import SearchRequest

# Workers sample with different seeds, or their random start-up trials would repeat each other's.
SEED_STRIDE = 7919


def core_shares(workers: int) -> list[list[int]]:
    """The cores this process may use, dealt out to `workers` (round robin; shared when there are fewer cores)."""
    cores = sorted(os.sched_getaffinity(0))
    return [cores[i::workers] or [cores[i % len(cores)]] for i in range(workers)]


def trial_shares(n_trials: int, workers: int) -> list[int]:
    """`n_trials` split as evenly as possible over `workers`."""
    return [n_trials // workers + (i < n_trials % workers) for i in range(workers)]


def worker_arguments(request: SearchRequest, parent_run_id: str, index: int, share: int, cores: list[int],
                     threads: int) -> list[str]:
    """The command-line arguments of worker `index`, adding `share` trials on `cores` (none: the cores it is given)
    with `threads` TensorFlow threads."""
    worker_budget = dataclasses.replace(request.budget, n_trials=share)
    return ["--family", request.family, "--study-name", request.study_name, "--parent-run-id", parent_run_id,
            "--budget", json.dumps(dataclasses.asdict(worker_budget)),
            "--seed", str(request.seed + SEED_STRIDE * (index + 1)), "--data", str(Path(request.data_dir).resolve()),
            "--cores", ",".join(map(str, cores)), "--threads", str(threads), "--heartbeat", str(request.heartbeat),
            "--pruner", request.pruner_name, "--name", f"worker-{index}"]


def run_workers(request: SearchRequest, parent_run_id: str) -> list[int]:
    """Start `request.workers` worker processes on this machine sharing the budget's trials under `parent_run_id`
    and wait for them; returns their exit codes. Stopping this process (Ctrl-C, SIGTERM) stops them too."""
    env = {**os.environ, STORAGE_VARIABLE: request.storage}
    env.pop("MLFLOW_RUN_ID", None)
    processes = []
    shares = zip(trial_shares(request.budget.n_trials, request.workers), core_shares(request.workers))
    for index, (share, cores) in enumerate(shares):
        if share == 0:
            continue
        arguments = worker_arguments(request, parent_run_id, index, share, cores, len(cores))
        processes.append(subprocess.Popen([sys.executable, "-m", "pipeline.search.workers", *arguments], env=env))
    try:
        return [process.wait() for process in processes]
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
        raise


def pin(cores: list[int], threads: int) -> None:
    """Keep this process to `cores` (all it may use when none are named) and TensorFlow to `threads` threads; call
    before TensorFlow runs anything."""
    import tensorflow as tf

    if cores:
        os.sched_setaffinity(0, cores)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the process that started it dies (a Ray worker killed, a node
    removed): its trial then stops beating and is queued again, instead of an orphan adding trials nobody counts."""
    if sys.platform == "linux":
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the kernel was asked to watch it


def work(args) -> None:
    """Check this worker against the parent run, then join the study and add this worker's trials, each a run
    under the search's parent run."""
    if args.parent_pid:
        die_with_parent(args.parent_pid)
    from pipeline.config import SearchBudget
    from pipeline.datasets.splits import read_splits
    from pipeline.search import terms
    from pipeline.search.storage import resolve
    from pipeline.search.study import make_pruner, open_study

    budget = SearchBudget(**json.loads(args.budget))
    data = read_splits(Path(args.data))
    terms.check(terms.join_terms(args.study_name, args.family, args.pruner, budget, data.manifest),
                args.parent_run_id)
    # The study is opened before TensorFlow loads: a TLS connection to PostgreSQL made by psycopg after
    # TensorFlow has loaded aborts the process (free(): invalid pointer), one made before it does not.
    url = resolve("")
    pruner = make_pruner(args.pruner, budget.epochs, budget.prune_warmup)
    study = open_study(args.study_name, url, args.seed, pruner, args.family, create=False,
                       heartbeat=args.heartbeat, parallel=True)
    cores = [int(c) for c in args.cores.split(",") if c]
    pin(cores, args.threads or len(cores) or len(os.sched_getaffinity(0)))
    from pipeline.search import trials

    objective = trials.objective_for(args.family, budget, data, args.seed, parent_run_id=args.parent_run_id,
                                     tags={"ray_node": args.ray_node} if args.ray_node else None)
    print(f"{args.name}: pid {os.getpid()} on cores {args.cores or 'any'}, {budget.n_trials} trials", flush=True)
    study.optimize(objective, n_trials=budget.n_trials, timeout=budget.timeout, gc_after_trial=True)


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--family", required=True, choices=("mlp", "cnn"))
    p.add_argument("--study-name", required=True)
    p.add_argument("--parent-run-id", required=True)
    p.add_argument("--budget", required=True, help="the SearchBudget as JSON")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", required=True)
    p.add_argument("--cores", default="", help="comma-separated core numbers (default: those it may use)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow threads (default: one per core)")
    p.add_argument("--parent-pid", type=int, default=0, help="die with this process (a Ray task's worker)")
    p.add_argument("--ray-node", default="", help="the Ray node it runs on, tagged on its trial runs")
    p.add_argument("--heartbeat", type=int, default=HEARTBEAT_SECONDS)
    p.add_argument("--pruner", default="median")
    p.add_argument("--name", default="worker")
    return p


def main(argv=None) -> None:
    cli.main_with(build_parser, work, argv)


if __name__ == "__main__":
    main()
