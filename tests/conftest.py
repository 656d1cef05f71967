"""Shared fixtures: a temporary MLflow store and data folder, and tiny data sets in their real file formats."""
from __future__ import annotations

import gzip
import os
import pickle
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

from pipeline import settings  # noqa: E402


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
    monkeypatch.setattr(settings, "DATA_DIR", data)
    monkeypatch.setattr(settings, "RAW_DIR", data / "raw")
    monkeypatch.setattr(settings, "PROCESSED_DIR", data / "processed")
    return experiment_id


@pytest.fixture()
def store(tracking_uri, tmp_path, monkeypatch):
    """The temporary tracking store, plus a fresh data folder; every test's runs land in its own experiment."""
    import mlflow

    yield use_store(monkeypatch, tmp_path)
    while mlflow.active_run():
        mlflow.end_run()


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file as Fashion-MNIST ships it: big-endian header, then the ubyte data, gzipped."""
    magic = 0x0800 + array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_fashion_mnist(folder: Path) -> Path:
    """A tiny Fashion-MNIST (200 train, 50 test) in the four original idx .gz files."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, n in (("train", 200), ("t10k", 50)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


@pytest.fixture()
def fashion_mnist_dir(tmp_path) -> Path:
    """A tiny Fashion-MNIST in its original files."""
    return make_fashion_mnist(tmp_path / "fashion-mnist")


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """A batch file in the official layout: a protocol-3 pickle of bytes keys, CHW-flattened data."""
    batch = {b"batch_label": b"tiny", b"labels": [int(v) for v in labels],
             b"data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072),
             b"filenames": [f"{i}.png".encode() for i in range(len(images))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=3)


def make_cifar10(folder: Path) -> Path:
    """A tiny CIFAR-10 (5 x 20 train, 20 test) as a cifar-10-batches-py/ folder."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_cifar_batch(folder / name, rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), np.arange(20) % 10)
    return folder


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


@pytest.fixture()
def clock_dir(tmp_path) -> Path:
    """A tiny clock data set in the course's format: 60 images of 32x32, labels [hour, minute]."""
    folder = tmp_path / "clocks"
    folder.mkdir()
    rng = np.random.default_rng(2)
    np.save(folder / "images.npy", rng.integers(0, 256, (60, 32, 32), dtype=np.uint8))
    minutes = np.arange(60) * 12
    np.save(folder / "labels.npy", np.stack([minutes // 60, minutes % 60], axis=1))
    return folder


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    """Wait until `url` answers, failing if the server process dies or the time runs out."""
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            assert process.poll() is None, f"server exited with status {process.returncode}"
            assert time.time() < deadline, f"{url} did not answer within {seconds} s"
            time.sleep(1)


class LocalServices:
    """PostgreSQL and the MLflow tracking server with basic auth, as scripts/services.sh starts them in `folder`
    on free loopback ports; what the script and a search worker need to reach them. Used by the distributed
    tests and the benchmarks that need a server."""

    script = settings.ROOT / "scripts" / "services.sh"

    def __init__(self, folder: Path, db_password: str, admin: str, admin_password: str):
        self.folder, self.db_password, self.admin, self.admin_password = folder, db_password, admin, admin_password
        self.pg_port, self.mlflow_port = free_port(), free_port()
        self.script_env = {**os.environ, "SERVICES_DIR": str(folder), "PGPORT": str(self.pg_port),
                           "MLFLOW_PORT": str(self.mlflow_port), "PIPELINE_DB_PASSWORD": db_password,
                           "MLFLOW_AUTH_ADMIN_USERNAME": admin, "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
                           "MLFLOW": str(Path(sys.executable).parent / "mlflow")}
        self.storage_url = f"postgresql://pipeline:{db_password}@127.0.0.1:{self.pg_port}/optuna"
        self.tracking_uri = f"http://127.0.0.1:{self.mlflow_port}"

    def start(self) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.script), "start", "--auth"], env=self.script_env, capture_output=True,
                              text=True, timeout=300)

    def stop(self) -> None:
        subprocess.run([str(self.script), "stop"], env=self.script_env, capture_output=True, timeout=120)

    def env(self, **extra: str) -> dict[str, str]:
        """A worker's environment: the storage URL in $OPTUNA_URL, the tracking server and its credentials."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        env.update({"MLFLOW_TRACKING_URI": self.tracking_uri, "MLFLOW_TRACKING_USERNAME": self.admin,
                    "MLFLOW_TRACKING_PASSWORD": self.admin_password, "OPTUNA_URL": self.storage_url,
                    "PIPELINE_DATA_DIR": str(self.folder / "data"),
                    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
        env.update(extra)
        return env
