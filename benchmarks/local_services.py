"""PostgreSQL and an MLflow tracking server with basic auth, started by scripts/services.sh in a temporary folder,
for the benchmarks that need them (tests/conftest.py's LocalServices, which the distributed tests use too)."""
from __future__ import annotations

import secrets
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import LocalServices

SCRIPT = LocalServices.script


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
