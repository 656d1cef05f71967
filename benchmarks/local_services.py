"""PostgreSQL and an MLflow tracking server with basic auth, started by scripts/services.sh in a temporary folder,
for the benchmarks that need them."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "services.sh"


@dataclass
class Services:
    folder: Path
    storage: str            # Optuna storage URL, password included (workers read it from $OPTUNA_URL)
    env: dict[str, str]     # a worker's environment: tracking server, credentials, OPTUNA_URL, PIPELINE_DATA_DIR
    script_env: dict[str, str]  # what scripts/services.sh needs to find these services (folder, ports)


@contextmanager
def local_services():
    """Start both services on free loopback ports; stop them on the way out."""
    from tests.conftest import free_port

    folder = Path(tempfile.mkdtemp(prefix="pipeline-bench-", dir="/tmp"))
    folder.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root
    password, admin_password = secrets.token_hex(12), secrets.token_hex(12)
    pg_port, mlflow_port = free_port(), free_port()
    script_env = {**os.environ, "SERVICES_DIR": str(folder), "PGPORT": str(pg_port), "MLFLOW_PORT": str(mlflow_port),
                  "PIPELINE_DB_PASSWORD": password, "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
                  "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password, "MLFLOW": str(Path(sys.executable).parent / "mlflow")}
    subprocess.run([str(SCRIPT), "start", "--auth"], env=script_env, check=True, capture_output=True)
    storage = f"postgresql://pipeline:{password}@127.0.0.1:{pg_port}/optuna"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update({"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}", "MLFLOW_TRACKING_USERNAME": "admin",
                "MLFLOW_TRACKING_PASSWORD": admin_password, "OPTUNA_URL": storage,
                "PIPELINE_DATA_DIR": str(folder / "data"),
                "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    try:
        yield Services(folder, storage, env, script_env)
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=script_env, capture_output=True)
