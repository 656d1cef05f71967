"""The distributed load (4 workers x 10 trials) through Ray next to the local process pool: trials per hour for each.

    python benchmarks/ray_search.py [--workers 4] [--trials-per-worker 10] [--nodes 2] [--worker-cpus 0.5]

Starts PostgreSQL and the tracking server (scripts/services.sh, basic auth on, as benchmarks/distributed_search.py
does) and a Ray cluster of `--nodes` nodes with one CPU each on this machine (scripts/local_ray.py), then runs the
same smoke MLP study with the `search` command twice, as a user would: `--workers N` with the local pool, then
`--launcher ray --workers N` on the cluster. `--worker-cpus` is each Ray task's CPU request: 0.5 lets 4 tasks run at
once on 2 nodes of one CPU, as the local pool runs 4 processes on 2 cores. Prints one JSON line per launcher.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--trials-per-worker", type=int, default=10)
    p.add_argument("--nodes", type=int, default=2, help="Ray nodes on this machine, one CPU each")
    p.add_argument("--worker-cpus", type=float, default=0.5, help="each Ray worker task's CPU request")
    p.add_argument("--launchers", default="local,ray", help="which launchers to time, comma-separated")
    args = p.parse_args()

    from scripts.local_ray import local_ray_cluster
    from scripts.local_services import local_services

    with local_services() as services, local_ray_cluster(args.nodes, cpus_per_node=1) as cluster:
        compare(services, cluster.address, args)


def compare(services, ray_address: str, args) -> None:
    """Run the load once per launcher; print what each did and how fast."""
    from scripts.sample_data import make_fashion_mnist

    env = services.env()
    os.environ.update({k: env[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")})
    subprocess.run([sys.executable, "-m", "pipeline.steps.preprocess", "--dataset", "fashion_mnist", "--source",
                    str(make_fashion_mnist(services.folder / "fashion-mnist"))], env=env, check=True,
                   capture_output=True)
    trials = args.workers * args.trials_per_worker
    options = {"local": [], "ray": ["--launcher", "ray", "--ray-address", ray_address,
                                    "--worker-cpus", str(args.worker_cpus)]}
    for launcher in args.launchers.split(","):
        study = f"load-{launcher}-{args.workers}"
        command = [sys.executable, "-m", "pipeline.steps.search", "--family", "mlp", "--profile", "smoke",
                   "--storage", "env:OPTUNA_URL", "--study-name", study, "--n-trials", str(trials),
                   "--workers", str(args.workers), "--timeout", "3600", "--heartbeat", "2", *options[launcher]]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        print(json.dumps({"launcher": launcher, "workers": args.workers, "command_seconds": round(seconds, 1),
                          **measured(services, study, env)}), flush=True)


def measured(services, study_name: str, env: dict) -> dict:
    """The study's trials by state, trials per hour over the trials' own span (worker start-up and refits left
    out), and the MLflow runs: trial runs under the one parent, and any left RUNNING."""
    import mlflow
    import optuna

    study = optuna.load_study(study_name=study_name, storage=services.storage_url)
    span = (max(t.datetime_complete for t in study.trials if t.datetime_complete) -
            min(t.datetime_start for t in study.trials if t.datetime_start)).total_seconds()
    states = {s: sum(t.state.name == s for t in study.trials) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    parents = client.search_runs(experiments, f"tags.study_name = '{study_name}' and tags.step = 'search'")
    trial_runs = client.search_runs(experiments, f"tags.mlflow.parentRunId = '{parents[0].info.run_id}' and "
                                                 "tags.step = 'search-trial'", max_results=1000)
    return {"trials": len(study.trials), **states, "trials_per_hour": round(3600 * len(study.trials) / span),
            "trial_span_seconds": round(span, 1), "parent_runs": len(parents), "trial_runs": len(trial_runs),
            "ray_nodes": len({run.data.tags["ray_node"] for run in trial_runs if "ray_node" in run.data.tags}),
            "runs_left_running": len(client.search_runs(experiments, "attributes.status = 'RUNNING'"))}


if __name__ == "__main__":
    main()
