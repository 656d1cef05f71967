"""Search workers as Ray tasks on a Ray cluster of two nodes started on this machine (scripts/local_ray.py): the
real worker code against a real Optuna storage (SQLite) and MLflow store, and bad clusters refused in one line."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest

from pipeline import config
from pipeline.datasets.preparation import Request, prepare
from scripts.local_ray import local_ray_cluster
from scripts.local_services import free_port
from scripts.sample_data import make_fashion_mnist

pytest.importorskip("ray", reason="Ray is the optional extra .[ray] (the Makefile installs it)")

Finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@pytest.fixture(scope="module")
def cluster():
    with local_ray_cluster(nodes=2, cpus_per_node=1) as started:
        yield started


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A data folder with processed tiny Fashion-MNIST, an Optuna storage and an MLflow store, all temporary."""
    folder = tmp_path_factory.mktemp("ray-search")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "PROCESSED_DIR", folder / "data" / "processed")
        splits, _ = prepare(Request("fashion_mnist", str(make_fashion_mnist(folder / "fashion-mnist"))))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
           "PIPELINE_OPTUNA_STORAGE": f"sqlite:///{folder / 'optuna.db'}", "PIPELINE_DATA_DIR": str(folder / "data")}
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    return folder, splits.folder, env


def search(place, study: str, *options: str, cwd: Path = config.ROOT, **env: str) -> subprocess.CompletedProcess:
    _, data, environment = place
    command = [sys.executable, "-m", "pipeline.steps.search", "--family", "mlp", "--profile", "smoke", "--data",
               str(data), "--study-name", study, "--heartbeat", "2", *options]
    return subprocess.run(command, env={**environment, **env}, cwd=cwd, capture_output=True, text=True, timeout=600,
                          check=False)


def client(place) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(place[2]["MLFLOW_TRACKING_URI"])


def all_runs(place, filter_string: str = "") -> list:
    found = client(place)
    return found.search_runs([e.experiment_id for e in found.search_experiments()], filter_string, max_results=1000)


def test_ray_workers_on_two_nodes_add_exactly_n_trials_each_a_run_under_one_parent(cluster, place):
    done = search(place, "on-ray", "--launcher", "ray", "--ray-address", cluster.address, "--workers", "2",
                  "--n-trials", "2", "--worker-cpus", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    study = optuna.load_study(study_name="on-ray", storage=place[2]["PIPELINE_OPTUNA_STORAGE"])
    assert [t.number for t in study.trials if t.state in Finished] == [0, 1]
    assert len(study.trials) == 2
    parent, = all_runs(place, "tags.step = 'search' and tags.study_name = 'on-ray'")
    trials = all_runs(place, f"tags.mlflow.parentRunId = '{parent.info.run_id}' and tags.step = 'search-trial'")
    assert sorted(int(run.data.tags["trial"]) for run in trials) == [0, 1]
    # Each node has one CPU and each worker asks for one: the two workers ran on the two nodes.
    assert len({run.data.tags["ray_node"] for run in trials}) == 2
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2
    assert parent.info.status == "FINISHED" and {run.info.status for run in trials} <= {"FINISHED", "KILLED"}
    assert not all_runs(place, "attributes.status = 'RUNNING'")


def test_an_unreachable_ray_address_is_one_line_and_starts_nothing(place, monkeypatch, capsys):
    from pipeline.steps import search as search_step

    for key in ("MLFLOW_TRACKING_URI", "PIPELINE_OPTUNA_STORAGE"):
        monkeypatch.setenv(key, place[2][key])
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as stopped:
        search_step.main(["--family", "mlp", "--profile", "smoke", "--data", str(place[1]), "--study-name",
                          "unreachable", "--launcher", "ray", "--ray-address", address, "--workers", "2"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: Ray cluster {address} does not answer: [Errno 111] Connection refused"]
    assert "unreachable" not in optuna.get_all_study_names(place[2]["PIPELINE_OPTUNA_STORAGE"])
    assert not all_runs(place, "tags.study_name = 'unreachable'")


def test_a_ray_cluster_with_other_code_is_one_line_and_starts_nothing(cluster, place, tmp_path):
    # This machine runs another copy of the project, one line changed, so its code version differs from the
    # nodes'. It runs from outside either checkout: Ray puts the driver's folder first on its workers' paths.
    other = tmp_path / "other-checkout"
    for name in ("pipeline", "models"):
        shutil.copytree(config.ROOT / name, other / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("MLproject", "conda.yaml"):
        shutil.copy(config.ROOT / name, other / name)
    with open(other / "pipeline" / "search" / "terms.py", "a") as changed:
        changed.write("# a line the cluster's nodes do not have\n")
    done = search(place, "other-code", "--launcher", "ray", "--ray-address", cluster.address, cwd=tmp_path,
                  PYTHONPATH=str(other))
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(r"error: Ray node \S+ \(\w{8}\) differs from this machine: code version "
                                            r"\w{16} here, \w{16} on the node", lines[0]), lines
    assert "other-code" not in optuna.get_all_study_names(place[2]["PIPELINE_OPTUNA_STORAGE"])
    assert not all_runs(place, "tags.study_name = 'other-code'")
