"""PostgreSQL and the MLflow tracking server with basic auth, started by scripts/services.sh on free loopback ports,
for the distributed tests and the benchmarks that need a server."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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

    script = ROOT / "scripts" / "services.sh"

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


@contextmanager
def local_services():
    """Start both services on free loopback ports; stop them on the way out. The result's `env()` is a worker's
    environment (tracking server, credentials, $OPTUNA_URL, PIPELINE_DATA_DIR), `storage_url` the Optuna
    storage with its password, `script_env` what scripts/services.sh needs to find these services."""
    folder = Path(tempfile.mkdtemp(prefix="pipeline-bench-", dir="/tmp"))
    folder.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root
    services = LocalServices(folder, secrets.token_hex(12), "admin", secrets.token_hex(12))
    started = services.start()
    if started.returncode != 0:
        raise subprocess.CalledProcessError(started.returncode, started.args, started.stdout, started.stderr)
    try:
        yield services
    finally:
        services.stop()
