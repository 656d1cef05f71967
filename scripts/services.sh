#!/usr/bin/env bash
# PostgreSQL and an MLflow tracking server, for the tests, for trying out a shared study on one machine, and for
# the machine that hosts them for a cluster (docs/cluster.md).
#
#   scripts/services.sh start [--auth] [--allow NETWORK]... [--tls CERT KEY]
#                                        start both (the first time: create the cluster, role and databases)
#   scripts/services.sh start-postgres [--allow NETWORK]... [--tls CERT KEY]   only PostgreSQL
#   scripts/services.sh env              print the variables a worker on this machine exports
#   scripts/services.sh stop             stop both
#
# PostgreSQL is Debian's `postgresql` package (its binaries under /usr/lib/postgresql/*/bin). The role `pipeline`
# may log in and owns the databases `optuna` and `mlflow`; it cannot create roles or databases, and no other
# role may connect to them. Its password (from $PIPELINE_DB_PASSWORD, or generated once) lives in a pgpass file,
# so no URL, command line or log holds it. With --auth the tracking server runs MLflow's basic-auth app, its
# admin from $MLFLOW_AUTH_ADMIN_USERNAME / $MLFLOW_AUTH_ADMIN_PASSWORD.
#
# Who may connect to PostgreSQL (pg_hba.conf, rewritten at every start): the operating-system superuser over the
# socket, anyone with a password over loopback, and `pipeline` with its password from each --allow NETWORK
# (CIDR, such as 10.0.0.0/24) to `optuna` and `mlflow` only. --tls CERT KEY turns on TLS for PostgreSQL and the
# tracking server (https); clients from an --allow network must then use it.
#
# Settings: SERVICES_DIR (default data/services), PGPORT (default 55432), MLFLOW_PORT (default 55000),
# SERVICES_HOST (default 127.0.0.1: loopback only). Another address (one the workers reach) needs --allow, and
# should come with --auth; PostgreSQL then listens on loopback too, where the tracking server reaches it.
# Changing the address or TLS takes a stop first; a start on running services only rewrites pg_hba.conf.
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
# Python beside mlflow (the project's environment) reads network addresses; its standard library suffices.
PYTHON="$(dirname "$MLFLOW")/python"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
TLS_DIR="$DIR/tls"
USAGE="usage: $0 start [--auth] [--allow NETWORK]... [--tls CERT KEY] | start-postgres [--allow NETWORK]... \
[--tls CERT KEY] | env | stop"

# What `start` was asked for (parse_options fills them).
AUTH=""
ALLOW=()
TLS_CERT=""
TLS_KEY=""

die() { echo "error: $*" >&2; exit 2; }

# PostgreSQL refuses to run as root: as root, its files and processes belong to the `postgres` user.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The cluster's superuser is the operating-system user running it, and it logs in only over the socket (peer).
SUPERUSER="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
psql_admin() { as_postgres "$PGBIN/psql" -h "$DIR" -p "$PGPORT" -U "$SUPERUSER" -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

is_loopback() { case "$1" in 127.*|::1|localhost) return 0 ;; *) return 1 ;; esac; }

# `NETWORK` in the form pg_hba.conf takes (10.0.0.0/24; an address alone is its /32 or /128), or one error line.
network() {
    "$PYTHON" -c '
import ipaddress, sys
try:
    print(ipaddress.ip_network(sys.argv[1]))
except ValueError as exc:
    sys.exit(f"error: --allow {sys.argv[1]} is not a network: {exc}")' "$1"
}

