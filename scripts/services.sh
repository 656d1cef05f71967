#!/usr/bin/env bash
# A local PostgreSQL and an MLflow tracking server on loopback, for the tests and for trying out a shared study.
#
#   scripts/services.sh start [--auth]   start both (the first time: create the cluster, role and databases)
#   scripts/services.sh start-postgres   only PostgreSQL
#   scripts/services.sh env              print the variables a worker on this machine exports
#   scripts/services.sh stop             stop both
#
# PostgreSQL is Debian's `postgresql` package (its binaries under /usr/lib/postgresql/*/bin). The role `pipeline`
# may log in and owns the databases `optuna` and `mlflow`; it cannot create roles or databases, and no other
# role may connect to them. Its password (from $PIPELINE_DB_PASSWORD, or generated once) lives in a pgpass file,
# so no URL, command line or log holds it. With --auth the tracking server runs MLflow's basic-auth app, its
# admin from $MLFLOW_AUTH_ADMIN_USERNAME / $MLFLOW_AUTH_ADMIN_PASSWORD.
#
# Settings: SERVICES_DIR (default data/services), PGPORT (default 55432), MLFLOW_PORT (default 55000),
# SERVICES_HOST (default 127.0.0.1: loopback only; a shared setup binds an address the workers reach, with --auth).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$(mkdir -p "${SERVICES_DIR:-$ROOT/data/services}" && cd "${SERVICES_DIR:-$ROOT/data/services}" && pwd)"
PGPORT="${PGPORT:-55432}"
MLFLOW_PORT="${MLFLOW_PORT:-55000}"
HOST="${SERVICES_HOST:-127.0.0.1}"
PGDATA="$DIR/postgres"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
MLFLOW="${MLFLOW:-$ROOT/.venv/bin/mlflow}"
[ -x "$MLFLOW" ] || MLFLOW="$(command -v mlflow)"

die() { echo "error: $*" >&2; exit 2; }

# PostgreSQL refuses to run as root: as root, its files and processes belong to the `postgres` user.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The cluster's superuser is the operating-system user running it, and it logs in only over the socket (peer).
SUPERUSER="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
psql_admin() { as_postgres "$PGBIN/psql" -h "$DIR" -p "$PGPORT" -U "$SUPERUSER" -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

password() {
    if [ ! -s "$DIR/db-password" ]; then
        (umask 077; printf '%s' "${PIPELINE_DB_PASSWORD:-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')}" \
            > "$DIR/db-password")
    fi
    cat "$DIR/db-password"
}

start_postgres() {
    [ -n "$PGBIN" ] || die "PostgreSQL is not installed (Debian: apt-get install postgresql)"
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        mkdir -p "$PGDATA"
        [ "$(id -u)" = 0 ] && chown postgres "$DIR" "$PGDATA"
        as_postgres "$PGBIN/initdb" -D "$PGDATA" -U "$SUPERUSER" --auth-local=peer --auth-host=scram-sha-256 \
            > "$DIR/initdb.log"
    fi
    if ! as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" status > /dev/null 2>&1; then
        as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start \
            -o "-c listen_addresses=$HOST -p $PGPORT -k $DIR" > /dev/null
    fi
    local pw; pw="$(password)"
    # The password travels on psql's standard input, never on a command line.
    psql_admin <<SQL
SELECT 'CREATE ROLE pipeline LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE' WHERE NOT EXISTS
    (SELECT FROM pg_roles WHERE rolname = 'pipeline') \gexec
ALTER ROLE pipeline PASSWORD '$pw';
SELECT 'CREATE DATABASE optuna OWNER pipeline' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'optuna') \gexec
SELECT 'CREATE DATABASE mlflow OWNER pipeline' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow') \gexec
REVOKE ALL ON DATABASE optuna FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;
SQL
    (umask 077; printf '%s:%s:*:pipeline:%s\n' "$HOST" "$PGPORT" "$pw" > "$DIR/pgpass")
}

