"""PostgreSQL and the MLflow tracking server with basic auth, started by scripts/services.sh on free ports (of
loopback, or of a test's network namespace), for the distributed and network tests and the benchmarks that need a
server."""
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
    on free ports of `host` (loopback unless told); what the script and a search worker need to reach them. Used
    by the distributed and network tests and the benchmarks that need a server. `run_in` prefixes the script's
    command (the network test's `ip netns exec NAME`)."""

    script = ROOT / "scripts" / "services.sh"

    def __init__(self, folder: Path, db_password: str, admin: str, admin_password: str, host: str = "127.0.0.1",
                 run_in: tuple[str, ...] = ()):
        self.folder, self.db_password, self.admin, self.admin_password = folder, db_password, admin, admin_password
        self.host, self.run_in, self.tls = host, list(run_in), False
        self.pg_port, self.mlflow_port = free_port(), free_port()
        self.script_env = {**os.environ, "SERVICES_DIR": str(folder), "SERVICES_HOST": host,
                           "PGPORT": str(self.pg_port), "MLFLOW_PORT": str(self.mlflow_port),
                           "PIPELINE_DB_PASSWORD": db_password, "MLFLOW_AUTH_ADMIN_USERNAME": admin,
                           "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
                           "MLFLOW": str(Path(sys.executable).parent / "mlflow")}

    @property
    def certificate(self) -> Path:
        """Where scripts/services.sh keeps the certificate that clients check the servers against (with --tls)."""
        return self.folder / "tls" / "server.crt"

    @property
    def storage_url(self) -> str:
        """The Optuna storage with its password (and, with TLS, the certificate libpq checks the server by)."""
        tls = f"?sslmode=verify-full&sslrootcert={self.certificate}" if self.tls else ""
        return f"postgresql://pipeline:{self.db_password}@{self.host}:{self.pg_port}/optuna{tls}"

    @property
    def tracking_uri(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.mlflow_port}"

    def start(self, *options: str, command: str = "start") -> subprocess.CompletedProcess:
        """`scripts/services.sh start --auth OPTIONS` (or `start-postgres OPTIONS`), under `run_in`."""
        self.tls = "--tls" in options
        auth = ["--auth"] if command == "start" else []
        return subprocess.run([*self.run_in, str(self.script), command, *auth, *options], env=self.script_env,
                              capture_output=True, text=True, timeout=300)

    def stop(self) -> None:
        # Stopping signals processes and needs no network: it runs outside `run_in`.
        subprocess.run([str(self.script), "stop"], env=self.script_env, capture_output=True, timeout=120)

    def env(self, **extra: str) -> dict[str, str]:
        """A worker's environment: the storage URL in $OPTUNA_URL, the tracking server and its credentials."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        env.update({"MLFLOW_TRACKING_URI": self.tracking_uri, "MLFLOW_TRACKING_USERNAME": self.admin,
                    "MLFLOW_TRACKING_PASSWORD": self.admin_password, "OPTUNA_URL": self.storage_url,
                    "PIPELINE_DATA_DIR": str(self.folder / "data"),
                    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
        if self.tls:
            env["MLFLOW_TRACKING_SERVER_CERT_PATH"] = str(self.certificate)
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