# Read start's options; everything is checked here, before anything starts.
parse_options() {
    local net
    while [ $# -gt 0 ]; do
        case "$1" in
            --auth) AUTH=1; shift ;;
            --allow)
                [ $# -ge 2 ] || die "--allow needs a network, such as 10.0.0.0/24"
                net="$(network "$2")" || exit 2
                ALLOW+=("$net"); shift 2 ;;
            --tls)
                [ $# -ge 3 ] || die "--tls needs a certificate file and its key file"
                TLS_CERT="$2"; TLS_KEY="$3"; shift 3 ;;
            *) die "unknown option $1; $USAGE" ;;
        esac
    done
    if [ -n "$TLS_CERT" ]; then
        [ -r "$TLS_CERT" ] || die "--tls: cannot read the certificate $TLS_CERT"
        [ -r "$TLS_KEY" ] || die "--tls: cannot read the key $TLS_KEY"
    fi
    is_loopback "$HOST" || [ ${#ALLOW[@]} -gt 0 ] ||
        die "SERVICES_HOST=$HOST is not loopback: name the workers' network with --allow NETWORK"
    [ -z "$AUTH" ] || { [ -n "${MLFLOW_AUTH_ADMIN_USERNAME:-}" ] && [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ]; } ||
        die "--auth needs MLFLOW_AUTH_ADMIN_USERNAME and MLFLOW_AUTH_ADMIN_PASSWORD"
}

# Where this machine's own clients (the tracking server, workers here) reach PostgreSQL: loopback.
if is_loopback "$HOST"; then LOCAL_HOST="$HOST"; else LOCAL_HOST=127.0.0.1; fi

tls_on() { [ -s "$TLS_DIR/server.crt" ]; }

password() {
    if [ ! -s "$DIR/db-password" ]; then
        (umask 077; printf '%s' "${PIPELINE_DB_PASSWORD:-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')}" \
            > "$DIR/db-password")
    fi
    cat "$DIR/db-password"
}

# A value as an SQL string literal: quotes doubled (the cluster keeps standard_conforming_strings on, so a
# backslash is an ordinary character).
sql_literal() { local quote="'"; printf "'%s'" "${1//$quote/$quote$quote}"; }

# A line of the pgpass file for `pipeline` at host $1 with password $2; libpq reads `\` and `:` escaped.
pgpass_line() {
    local host="${1//\\/\\\\}" pw="${2//\\/\\\\}"
    printf '%s:%s:*:pipeline:%s\n' "${host//:/\\:}" "$PGPORT" "${pw//:/\\:}"
}

# Who may connect, rewritten at every start so that it says exactly what this start was asked for. With TLS on,
# the workers' networks get `hostssl`: a connection from there without TLS matches no line and is refused.
write_pg_hba() {
    local kind=host net
    if tls_on; then kind=hostssl; fi
    {
        echo "# Written by scripts/services.sh at every start."
        echo "local all all peer"
        echo "host all all 127.0.0.1/32 scram-sha-256"
        echo "host all all ::1/128 scram-sha-256"
        for net in "${ALLOW[@]}"; do echo "$kind optuna,mlflow pipeline $net scram-sha-256"; done
    } > "$PGDATA/pg_hba.conf"
}

# The certificate and key where PostgreSQL (as `postgres`) and the tracking server read them; PostgreSQL insists
# that the key be readable by its own user only.
install_tls() {
    rm -rf "$TLS_DIR"
    if [ -z "$TLS_CERT" ]; then return; fi
    mkdir -p "$TLS_DIR"
    cp "$TLS_CERT" "$TLS_DIR/server.crt"
    (umask 077; cp "$TLS_KEY" "$TLS_DIR/server.key")
    if [ "$(id -u)" = 0 ]; then chown postgres "$TLS_DIR/server.crt" "$TLS_DIR/server.key"; fi
}

start_postgres() {
    [ -n "$PGBIN" ] || die "PostgreSQL is not installed (Debian: apt-get install postgresql)"
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        mkdir -p "$PGDATA"
        [ "$(id -u)" = 0 ] && chown postgres "$DIR" "$PGDATA"
        as_postgres "$PGBIN/initdb" -D "$PGDATA" -U "$SUPERUSER" --auth-local=peer --auth-host=scram-sha-256 \
            > "$DIR/initdb.log"
    fi
    if as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" status > /dev/null 2>&1; then
        local asked=off running=off
        if [ -n "$TLS_CERT" ]; then asked=on; fi
        if tls_on; then running=on; fi
        [ "$asked" = "$running" ] || die "PostgreSQL is running with TLS $running: stop it to turn TLS $asked"
        write_pg_hba
        as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" reload > /dev/null
    else
        install_tls
        write_pg_hba
        local listen="$HOST" ssl=""
        is_loopback "$HOST" || listen="127.0.0.1,$HOST"
        if tls_on; then ssl="-c ssl=on -c ssl_cert_file=$TLS_DIR/server.crt -c ssl_key_file=$TLS_DIR/server.key"; fi
        as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start \
            -o "-c listen_addresses=$listen -p $PGPORT -k $DIR $ssl" > /dev/null
    fi
    create_role_and_databases
}

# Idempotent. The password travels on psql's standard input as a quoted literal, never on a command line.
create_role_and_databases() {
    local pw; pw="$(password)"
    psql_admin <<SQL
SELECT 'CREATE ROLE pipeline LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE' WHERE NOT EXISTS
    (SELECT FROM pg_roles WHERE rolname = 'pipeline') \gexec
ALTER ROLE pipeline PASSWORD $(sql_literal "$pw");
SELECT 'CREATE DATABASE optuna OWNER pipeline' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'optuna') \gexec
SELECT 'CREATE DATABASE mlflow OWNER pipeline' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow') \gexec
REVOKE ALL ON DATABASE optuna FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;
SQL
    (umask 077; { pgpass_line "$LOCAL_HOST" "$pw"; is_loopback "$HOST" || pgpass_line "$HOST" "$pw"; } \
        > "$DIR/pgpass")
}