start_mlflow() {
    local auth=() ; local pid="$DIR/mlflow.pid"
    if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then return; fi
    if [ "${1:-}" = "--auth" ]; then
        [ -n "${MLFLOW_AUTH_ADMIN_USERNAME:-}" ] && [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ] ||
            die "--auth needs MLFLOW_AUTH_ADMIN_USERNAME and MLFLOW_AUTH_ADMIN_PASSWORD"
        cat > "$DIR/basic_auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = sqlite:///$DIR/basic_auth.db
admin_username = $MLFLOW_AUTH_ADMIN_USERNAME
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# Without the cache every request pays a PBKDF2 hash: on a small machine, workers' logging queues behind it.
auth_cache_ttl_seconds = 60
INI
        export MLFLOW_AUTH_CONFIG_PATH="$DIR/basic_auth.ini"
        # The auth app's CSRF protection needs a key that outlives restarts; made once, readable by us only.
        [ -s "$DIR/flask-secret" ] || (umask 077; head -c 32 /dev/urandom | base64 > "$DIR/flask-secret")
        MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat "$DIR/flask-secret")"
        export MLFLOW_FLASK_SERVER_SECRET_KEY
        auth=(--app-name basic-auth)
    fi
    mkdir -p "$DIR/artifacts"
    # The backend URL has no password (libpq reads the pgpass file); the environment, not argv, carries it.
    # MLflow's job runner (huey consumer processes, for GenAI jobs) is off: nothing here submits jobs, and starting
    # it cost 40 CPU-seconds in 10 processes against 8 in 2 without it (an idle server's first 90 s, measured here).
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}" \
    PGPASSFILE="$DIR/pgpass" MLFLOW_BACKEND_STORE_URI="postgresql://pipeline@$HOST:$PGPORT/mlflow" \
        setsid nohup "$MLFLOW" server --artifacts-destination "$DIR/artifacts" --host "$HOST" --port "$MLFLOW_PORT" \
        --workers 2 "${auth[@]}" > "$DIR/mlflow.log" 2>&1 &
    echo $! > "$pid"
    for _ in $(seq 120); do
        if curl -s -o /dev/null "http://$HOST:$MLFLOW_PORT/health"; then warm_mlflow; return; fi
        kill -0 "$(cat "$pid")" 2>/dev/null || die "mlflow server exited; see $DIR/mlflow.log"
        sleep 1
    done
    die "mlflow server did not answer on port $MLFLOW_PORT within 120 s; see $DIR/mlflow.log"
}

# Each web worker pays several seconds for its first API request (imports, the auth database) on a busy machine;
# pay them here, before any step's 30-second connection check. Any HTTP answer counts (401 without credentials).
warm_mlflow() {
    for _ in 1 2 3 4; do
        curl -s -o /dev/null -m 60 "http://$HOST:$MLFLOW_PORT/api/2.0/mlflow/experiments/search?max_results=1" || true
    done
}

print_env() {
    echo "export PGPASSFILE=$DIR/pgpass"
    echo "export PIPELINE_OPTUNA_STORAGE=postgresql://pipeline@$HOST:$PGPORT/optuna"
    echo "export MLFLOW_TRACKING_URI=http://$HOST:$MLFLOW_PORT"
}

stop_all() {
    if [ -f "$DIR/mlflow.pid" ]; then
        # The server leads its own session: its web workers and job consumers go with it.
        kill -TERM -- "-$(cat "$DIR/mlflow.pid")" 2>/dev/null || true
        rm -f "$DIR/mlflow.pid"
    fi
    if [ -n "$PGBIN" ] && [ -f "$PGDATA/PG_VERSION" ]; then
        as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop > /dev/null 2>&1 || true
    fi
}

case "${1:-}" in
    start) start_postgres; start_mlflow "${2:-}"; print_env ;;
    start-postgres) start_postgres; print_env | head -n 2 ;;
    env) print_env ;;
    stop) stop_all ;;
    *) die "usage: $0 start [--auth] | start-postgres | env | stop" ;;
esac
