"""The services on one host, the workers on another: PostgreSQL lets in the network that `scripts/services.sh start
--allow` names, and nobody else from outside. The hosts are network namespaces this module makes, joined by veth
pairs: `services` (10.77.0.1 and 10.77.1.1), `workers` (10.77.0.2, inside the allowed 10.77.0.0/24) and `outside`
(10.77.1.2). No namespace has a route anywhere but to the others' addresses, so no traffic leaves them. Needs
root, iproute2 and Debian's postgresql (with its openssl); skipped where a namespace cannot be made."""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from scripts.local_services import ROOT, LocalServices
from scripts.sample_data import make_fashion_mnist

SERVICES, WORKERS, OUTSIDE = "10.77.0.1", "10.77.0.2", "10.77.1.2"
ALLOWED = "10.77.0.0/24"
# A quote, a colon, a backslash and a space: SQL, pgpass files and URLs each have to carry them as they are.
DB_PASSWORD = f"it's:a\\pass {secrets.token_hex(6)}"
ADMIN, ADMIN_PASSWORD = "admin", f"admin-{secrets.token_hex(8)}"
PSQL = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), reverse=True)), None)

# What a worker host sees of a study: its trials' states and workers, and the trial runs under its parent run.
STUDY_AND_RUNS = """
import json, os, sys, mlflow, optuna
study = optuna.load_study(study_name=sys.argv[1], storage=os.environ["OPTUNA_URL"])
client = mlflow.MlflowClient()
experiments = [e.experiment_id for e in client.search_experiments()]
parent, = client.search_runs(experiments, f"tags.step = 'search' and tags.study_name = '{sys.argv[1]}'")
nested = client.search_runs(experiments, f"tags.mlflow.parentRunId = '{parent.info.run_id}' "
                                         "and tags.step = 'search-trial'")
print(json.dumps({"states": [t.state.name for t in study.trials],
                  "workers": [t.user_attrs.get("worker", "") for t in study.trials],
                  "runs": sorted(int(r.data.tags["trial"]) for r in nested)}))
"""


def ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=True)


def on_host(host: str, command: list[str], env: dict[str, str] | None = None, timeout: int = 120):
    """Run `command` inside network namespace `host`."""
    return subprocess.run(["ip", "netns", "exec", host, *command], env=env, capture_output=True, text=True,
                          timeout=timeout)


def wire(hosts: dict[str, str]) -> None:
    """services <-> workers on 10.77.0.0/24, services <-> outside on 10.77.1.0/24; `outside` reaches the services'
    first address through their second, and that is its only route beyond its own link. The services' namespace
    exists already (making it is how the fixture finds out whether namespaces can be made here)."""
    services, workers, outside = hosts["services"], hosts["workers"], hosts["outside"]
    for host in (workers, outside):
        ip("netns", "add", host)
    for host in hosts.values():
        ip("-n", host, "link", "set", "lo", "up")
    ip("link", "add", "s0", "netns", services, "type", "veth", "peer", "name", "w0", "netns", workers)
    ip("link", "add", "s1", "netns", services, "type", "veth", "peer", "name", "o0", "netns", outside)
    for host, device, address in ((services, "s0", f"{SERVICES}/24"), (services, "s1", "10.77.1.1/24"),
                                  (workers, "w0", f"{WORKERS}/24"), (outside, "o0", f"{OUTSIDE}/24")):
        ip("-n", host, "addr", "add", address, "dev", device)
        ip("-n", host, "link", "set", device, "up")
    ip("-n", outside, "route", "add", f"{SERVICES}/32", "via", "10.77.1.1")


def unwire(hosts: dict[str, str]) -> None:
    """End whatever still runs in the namespaces (started by this module), then remove them."""
    for host in hosts.values():
        listed = subprocess.run(["ip", "netns", "pids", host], capture_output=True, text=True)
        for pid in listed.stdout.split():
            subprocess.run(["kill", "-KILL", pid], capture_output=True)
        subprocess.run(["ip", "netns", "del", host], capture_output=True)


@pytest.fixture(scope="module")
def hosts():
    """The three namespaces, wired; removed on the way out."""
    if os.geteuid() != 0 or shutil.which("ip") is None or PSQL is None:
        pytest.skip("needs root, iproute2 and Debian's postgresql to make hosts from network namespaces")
    names = {role: f"pipeline-{role}-{os.getpid()}" for role in ("services", "workers", "outside")}
    try:
        made = subprocess.run(["ip", "netns", "add", names["services"]], capture_output=True, text=True)
        if made.returncode != 0 or on_host(names["services"], ["true"]).returncode != 0:
            pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
        wire(names)
        yield names
    finally:
        unwire(names)


def services_folder() -> Path:
    # PostgreSQL runs as the `postgres` user when we are root: its folder must be reachable by that user.
    folder = Path(tempfile.mkdtemp(prefix="pipeline-network-", dir="/tmp"))
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def services(hosts):
    """PostgreSQL and the tracking server on the `services` host, open to 10.77.0.0/24; the data preprocessed
    from the `workers` host."""
    folder = services_folder()
    services = LocalServices(folder, DB_PASSWORD, ADMIN, ADMIN_PASSWORD, host=SERVICES,
                             run_in=("ip", "netns", "exec", hosts["services"]))
    try:
        started = services.start("--allow", ALLOWED)
        assert started.returncode == 0, started.stdout + started.stderr
        fashion = make_fashion_mnist(folder / "fashion-mnist")
        done = on_host(hosts["workers"], [sys.executable, "-m", "pipeline.steps.preprocess", "--dataset",
                                          "fashion_mnist", "--source", str(fashion)], services.env())
        assert done.returncode == 0, done.stderr[-2000:]
        yield services
    finally:
        services.stop()
        shutil.rmtree(folder, ignore_errors=True)