# MLflow's basic-auth app: its configuration (admin from the environment) and a CSRF key that outlives restarts.
configure_auth() {
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
    [ -s "$DIR/flask-secret" ] || (umask 077; head -c 32 /dev/urandom | base64 > "$DIR/flask-secret")
    MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat "$DIR/flask-secret")"
    export MLFLOW_FLASK_SERVER_SECRET_KEY
}

tracking_uri() { if tls_on; then echo "https://$HOST:$MLFLOW_PORT"; else echo "http://$HOST:$MLFLOW_PORT"; fi; }

start_mlflow() {
    local options=() pid="$DIR/mlflow.pid"
    if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then return; fi
    if [ -n "$AUTH" ]; then configure_auth; options+=(--app-name basic-auth); fi
    if tls_on; then
        options+=(--uvicorn-opts "--ssl-certfile $TLS_DIR/server.crt --ssl-keyfile $TLS_DIR/server.key")
    fi
    mkdir -p "$DIR/artifacts"
    # The backend URL has no password (libpq reads the pgpass file); the environment, not argv, carries it.
    # MLflow's job runner (huey consumer processes, for GenAI jobs) is off: nothing here submits jobs, and starting
    # it cost 40 CPU-seconds in 10 processes against 8 in 2 without it (an idle server's first 90 s, measured here).
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}" \
    PGPASSFILE="$DIR/pgpass" MLFLOW_BACKEND_STORE_URI="postgresql://pipeline@$LOCAL_HOST:$PGPORT/mlflow" \
        setsid nohup "$MLFLOW" server --artifacts-destination "$DIR/artifacts" --host "$HOST" --port "$MLFLOW_PORT" \
        --workers 2 "${options[@]}" > "$DIR/mlflow.log" 2>&1 &
    echo $! > "$pid"
    for _ in $(seq 120); do
        if tracking_answers /health; then warm_mlflow; return; fi
        kill -0 "$(cat "$pid")" 2>/dev/null || die "mlflow server exited; see $DIR/mlflow.log"
        sleep 1
    done
    die "mlflow server did not answer on port $MLFLOW_PORT within 120 s; see $DIR/mlflow.log"
}

# Whether the tracking server answers at `path` at all (any HTTP status). It sends no credentials, so with TLS it
# need not check the certificate: the clients do that.
tracking_answers() { curl -s -k -o /dev/null -m 60 "$(tracking_uri)$1"; }

# Each web worker pays several seconds for its first API request (imports, the auth database) on a busy machine;
# pay them here, before any step's 30-second connection check. Any HTTP answer counts (401 without credentials).
warm_mlflow() {
    for _ in 1 2 3 4; do tracking_answers "/api/2.0/mlflow/experiments/search?max_results=1" || true; done
}

# The variables a worker on this machine exports (only PostgreSQL's with `postgres`). With TLS, clients check the
# server's certificate against the one it was started with.
print_env() {
    local storage="postgresql://pipeline@$HOST:$PGPORT/optuna"
    # Quoted only when the URL has an `&`, so the plain line stays KEY=VALUE for whoever reads it without a shell.
    if tls_on; then storage="'$storage?sslmode=verify-full&sslrootcert=$TLS_DIR/server.crt'"; fi
    echo "export PGPASSFILE=$DIR/pgpass"
    echo "export PIPELINE_OPTUNA_STORAGE=$storage"
    if [ "${1:-}" = postgres ]; then return; fi
    echo "export MLFLOW_TRACKING_URI=$(tracking_uri)"
    if tls_on; then echo "export MLFLOW_TRACKING_SERVER_CERT_PATH=$TLS_DIR/server.crt"; fi
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
    start) shift; parse_options "$@"; start_postgres; start_mlflow; print_env ;;
    start-postgres)
        shift; parse_options "$@"
        [ -z "$AUTH" ] || die "--auth belongs to start (the tracking server); start-postgres starts PostgreSQL only"
        start_postgres; print_env postgres ;;
    env) print_env ;;
    stop) stop_all ;;
    *) die "$USAGE" ;;
esac
