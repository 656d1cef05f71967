"""Search workers as Ray tasks: `search --launcher ray --ray-address HOST:PORT --workers N` runs the N workers of
`workers` on a Ray cluster, each a task with its CPU (and GPU) request, against the same Optuna storage and tracking
server as the local pool.

Ray is an optional extra (`pip install .[ray]`). Each task starts `python -m pipeline.search.workers` as a child
process that dies with it: the worker keeps its own TensorFlow, thread settings and heartbeats, exits when its trials
are done (freeing its memory), and, when Ray kills it or its node is removed, stops beating, so its trial is failed
and queued again like any lost worker's. Before any worker starts, every node is asked whether it can run one: the
project and its dependencies installed, the same code and the same data as this machine.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import InputError

if TYPE_CHECKING:
    from pipeline.search.request import SearchRequest

CONNECT_TIMEOUT_SECONDS = 5
PROBE_TIMEOUT_SECONDS = 120
# What a worker imports (by module name) besides the project.
REQUIRED = ("tensorflow", "keras", "optuna", "optuna_integration", "mlflow", "numpy", "pandas", "sqlalchemy")
# What a worker needs of this process's environment: where the runs go, the credentials, where data lives.
PASSED_ON = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "PGPASSFILE",
             "PIPELINE_DATA_DIR", "TF_CPP_MIN_LOG_LEVEL")


def host_and_port(address: str) -> tuple[str, int]:
    """The host and port of a Ray address (HOST:PORT, or ray://HOST:PORT for Ray Client)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InputError(None, f"ray_address {address!r}: expected HOST:PORT (the head's GCS address) or "
                               "ray://HOST:PORT")
    return host, int(port)


def connect(address: str) -> None:
    """Attach this process to the Ray cluster at `address`. No Ray installed, or an address where nothing answers,
    is one InputError within seconds (Ray itself retries an unreachable cluster for minutes)."""
    if importlib.util.find_spec("ray") is None:
        raise InputError(None, "launcher ray: Ray is not installed here (pip install '.[ray]')")
    host, port = host_and_port(address)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        raise InputError(None, f"Ray cluster {address} does not answer: {exc}") from None
    import logging

    import ray

    # Ray's own log lines (a raylet's complaints, every worker's output) stay in the cluster's log files: this
    # process prints each worker's output when its task ends (run_worker), and bad input stays one line.
    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)


def node_terms(study: str, family: str, pruner: str, budget_json: str, data_dir: str) -> dict[str, str]:
    """Run on a Ray node: that node's join terms for the search (see `terms`), or {"missing": ...} naming what it
    lacks. It reads only the data's manifest and loads no TensorFlow, so asking costs a node a second or two."""
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        return {"missing": ", ".join(missing)}
    from pipeline.config import SearchBudget
    from pipeline.search import terms

    try:
        manifest = json.loads((Path(data_dir) / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        return {"missing": f"the processed data {data_dir} ({exc})"}
    return terms.join_terms(study, family, pruner, SearchBudget(**json.loads(budget_json)), manifest)


def check_nodes(request: SearchRequest, here: dict[str, str]) -> None:
    """Ask every alive node of the cluster for its join terms; a node that lacks the project, a dependency or the
    data, or has other code or data, is one InputError naming it and the difference. Nothing is started."""
    import dataclasses

    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from pipeline.search import terms

    probe = ray.remote(num_cpus=0, max_retries=0)(node_terms)
    arguments = (request.study_name, request.family, request.pruner_name,
                 json.dumps(dataclasses.asdict(request.budget)), str(Path(request.data_dir).resolve()))
    asked = {f"{node['NodeManagerAddress']} ({node['NodeID'][:8]})": probe.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(*arguments)
        for node in ray.nodes() if node["Alive"]}
    for node, answer in asked.items():
        try:
            there = ray.get(answer, timeout=PROBE_TIMEOUT_SECONDS)
        except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError) as exc:
            raise InputError(None, f"Ray node {node} cannot run the search's workers: {last_line(exc)}") from None
        if "missing" in there:
            raise InputError(None, f"Ray node {node} lacks {there['missing']}")
        found = terms.differences(here, there, "on the node")
        if found:
            raise InputError(None, f"Ray node {node} differs from this machine: " + "; ".join(found))


def last_line(error: BaseException) -> str:
    """The last line of an error Ray reports (its traceback's conclusion)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def run_worker(arguments: list[str], env: dict[str, str]) -> tuple[int, str]:
    """One Ray task: a search worker as a child process of this Ray worker, told to die with it and which node it
    runs on; its exit code and its output."""
    import ray

    environment = {**os.environ, **env}
    environment.pop("MLFLOW_RUN_ID", None)
    command = [sys.executable, "-m", "pipeline.search.workers", *arguments, "--parent-pid", str(os.getpid()),
               "--ray-node", ray.get_runtime_context().get_node_id()]
    done = subprocess.run(command, env=environment, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    return done.returncode, done.stdout


def run_workers(request: SearchRequest, parent_run_id: str, tracking_uri: str) -> list[int]:
    """Run `request.workers` workers as Ray tasks (`worker_cpus` CPUs and `worker_gpus` GPUs each) sharing the
    budget's trials under `parent_run_id`, and wait for them; returns their exit codes (-1 for a task Ray lost:
    its worker killed, its node removed). Stopping this process cancels the tasks, which kills their workers."""
    import ray

    from pipeline.search.storage import STORAGE_VARIABLE
    from pipeline.search.workers import trial_shares, worker_arguments

    env = {key: os.environ[key] for key in PASSED_ON if key in os.environ}
    env |= {STORAGE_VARIABLE: request.storage, "MLFLOW_TRACKING_URI": tracking_uri}
    task = ray.remote(run_worker).options(num_cpus=request.worker_cpus, num_gpus=request.worker_gpus,
                                          max_retries=0)
    threads = max(1, math.ceil(request.worker_cpus))
    tasks = [task.remote(worker_arguments(request, parent_run_id, index, share, [], threads), env)
             for index, share in enumerate(trial_shares(request.budget.n_trials, request.workers)) if share]
    try:
        return [exit_code(task) for task in tasks]
    except KeyboardInterrupt:
        for running in tasks:
            ray.cancel(running, force=True)
        raise


def exit_code(task) -> int:
    """A worker task's exit code, its output printed, or -1 (said in one line) when Ray lost the task."""
    import ray

    try:
        code, output = ray.get(task)
        print(output, end="", flush=True)
        return code
    except ray.exceptions.RayError as exc:
        print(f"a Ray worker task was lost: {last_line(exc)}", flush=True)
        return -1
