"""Shared fixtures: a temporary MLflow store and data folder, and tiny data sets in their real file formats."""
from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from pipeline import config
from scripts.sample_data import make_cifar10, make_fashion_mnist

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

# The end-to-end study is the suite's long pole (its module fixture runs the whole smoke study): its module comes
# first, so one worker starts on it at once while the other runs every other module. pyproject.toml passes
# --no-loadscope-reorder, without which xdist hands modules out largest first and the study came last.
LONG_POLE = "test_study.py"


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name != LONG_POLE)  # stable: every module keeps its own order


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory) -> str:
    """One temporary SQLite tracking store for the session (creating its tables costs seconds)."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    return uri


def use_store(monkeypatch, folder: Path) -> str:
    """Send runs to a fresh experiment of the temporary store and data to `folder`/data; returns the experiment id."""
    import mlflow

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    name = f"test-{folder.name}"
    experiment_id = mlflow.create_experiment(name, artifact_location=(folder / "artifacts").as_uri())
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    data = folder / "data"
    monkeypatch.setattr(config, "DATA_DIR", data)
    monkeypatch.setattr(config, "RAW_DIR", data / "raw")
    monkeypatch.setattr(config, "PROCESSED_DIR", data / "processed")
    return experiment_id


@pytest.fixture()
def store(tracking_uri, tmp_path, monkeypatch):
    """The temporary tracking store, plus a fresh data folder; every test's runs land in its own experiment."""
    import mlflow

    yield use_store(monkeypatch, tmp_path)
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture()
def fashion_mnist_dir(tmp_path) -> Path:
    """A tiny Fashion-MNIST in its original files."""
    return make_fashion_mnist(tmp_path / "fashion-mnist")


@pytest.fixture()
def cifar_dir(tmp_path) -> Path:
    """A tiny CIFAR-10 in its official layout."""
    return make_cifar10(tmp_path / "cifar" / "cifar-10-batches-py")


@pytest.fixture()
def cifar_tar(cifar_dir) -> Path:
    """The same tiny CIFAR-10 packed as cifar-10-python.tar.gz."""
    archive = cifar_dir.parent / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(cifar_dir, arcname="cifar-10-batches-py")
    return archive


def write_clock_folder(folder: Path) -> Path:
    """Write a tiny clock data set in the course's format to `folder`: 60 images of 32x32, labels [hour, minute]."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    np.save(folder / "images.npy", rng.integers(0, 256, (60, 32, 32), dtype=np.uint8))
    minutes = np.arange(60) * 12
    np.save(folder / "labels.npy", np.stack([minutes // 60, minutes % 60], axis=1))
    return folder


@pytest.fixture()
def clock_dir(tmp_path) -> Path:
    """A tiny clock data set in the course's format: 60 images of 32x32, labels [hour, minute]."""
    return write_clock_folder(tmp_path / "clocks")
