"""Where Optuna keeps a study: a SQLite file by default, or a shared database (PostgreSQL) that workers on several
machines use at once.

The storage URL carries a password when it points at a server, so it is best not typed on a command line:
`storage` takes `env:NAME` (the URL is in that environment variable) or `file:PATH` (the URL is that file's
first line), and with no value uses $PIPELINE_OPTUNA_STORAGE, then the default SQLite file. Whatever the source,
the password is remembered for redaction and shown as *** in everything logged or printed.
"""
from __future__ import annotations

import contextlib
import os
import warnings
import zlib
from pathlib import Path

import optuna

from pipeline import config, redaction
from pipeline.errors import InputError

STORAGE_VARIABLE = "PIPELINE_OPTUNA_STORAGE"
# Workers beat this often; a trial whose worker misses three beats is failed and re-queued by the others.
HEARTBEAT_SECONDS = 20
CONNECT_TIMEOUT_SECONDS = 5
# One PostgreSQL advisory lock serializes schema and study creation when workers start at the same moment.
CREATION_LOCK = zlib.crc32(b"pipeline optuna schema")


def resolve(value: str) -> str:
    """The storage URL that the `storage` parameter names (see the module's docstring)."""
    if value.startswith("env:"):
        name = value[4:]
        if not os.environ.get(name):
            raise InputError(None, f"storage {value}: environment variable {name} is not set")
        url = os.environ[name]
    elif value.startswith("file:"):
        path = Path(value[5:]).expanduser()
        try:
            url = path.read_text().strip().splitlines()[0]
        except (OSError, IndexError) as exc:
            raise InputError(path, f"cannot read a storage URL from it ({exc or 'empty file'})") from None
    elif password_of(value):
        # `mlflow run` logs its parameters as given, before any code of ours could mask them.
        raise InputError(None, "storage: the URL has a password in it; put the URL in an environment variable or a "
                               "file and pass storage=env:NAME or storage=file:PATH")
    elif value:
        url = value
    else:
        url = os.environ.get(STORAGE_VARIABLE) or config.default_optuna_storage()
    redaction.remember(password_of(url))
    return url


def password_of(url: str) -> str | None:
    """The password in a database URL, if it has one."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None


def masked(url: str) -> str:
    """The URL as it may be shown: its password replaced by ***."""
    return redaction.redact(url)


def open_storage(url: str, heartbeat_seconds: int = HEARTBEAT_SECONDS,
                 stale_trial_callback=None) -> optuna.storages.RDBStorage:
    """Open the storage (creating its tables if needed), with heartbeats so crashed workers' trials are failed.
    Call it under `reporting_errors` and, when workers may start together, `creation_lock`."""
    engine_kwargs = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    with warnings.catch_warnings():
        # Heartbeats are marked experimental in Optuna 4; they are what makes a crashed worker's trial recoverable.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_seconds,
                                          grace_period=3 * heartbeat_seconds,
                                          heartbeat_stale_trial_callback=stale_trial_callback)


@contextlib.contextmanager
def reporting_errors(url: str):
    """Unreachable servers, wrong passwords and unknown databases become one InputError, password masked."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise InputError(None, f"cannot open the Optuna storage {masked(url)}: {redaction.redact(reason)}") \
            from None


@contextlib.contextmanager
def creation_lock(url: str):
    """Hold PostgreSQL's advisory lock while tables and studies are created; SQLite serializes writers itself."""
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": CREATION_LOCK})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": CREATION_LOCK})
    finally:
        engine.dispose()
