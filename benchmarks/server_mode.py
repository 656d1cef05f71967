"""The `smoke` study against a tracking server on PostgreSQL (basic auth, Optuna on the same PostgreSQL) and against
the embedded default store: the same runs, parameters, metrics and artifacts?

    python benchmarks/server_mode.py [--fashion-mnist-dir DIR] [--cifar10-path PATH]

Runs `mlflow run . -P profile=smoke` twice, as a user would, with only the environment changed: once with
`eval "$(scripts/services.sh env)"`'s variables plus the server's credentials, once with a fresh SQLite store.
Each run is reduced to what should not depend on the store (its name, step tag, parameter names, metric names
and artifact paths; not values, times or ids); prints one JSON line with the counts and any differences.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUN_PREFIX = re.compile(r"(?<=report_files/)[0-9a-f]{8}_")


def study(env: dict[str, str], report: Path) -> float:
    """`mlflow run . -P profile=smoke` in `env`; returns its wall seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mlflow", "run", str(ROOT), "--env-manager", "local",
                           "--experiment-name", "study", "--run-name", "study-smoke", "-P", "profile=smoke",
                           "-P", f"report={report}"],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: the smoke study failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def artifact_paths(client, run_id: str, path: str | None = None) -> list[str]:
    paths = []
    for item in client.list_artifacts(run_id, path):
        paths += artifact_paths(client, run_id, item.path) if item.is_dir else [item.path]
    return paths


def shapes(tracking_uri: str) -> collections.Counter:
    """Every run of the store as (experiment, run name, step, parameter names, metric names, artifact paths).
    The report's figures are named after the runs they come from (`report_files/<run id prefix>_<name>.png`):
    the prefix is masked."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    found = collections.Counter()
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=5000):
            found[(experiment.name, run.info.run_name, run.data.tags.get("step", ""), run.info.status,
                   tuple(sorted(run.data.params)), tuple(sorted(run.data.metrics)),
                   tuple(sorted(RUN_PREFIX.sub("<run>_", path)
                                for path in artifact_paths(client, run.info.run_id))))] += 1
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fashion-mnist-dir", default=os.environ.get("FASHION_MNIST_DIR", ""))
    p.add_argument("--cifar10-path", default=os.environ.get("CIFAR10_PATH", ""))
    args = p.parse_args()

    from benchmarks.local_services import SCRIPT, local_services

    data = {"FASHION_MNIST_DIR": args.fashion_mnist_dir, "CIFAR10_PATH": args.cifar10_path}
    with local_services() as services:
        exported = subprocess.run([str(SCRIPT), "env"], env=services.script_env, capture_output=True, text=True,
                                  check=True).stdout
        # What `eval "$(scripts/services.sh env)"` exports (PGPASSFILE, the storage URL without password, the
        # tracking URI), plus the server's credentials.
        server_env = {k: v for k, v in services.env().items() if k != "OPTUNA_URL"}
        server_env.update({**data, "PIPELINE_DATA_DIR": str(services.folder / "data-server")})
        server_env.update(line.removeprefix("export ").split("=", 1) for line in exported.splitlines())
        embedded = services.folder / "embedded"
        embedded_env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PIPELINE_"))}
        embedded_env.update({**data, "MLFLOW_TRACKING_URI": f"sqlite:///{embedded / 'mlflow.db'}",
                             "PIPELINE_DATA_DIR": str(embedded / "data"), "PATH": services.env()["PATH"]})
        embedded.mkdir()
        seconds = {"server": study(server_env, services.folder / "report-server" / "report.md"),
                   "embedded": study(embedded_env, embedded / "report" / "report.md")}
        os.environ.update({k: services.env()[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")})
        on_server = shapes(services.tracking_uri)
        on_embedded = shapes(embedded_env["MLFLOW_TRACKING_URI"])
    only_server, only_embedded = on_server - on_embedded, on_embedded - on_server
    print(json.dumps({"demo": "server_mode", "runs_server": sum(on_server.values()),
                      "runs_embedded": sum(on_embedded.values()), "same": not only_server and not only_embedded,
                      "only_on_server": [list(map(str, k[:4])) for k in only_server],
                      "only_embedded": [list(map(str, k[:4])) for k in only_embedded],
                      "study_seconds": {k: round(v, 1) for k, v in seconds.items()}}), flush=True)


if __name__ == "__main__":
    main()
