"""Which process holds a run open, and whether it still lives.

Every run a step starts carries the process that holds it (host:pid:start) and a heartbeat that process renews
every HEARTBEAT_SECONDS from a background thread. A process killed with SIGKILL, or a machine lost, ends none of its
runs: the next search or main finds them RUNNING and ends them FAILED (`runs.end_dead_runs`). On the same machine a
process that is gone is known dead at once; elsewhere, after MISSED_BEATS heartbeats missed.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import mlflow

HEARTBEAT_SECONDS = 20
MISSED_BEATS = 3
PROCESS_TAG, HEARTBEAT_TAG = "pipeline.process", "pipeline.heartbeat"

_held: dict[str, str] = {}  # run id -> tracking URI, the runs this process holds open
_lock = threading.Lock()
_beating: threading.Thread | None = None


def started(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot ('' where /proc is missing); None when there is no such
    process, or it has ended and only waits for its parent to collect it. With the pid it names one process, even
    after the system gives the pid to another."""
    if not os.path.exists("/proc/self/stat"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name (field 2, in parentheses) may hold spaces; then come the state (Z, X: ended) and,
            # as field 22, the start time.
            fields = stat.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def this_process() -> str:
    """This process as host:pid:start."""
    return f"{socket.gethostname()}:{os.getpid()}:{started(os.getpid()) or ''}"


def gone(process: str) -> bool | None:
    """Whether the process named host:pid[:start] is gone: True or False on this machine, None on another one (only
    its heartbeat can tell there)."""
    host, _, rest = process.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    now = started(int(pid))
    return now is None or bool(start and now and now != start)


def why_dead(tags: dict[str, str], start_time_ms: int, now: float | None = None) -> str:
    """Why a RUNNING run's process is dead ('' when it may be alive), from its tags: the process is gone from this
    machine, or its heartbeat (its start, for a run that never beat) is older than MISSED_BEATS beats."""
    process = tags.get(PROCESS_TAG, "")
    verdict = gone(process) if process else None
    if verdict is not None:
        return f"its process {process} is gone" if verdict else ""
    last = float(tags.get(HEARTBEAT_TAG) or start_time_ms / 1000)
    silent = (time.time() if now is None else now) - last
    if silent > MISSED_BEATS * HEARTBEAT_SECONDS:
        return f"no heartbeat for {silent:.0f} s" + (f" from {process}" if process else "")
    return ""


def first_tags() -> dict[str, str]:
    """The tags a run starts with: the process that holds it and its first heartbeat."""
    return {PROCESS_TAG: this_process(), HEARTBEAT_TAG: str(int(time.time()))}


def hold(run_id: str) -> None:
    """Keep the run's heartbeat fresh while this process holds it open."""
    global _beating
    with _lock:
        _held[run_id] = mlflow.get_tracking_uri()
        if _beating is None:
            _beating = threading.Thread(target=beat_forever, name="run-heartbeat", daemon=True)
            _beating.start()


def release(run_id: str) -> None:
    """Stop beating for a run this process has ended."""
    with _lock:
        _held.pop(run_id, None)


def beat_forever() -> None:
    """Renew the heartbeat of every run this process holds, every HEARTBEAT_SECONDS; a failed beat is tried again
    at the next one (a tracking server that is briefly away must not stop the step)."""
    while True:
        time.sleep(HEARTBEAT_SECONDS)
        with _lock:
            held = list(_held.items())
        for run_id, uri in held:
            with contextlib.suppress(Exception):  # any failed beat is the same: try again at the next one
                mlflow.MlflowClient(uri).set_tag(run_id, HEARTBEAT_TAG, str(int(time.time())))
