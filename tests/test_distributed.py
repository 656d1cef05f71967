"""One study, several workers: a real PostgreSQL for Optuna and MLflow, the tracking server with basic auth, a
worker killed mid-trial, and credentials that never show. The services come from scripts/services.sh (Debian's
postgresql package; .ci/run installs it)."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import optuna
import pytest

from scripts.local_services import LocalServices, free_port
from scripts.sample_data import make_fashion_mnist

pytestmark = pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                                reason="PostgreSQL is not installed (.ci/run installs Debian's postgresql)")

DB_PASSWORD = f"db-{secrets.token_hex(12)}"
ADMIN, ADMIN_PASSWORD = "admin", f"admin-{secrets.token_hex(8)}"
Finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


class Services(LocalServices):
    """PostgreSQL and the tracking server for this module, and a way to run the search against them."""

    def __init__(self, folder: Path):
        super().__init__(folder, DB_PASSWORD, ADMIN, ADMIN_PASSWORD)
        self.outputs: list[str] = []  # everything the steps printed, to search for the password

    def search_command(self, study: str, *options: str) -> list[str]:
        return [sys.executable, "-m", "pipeline.steps.search", "--family", "mlp", "--profile", "smoke", "--storage",
                "env:OPTUNA_URL", "--study-name", study, "--timeout", "600", "--heartbeat", "1", *options]

    def run(self, command: list[str], env: dict[str, str] | None = None, timeout: int = 600):
        done = subprocess.run(command, env=env or self.env(), capture_output=True, text=True, timeout=timeout)
        self.outputs += [done.stdout, done.stderr]
        return done

    def client(self) -> mlflow.MlflowClient:
        os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = ADMIN, ADMIN_PASSWORD
        return mlflow.MlflowClient(self.tracking_uri)

    def runs(self, filter_string: str) -> list:
        client = self.client()
        experiments = [e.experiment_id for e in client.search_experiments()]
        return client.search_runs(experiments, filter_string, max_results=1000)


@pytest.fixture(scope="module")
def services():
    # PostgreSQL runs as the `postgres` user when we are root: its folder must be reachable by that user.
    folder = Path(tempfile.mkdtemp(prefix="pipeline-services-", dir="/tmp"))
    folder.chmod(0o755)
    services = Services(folder)
    started = services.start()
    assert started.returncode == 0, started.stdout + started.stderr
    fashion = make_fashion_mnist(folder / "fashion-mnist")
    done = services.run([sys.executable, "-m", "pipeline.steps.preprocess", "--dataset", "fashion_mnist", "--source",
                         str(fashion)])
    assert done.returncode == 0, done.stderr[-2000:]
    saved = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    yield services
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    services.stop()
    shutil.rmtree(folder, ignore_errors=True)


# 3 workers x 2 trials, one worker killed mid-trial (each worker costs the suite a TensorFlow start-up);
# benchmarks/distributed_search.py runs the 4 x 10 of the issue, a crash and a restart, and times them.
def test_workers_fill_one_study_under_one_parent_run_even_when_one_is_killed_mid_trial(services):
    search = subprocess.Popen(services.search_command("load", "--n-trials", "4", "--workers", "2", "--pruner",
                                                      "none", "--epochs", "8", "--train-fraction", "1"),
                              env=services.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim, deadline = None, time.time() + 300
    while victim is None and time.time() < deadline and search.poll() is None:
        time.sleep(0.5)
        try:
            running = optuna.load_study(study_name="load", storage=services.storage_url).get_trials(
                states=(optuna.trial.TrialState.RUNNING,))
        except KeyError:
            continue
        victim = next((t for t in running if "mlflow_run_id" in t.user_attrs), None)
    assert victim is not None, "no trial was seen running"
    os.kill(int(victim.user_attrs["worker"].split(":")[1]), signal.SIGKILL)
    output = search.communicate(timeout=600)[0]
    services.outputs.append(output)
    assert search.returncode == 0, output[-3000:]
    assert "database is locked" not in output

    study = optuna.load_study(study_name="load", storage=services.storage_url)
    assert sorted(t.number for t in study.trials) == list(range(len(study.trials)))
    assert len([t for t in study.trials if t.state in Finished]) == 4
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.number for t in failed] == [victim.number]
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retried) == 1 and retried[0].params == victim.params
    assert len({t.user_attrs["worker"] for t in study.trials}) >= 2

    parent, = services.runs("tags.step = 'search' and tags.study_name = 'load'")
    trials = services.runs(f"tags.mlflow.parentRunId = '{parent.info.run_id}' and tags.step = 'search-trial'")
    assert sorted(int(r.data.tags["trial"]) for r in trials) == [t.number for t in study.trials]
    lost = services.client().get_run(victim.user_attrs["mlflow_run_id"])
    # Failed by the other worker when it stopped beating, or by the parent at once, its process being gone.
    assert lost.info.status == "FAILED" and lost.data.tags["lost"].startswith(f"worker of trial {victim.number} ")
    assert {r.info.status for r in trials if r.info.run_id != lost.info.run_id} <= {"FINISHED", "KILLED"}
    assert not services.runs("attributes.status = 'RUNNING'")


def test_the_tracking_server_refuses_requests_without_credentials(services):
    url = f"{services.tracking_uri}/api/2.0/mlflow/experiments/search?max_results=1"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 401


BAD_CONFIGURATIONS = ["wrong password", "unreachable database", "unknown study", "password in the URL",
                      "unreachable tracking server", "wrong tracking password"]


def bad_configuration(services: Services, case: str) -> tuple[list[str], dict[str, str], str]:
    """The command, its environment, and what its one error line must say."""
    wrong = services.storage_url.replace(DB_PASSWORD, "wrong-password-42")
    command, env = services.search_command("load", "--n-trials", "1"), services.env()
    if case == "wrong password":
        env["OPTUNA_URL"] = wrong
        return command, env, "password authentication failed"
    if case == "unreachable database":
        env["OPTUNA_URL"] = services.storage_url.replace(f":{services.pg_port}/", f":{free_port()}/")
        return command, env, "cannot open the Optuna storage postgresql://pipeline:***@127.0.0.1"
    if case == "unknown study":
        command = services.search_command("no-such-study", "--n-trials", "1", "--parent-run-id", "0" * 32)
        return command, env, "study no-such-study does not exist in postgresql://pipeline:***@"
    if case == "password in the URL":
        command[command.index("env:OPTUNA_URL")] = wrong
        return command, env, "the URL has a password in it"
    if case == "wrong tracking password":
        env["MLFLOW_TRACKING_PASSWORD"] = "not-the-password"
        return command, env, (f"error: tracking server {services.tracking_uri} refused the credentials (HTTP 401); "
                              "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
    env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{free_port()}"
    return command, env, "does not answer"


def test_bad_configuration_fails_fast_in_one_line_with_the_password_masked(services):
    # The cases run side by side: each is a process that must give up within seconds.
    started = time.monotonic()
    running = {}
    for case in BAD_CONFIGURATIONS:
        command, env, expected = bad_configuration(services, case)
        running[case] = (subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True), expected)
    for case, (process, expected) in running.items():
        stdout, stderr = process.communicate(timeout=120)
        services.outputs += [stdout, stderr]
        assert process.returncode == 2, (case, stderr[-2000:])
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (case, stderr[-2000:])
        assert DB_PASSWORD not in stderr + stdout and "wrong-password-42" not in stderr + stdout, case
    assert time.monotonic() - started < 90


def test_the_workers_role_has_only_its_own_databases(services):
    import psycopg

    with psycopg.connect(services.storage_url) as connection:
        row = connection.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                                 "WHERE rolname = current_user").fetchone()
    assert row == (False, False, False)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(services.storage_url.replace("/optuna", "/template1"), connect_timeout=5)


def test_the_password_is_nowhere_in_the_tracking_store_the_artifacts_or_the_logs(services):
    import psycopg

    assert services.outputs, "the tests above ran nothing"
    with psycopg.connect(services.storage_url.replace("/optuna", "/mlflow")) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
        dump = "\n".join(str(row) for table in tables for row in connection.execute(f'SELECT * FROM "{table}"'))
    assert "search-trial" in dump  # the dump holds the runs
    files = [p for p in services.folder.rglob("*") if p.is_file() and p.name not in ("db-password", "pgpass")
             and "postgres" not in p.relative_to(services.folder).parts]
    assert any(p.suffix == ".png" for p in files)  # the artifacts are there
    for path in files:
        assert DB_PASSWORD.encode() not in path.read_bytes(), path
    assert DB_PASSWORD not in dump
    assert not any(DB_PASSWORD in output for output in services.outputs)
