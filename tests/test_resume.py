"""No RUNNING leftovers: a study killed with SIGKILL mid-search and started again ends the runs of its dead
processes FAILED and keeps every finished trial; a run whose process elsewhere stopped beating is ended too."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import mlflow
import optuna

from pipeline.tracking import liveness, runs
from scripts.sample_data import make_cifar10, make_fashion_mnist
from tests.conftest import write_clock_folder

Finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
MLP_STUDY = "fashion_mnist-mlp-smoke-seed0"  # the study main's mlp search step adds to


def wait_for(condition, seconds: float, process: subprocess.Popen, what: str):
    """Poll `condition` until it returns something true; fail if `process` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        assert process.poll() is None, f"main exited ({process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.5)


def trials(storage: str, *states) -> list:
    try:
        return optuna.load_study(study_name=MLP_STUDY, storage=storage).get_trials(states=states or None)
    except KeyError:
        return []


def test_main_killed_mid_search_and_started_again_leaves_no_run_running_and_keeps_its_finished_trials(tmp_path):
    storage, uri = f"sqlite:///{tmp_path / 'optuna.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PIPELINE_OPTUNA_STORAGE": storage,
           "PIPELINE_DATA_DIR": str(tmp_path / "data"), "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    command = [sys.executable, "-m", "pipeline.steps.main", "--profile", "smoke",
               "--fashion-mnist-dir", str(make_fashion_mnist(tmp_path / "fashion-mnist")),
               "--cifar10-path", str(make_cifar10(tmp_path / "cifar-10-batches-py")),
               "--clock-source", str(write_clock_folder(tmp_path / "clocks")), "--report", str(tmp_path / "report.md")]
    client = mlflow.MlflowClient(uri)

    def running_runs() -> list:
        return client.search_runs([e.experiment_id for e in client.search_experiments()],
                                  "attributes.status = 'RUNNING'", max_results=1000)

    def start(log: str) -> subprocess.Popen:
        with open(tmp_path / log, "w") as out:
            return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    # Killed like a lost machine: main, the search step it runs and the trial in it, all at once.
    first = start("first.log")
    wait_for(lambda: trials(storage, *Finished) and
             [t for t in trials(storage, optuna.trial.TrialState.RUNNING) if "mlflow_run_id" in t.user_attrs],
             300, first, "mlp trial running after a finished one")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    finished = {t.number: t.user_attrs["mlflow_run_id"] for t in trials(storage, *Finished)}
    killed, = trials(storage, optuna.trial.TrialState.RUNNING)
    left = {run.info.run_id for run in running_runs()}
    assert killed.user_attrs["mlflow_run_id"] in left and len(left) >= 3  # main's run, the search's, the trial's

    # Started again: once its own mlp search runs a trial, every dead run has been ended; then it is stopped the
    # way Ctrl-C stops it, which ends its own runs KILLED.
    second = start("second.log")
    # Stopped once that trial's run exists (it is training). A stop that lands while a run is being created can
    # leave that run RUNNING until the next start ends it; this test does not cover that moment.
    wait_for(lambda: [t for t in trials(storage, optuna.trial.TrialState.RUNNING)
                      if t.number > killed.number and "mlflow_run_id" in t.user_attrs],
             300, second, "mlp trial of the restarted study")
    os.killpg(second.pid, signal.SIGTERM)
    second.wait(timeout=120)

    assert not running_runs(), (tmp_path / "second.log").read_text()[-3000:]
    for run_id in left:
        lost = client.get_run(run_id)
        assert lost.info.status == "FAILED" and "is gone" in lost.data.tags["lost"], lost.data.tags
    study = optuna.load_study(study_name=MLP_STUDY, storage=storage)
    assert {n: t.user_attrs["mlflow_run_id"] for n, t in enumerate(study.trials) if n in finished} == finished
    assert all(study.trials[n].state in Finished and client.get_run(run).info.status in ("FINISHED", "KILLED")
               for n, run in finished.items())
    assert study.trials[killed.number].state == optuna.trial.TrialState.FAIL
    assert [t.params for t in study.trials if t.system_attrs.get("failed_trial") == killed.number] == [killed.params]


def test_a_run_whose_process_elsewhere_stopped_beating_is_ended_and_a_beating_one_is_not(store):
    client = mlflow.MlflowClient()
    silent_for = liveness.MISSED_BEATS * liveness.HEARTBEAT_SECONDS + 5
    beats = {"silent": time.time() - silent_for, "beating": time.time()}
    started = {}
    for name, beat in beats.items():
        run = client.create_run(store, run_name=name, tags={liveness.PROCESS_TAG: "another-machine:4242:1",
                                                           liveness.HEARTBEAT_TAG: str(int(beat))})
        started[name] = run.info.run_id
    ended = runs.end_dead_runs("", [store])
    assert ended == [started["silent"]]
    silent, beating = client.get_run(started["silent"]), client.get_run(started["beating"])
    assert silent.info.status == "FAILED" and silent.data.tags["lost"].startswith("no heartbeat for ")
    assert silent.data.tags["lost"].endswith("from another-machine:4242:1")
    assert beating.info.status == "RUNNING"
    client.set_terminated(started["beating"])


def test_a_process_of_this_machine_that_is_gone_is_dead_at_once_and_one_that_runs_never_is():
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    here = liveness.this_process()
    host, pid, start = here.split(":")
    assert liveness.gone(f"{host}:{ended.pid}:") is True
    assert liveness.gone(f"{host}:{pid}:{int(start) + 1}") is True  # this pid, but another process
    assert liveness.gone(here) is False
    assert liveness.gone(f"another-machine:{pid}:{start}") is None  # only its heartbeat can tell
    assert liveness.why_dead({liveness.PROCESS_TAG: here, liveness.HEARTBEAT_TAG: "0"}, 0) == ""
    assert liveness.why_dead({liveness.PROCESS_TAG: f"{host}:{ended.pid}:"}, 0) == \
        f"its process {host}:{ended.pid}: is gone"
