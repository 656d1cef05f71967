"""Several search workers on PostgreSQL: trials per minute with 1 and with N workers, a worker killed mid-trial,
and a restart of every worker.

    python benchmarks/distributed_search.py [--workers 4] [--trials-per-worker 10]

Starts its own PostgreSQL and tracking server (scripts/services.sh, basic auth on) in a temporary folder, on
tiny Fashion-MNIST-format data (the tests' generator), and runs the `search` command as a user would. Prints one
JSON line per demonstration.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
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
    p.add_argument("--demos", default="load,crash,restart", help="which demonstrations, comma-separated")
    args = p.parse_args()

    from scripts.local_services import local_services

    with local_services() as services:
        demonstrate(services, args.workers, args.trials_per_worker, args.demos.split(","))


def demonstrate(services, workers_wanted: int, trials_per_worker: int, demos: list[str]) -> None:
    """Load (1 worker, then `workers_wanted`), crash and restart, each printed as one JSON line."""
    import mlflow
    import optuna

    from scripts.sample_data import make_fashion_mnist

    folder, storage, env = services.folder, services.storage_url, services.env()
    os.environ.update({k: env[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")})
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])

    def search(study: str, trials: int, workers: int, *extra: str, wait: bool = True):
        command = [sys.executable, "-m", "pipeline.steps.search", "--family", "mlp", "--profile", "smoke", "--storage",
                   "env:OPTUNA_URL", "--study-name", study, "--n-trials", str(trials), "--workers", str(workers),
                   "--timeout", "3600", "--heartbeat", "2", *extra]
        if not wait:
            return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return time.perf_counter() - started, done

    def runs(study: str) -> dict:
        """The study's MLflow runs: trial runs under its parent(s), and any left RUNNING."""
        experiment = client.get_experiment_by_name("task1-search").experiment_id
        found = client.search_runs([experiment], f"tags.study_name = '{study}' and tags.step = 'search'")
        trials = [run for parent in found for run in client.search_runs(
            [experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}' and tags.step = 'search-trial'",
            max_results=1000)]
        return {"parent_runs": len(found), "trial_runs": len(trials),
                "trial_runs_running": sum(run.info.status == "RUNNING" for run in trials),
                "trial_runs_failed": sum(run.info.status == "FAILED" for run in trials)}

    def states(study: str) -> dict:
        trials = optuna.load_study(study_name=study, storage=storage).trials
        return {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}

    subprocess.run([sys.executable, "-m", "pipeline.steps.preprocess", "--dataset", "fashion_mnist", "--source",
                    str(make_fashion_mnist(folder / "fashion-mnist"))], env=env, check=True, capture_output=True)
    if "load" in demos:
        n = workers_wanted * trials_per_worker
        # Trials per minute from the trials' own start and end times: worker start-up and refits excluded.
        for workers, trials in ((1, trials_per_worker), (workers_wanted, n)):
            seconds, done = search(f"load-{workers}", trials, workers)
            study = optuna.load_study(study_name=f"load-{workers}", storage=storage)
            span = (max(t.datetime_complete for t in study.trials) -
                    min(t.datetime_start for t in study.trials)).total_seconds()
            print(json.dumps({"demo": "load", "workers": workers, "trials": len(study.trials),
                              **states(f"load-{workers}"),
                              "distinct_numbers": len({t.number for t in study.trials}),
                              "trials_per_minute": round(60 * len(study.trials) / span, 1),
                              "command_seconds": round(seconds, 1),
                              "database_locked": "database is locked" in done.stdout + done.stderr,
                              **runs(f"load-{workers}")}), flush=True)

    if "crash" in demos:
        process = search("crash", 6, 3, "--pruner", "none", "--epochs", "20", "--train-fraction", "1", wait=False)
        victim = None
        while victim is None and process.poll() is None:
            time.sleep(0.5)
            try:
                running = optuna.load_study(study_name="crash", storage=storage).get_trials(
                    states=(optuna.trial.TrialState.RUNNING,))
            except KeyError:
                continue
            victim = next((t for t in running if "mlflow_run_id" in t.user_attrs), None)
        os.kill(int(victim.user_attrs["worker"].split(":")[1]), signal.SIGKILL)
        process.wait()
        print(json.dumps({"demo": "crash", "exit": process.returncode, "killed_trial": victim.number,
                          **states("crash"), **runs("crash")}), flush=True)

    if "restart" in demos:
        # Trials long enough (60 epochs) for the interrupt to land mid-study: stop both workers after 3 trials.
        process = search("restart", 10, 2, "--pruner", "none", "--epochs", "60", "--train-fraction", "1", wait=False)
        while process.poll() is None and not (_exists("restart", storage) and
                                              states("restart")["COMPLETE"] + states("restart")["PRUNED"] >= 3):
            time.sleep(0.2)
        # SIGTERM, which the steps treat as Ctrl-C (a SIGINT would be ignored when this runs in the background).
        process.send_signal(signal.SIGTERM)
        process.wait()
        before = states("restart")
        seconds, _ = search("restart", 10 - before["COMPLETE"] - before["PRUNED"], 2, "--pruner", "none", "--epochs",
                            "60", "--train-fraction", "1")
        print(json.dumps({"demo": "restart", "interrupted_exit": process.returncode, "before": before,
                          "after": states("restart"), "restart_seconds": round(seconds, 1), **runs("restart")}),
              flush=True)


def _exists(study: str, storage: str) -> bool:
    import optuna

    return study in optuna.get_all_study_names(storage)


if __name__ == "__main__":
    main()