def psql(host: str, services: LocalServices, database: str = "optuna", sslmode: str = "prefer"):
    """Connect from `host` as `pipeline` with its password; on success prints the address the server saw."""
    conninfo = f"host={services.host} port={services.pg_port} user=pipeline dbname={database} connect_timeout=5 " \
               f"sslmode={sslmode}" + (f" sslrootcert={services.certificate}" if sslmode == "verify-full" else "")
    query = "SELECT inet_client_addr(), (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())"
    return on_host(host, [str(PSQL), conninfo, "-Atc", query], env={**os.environ, "PGPASSWORD": services.db_password},
                   timeout=30)


def test_two_workers_on_the_allowed_network_finish_exactly_the_trials_asked_for(hosts, services):
    search = on_host(hosts["workers"], [
        sys.executable, "-m", "pipeline.steps.search", "--family", "mlp", "--profile", "smoke", "--storage",
        "env:OPTUNA_URL", "--study-name", "across", "--n-trials", "2", "--workers", "2", "--timeout", "600"],
        services.env(), timeout=600)
    assert search.returncode == 0, search.stdout[-3000:] + search.stderr[-3000:]
    assert "worker exit codes" not in search.stdout  # the parent added no trial of its own

    found = json.loads(on_host(hosts["workers"], [sys.executable, "-c", STUDY_AND_RUNS, "across"],
                               services.env()).stdout)
    assert len(found["states"]) == 2 and set(found["states"]) <= {"COMPLETE", "PRUNED"}
    worker_pids = set(re.findall(r"worker-\d+: pid (\d+)", search.stdout))
    assert len(worker_pids) == 2
    assert {worker.split(":")[1] for worker in found["workers"]} == worker_pids  # host:pid[:...]: one trial each
    assert found["runs"] == [0, 1]


def test_a_client_outside_the_allowed_network_is_refused(hosts, services):
    refused = psql(hosts["outside"], services)
    assert refused.returncode != 0
    assert f'no pg_hba.conf entry for host "{OUTSIDE}", user "pipeline", database "optuna"' in refused.stderr


def test_the_allowed_network_gets_in_with_the_password_to_the_pipelines_databases_only(hosts, services):
    allowed = psql(hosts["workers"], services)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.split("|")[0] == WORKERS
    refused = psql(hosts["workers"], services, database="postgres")
    assert f'no pg_hba.conf entry for host "{WORKERS}", user "pipeline", database "postgres"' in refused.stderr


def test_with_tls_the_allowed_network_connects_only_encrypted_and_checks_the_certificate(hosts, tmp_path):
    folder = services_folder()
    tls = LocalServices(folder, DB_PASSWORD, ADMIN, ADMIN_PASSWORD, host=SERVICES,
                        run_in=("ip", "netns", "exec", hosts["services"]))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", f"/CN={SERVICES}", "-addext", f"subjectAltName=IP:{SERVICES}",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   capture_output=True, check=True, timeout=30)
    try:
        started = tls.start("--allow", ALLOWED, "--tls", str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"),
                            command="start-postgres")
        assert started.returncode == 0, started.stderr
        assert "sslmode=verify-full" in started.stdout
        encrypted = psql(hosts["workers"], tls, sslmode="verify-full")
        assert encrypted.returncode == 0, encrypted.stderr
        assert encrypted.stdout.strip() == f"{WORKERS}|t"
        plain = psql(hosts["workers"], tls, sslmode="disable")
        assert f'no pg_hba.conf entry for host "{WORKERS}", user "pipeline", database "optuna", no encryption' \
            in plain.stderr
    finally:
        tls.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("options, expected", [
    (["--allow", "10.77.0.1/24"], "error: --allow 10.77.0.1/24 is not a network: 10.77.0.1/24 has host bits set"),
    (["--allow", "workers"], "error: --allow workers is not a network: 'workers' does not appear to be"),
    (["--allow"], "error: --allow needs a network, such as 10.0.0.0/24"),
], ids=["host bits set", "a name", "no value"])
def test_an_allow_that_is_not_a_network_is_one_error_line_and_starts_nothing(tmp_path, options, expected):
    env = {**os.environ, "SERVICES_DIR": str(tmp_path / "services"), "SERVICES_HOST": SERVICES}
    done = subprocess.run([str(ROOT / "scripts" / "services.sh"), "start", *options], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith(expected)
    assert done.stdout == ""
    assert list((tmp_path / "services").iterdir()) == []  # no cluster, no server


def test_services_on_a_network_address_need_to_be_told_which_clients_to_let_in(tmp_path):
    env = {**os.environ, "SERVICES_DIR": str(tmp_path / "services"), "SERVICES_HOST": SERVICES}
    done = subprocess.run([str(ROOT / "scripts" / "services.sh"), "start", "--auth"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"error: SERVICES_HOST={SERVICES} is not loopback: name the workers' network with " \
                          "--allow NETWORK\n"
    assert list((tmp_path / "services").iterdir()) == []
