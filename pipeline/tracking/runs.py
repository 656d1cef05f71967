"""The one place that talks to MLflow: where runs go, how they start, and how steps log what they made."""
from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import mlflow
import numpy as np

from pipeline import config
from pipeline.redaction import redact
from pipeline.tracking import liveness

# MLflow refuses parameter values longer than this.
MAX_PARAM_CHARS = 6000


_checked: set[str] = set()


def configure() -> str:
    """Use $MLFLOW_TRACKING_URI when set, else the project's SQLite store; returns the URI in use.
    A tracking server is asked once whether it answers and takes our credentials, so a wrong URL or password
    fails in seconds instead of after MLflow's minutes of retries."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or config.DEFAULT_TRACKING_URI
    if uri.startswith(("http://", "https://")) and uri not in _checked:
        check_server(uri)
        _checked.add(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def check_server(uri: str, timeout: int = 30) -> None:
    """Raise InputError unless the tracking server at `uri` answers and accepts $MLFLOW_TRACKING_USERNAME/PASSWORD.

    MLflow's client asks once, without its retries; `timeout` leaves room for a busy server's slow first answer.
    """
    from pipeline.errors import InputError

    with environment({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout)}):
        try:
            mlflow.MlflowClient(uri).search_experiments(max_results=1)
        except mlflow.exceptions.MlflowException as exc:
            code, reason = http_failure(exc)
            if code is None:
                raise InputError(None, f"tracking server {uri} does not answer: {reason}") from None
            if code in (401, 403):
                raise InputError(None, f"tracking server {uri} refused the credentials (HTTP {code}); set "
                                 "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD") from None
            raise InputError(None, f"tracking server {uri} answered HTTP {code}") from None


def http_failure(error: mlflow.exceptions.MlflowException) -> tuple[int | None, str]:
    """Why a request of MLflow's client failed: (HTTP status, "") when the server answered, else (None, the
    innermost reason, such as "[Errno 111] Connection refused" or "timed out")."""
    import requests

    cause = error.__cause__ or error.__context__
    if not isinstance(cause, requests.exceptions.RequestException):
        return error.get_http_status_code(), ""
    reason = str(innermost(cause))
    # A status MLflow would retry (429, 5xx) ends, without retries, as urllib3's "too many 503 error responses".
    retried = re.search(r"too many (\d{3}) error responses", reason)
    return (int(retried.group(1)), "") if retried else (None, reason)


def innermost(error: BaseException) -> BaseException:
    """The exception at the bottom of the layers requests and urllib3 wrap around a failed request."""
    while True:
        inner = [e for e in (getattr(error, "reason", None), error.__cause__, error.__context__, *error.args[:1])
                 if isinstance(e, BaseException)]
        if not inner:
            return error
        error = inner[0]


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def on_default_store() -> bool:
    """True when runs go to the project's own mlflow.db (not a server the user chose)."""
    return mlflow.get_tracking_uri() == config.DEFAULT_TRACKING_URI


def experiment_id(name: str) -> str:
    """The id of experiment `name`, created if needed, its artifacts under the project's mlruns/ by default."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if on_default_store():
        # Anchor artifacts at the root rather than at whatever folder the command ran from.
        location = (config.DEFAULT_ARTIFACT_ROOT / name.replace("/", "_")).as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


# MLflow 3's experiment kind, "Machine learning" in its UI. The 3.17 UI itself picks an experiment's first page (runs,
# or the GenAI overview) by its GenAI / Model training switch, not by this tag: `runs_page` sets that switch.
EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


def mark_model_training(experiment_id: str) -> None:
    """Tag an experiment as model training (MLflow 3's experiment kind), unless it has a kind already."""
    client = mlflow.MlflowClient()
    if EXPERIMENT_KIND not in client.get_experiment(experiment_id).tags:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)


def runs_page(experiment_id: str, tracking_uri: str) -> str:
    """The address of an experiment's runs in the MLflow UI's Model training view: on the tracking server
    `tracking_uri` names, or, for a database, where `mlflow ui` serves by default."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


@contextlib.contextmanager
def start_run(default_experiment: str, run_name: str | None = None, *, nested: bool = False,
              tags: Mapping[str, str] | None = None, parent_run_id: str | None = None,
              killed_by: tuple[type[BaseException], ...] = ()) -> Iterator[mlflow.ActiveRun]:
    """Start (or, under `mlflow run`, resume) a run; a nested one goes under the active run, or under
    `parent_run_id` (a run another process started: a search's workers put their trials under it).

    The experiment is the parent's when nesting, $MLFLOW_EXPERIMENT_NAME/ID when set (as `mlflow run`
    sets them), else `default_experiment`. The run ends FINISHED, or KILLED when one of `killed_by` (or an
    interrupt) escapes, or FAILED on any other exception. While open it carries this process and its heartbeat
    (`liveness`), so a run this process leaves behind when killed is ended by the next search or main.
    """
    configure()
    # Tag values are strings on the wire (a tracking server refuses others).
    tags = {key: redact(str(value)) for key, value in (tags or {}).items()} | liveness.first_tags()
    kwargs: dict[str, Any] = {"run_name": run_name, "tags": tags}
    parent = mlflow.active_run()
    if parent_run_id and parent is None:
        kwargs.update(parent_run_id=parent_run_id, experiment_id=get_run(parent_run_id).info.experiment_id)
    elif nested and parent is not None:
        kwargs.update(nested=True, experiment_id=parent.info.experiment_id)
    elif "MLFLOW_RUN_ID" in os.environ and parent is None:
        # Launched by `mlflow run`: the run exists already; it takes no new name. The variable is consumed,
        # or MLflow would resume this same run for every nested run started later.
        kwargs = {"run_id": os.environ.pop("MLFLOW_RUN_ID"), "tags": kwargs["tags"]}
    elif not (os.environ.get("MLFLOW_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_ID")):
        kwargs["experiment_id"] = experiment_id(default_experiment)
    run = mlflow.start_run(**kwargs)
    if parent is None and not parent_run_id:
        mark_model_training(run.info.experiment_id)
    if "run_id" in kwargs:
        mlflow.set_tags(dict(tags))  # start_run ignores tags when it resumes a run
    liveness.hold(run.info.run_id)
    try:
        yield run
    except (KeyboardInterrupt, *killed_by):
        mlflow.end_run("KILLED")
        raise
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    else:
        mlflow.end_run("FINISHED")
    finally:
        liveness.release(run.info.run_id)


def end_lost_run(run_id: str, why: str) -> bool:
    """End a run whose process died without ending it (killed, machine lost): FAILED, with the reason. False when
    the run had ended already."""
    client = mlflow.MlflowClient()
    if client.get_run(run_id).info.status != "RUNNING":
        return False
    client.set_tag(run_id, "lost", why)
    client.set_terminated(run_id, "FAILED")
    return True


def end_dead_runs(filter_string: str, experiment_ids: list[str] | None = None) -> list[str]:
    """End FAILED the RUNNING runs matching `filter_string` (in `experiment_ids`, or in all experiments) whose
    process is dead, and the dead runs nested under them, each tagged `lost` with why; returns their ids."""
    running = " and ".join(f for f in (filter_string, "attributes.status = 'RUNNING'") if f)
    ended = []
    for run in find_runs(running, experiment_ids, max_results=1000):
        why = dead_because(run)
        if why and end_lost_run(run.info.run_id, why):
            ended.append(run.info.run_id)
            ended += end_dead_runs(f"tags.mlflow.parentRunId = '{run.info.run_id}'", [run.info.experiment_id])
    return ended


def dead_because(run: mlflow.entities.Run) -> str:
    """Why a RUNNING run's process is dead, '' when it may be alive (`liveness.why_dead`). A run that no process has
    taken up yet (one `mlflow run` created for a step that is still starting) lives as long as the run that
    launched it."""
    tags, parent_id = run.data.tags, run.data.tags.get("mlflow.parentRunId")
    if liveness.PROCESS_TAG in tags or not parent_id:
        return liveness.why_dead(tags, run.info.start_time)
    parent = run_or_none(parent_id)
    if parent is None or parent.info.status != "RUNNING":
        return "it never started, and the run that launched it has ended"
    why = dead_because(parent)
    return f"it never started, and the run that launched it is dead ({why})" if why else ""


def active_run_id() -> str:
    """The id of the active run."""
    return mlflow.active_run().info.run_id


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts become dotted keys, so every choice is its own column in the UI."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def param_text(value: Any) -> str:
    """A parameter as MLflow stores it; booleans in lower case, as `mlflow run` logs them from the command line."""
    if isinstance(value, bool):
        return str(value).lower()
    return str("none" if value is None else value)[:MAX_PARAM_CHARS]


def log_params(params: Mapping[str, Any]) -> None:
    """Log (possibly nested) parameters; None becomes 'none', long values are cut to MLflow's limit."""
    flat = {key: redact(param_text(value)) for key, value in flatten(params).items()}
    # `mlflow run` has logged the entry point's parameters as typed; a value resolved from them (a default
    # filled in, 1.0 read as 1) is kept beside the original rather than refused as a change.
    logged = mlflow.get_run(mlflow.active_run().info.run_id).data.params
    fresh = {(key if key not in logged else f"{key}.resolved"): value
             for key, value in flat.items() if logged.get(key) != value}
    if fresh:
        mlflow.log_params(fresh)


def resolved_param(params: Mapping[str, str], key: str, default: str | None = None) -> str | None:
    """A logged parameter's value as the step used it: its `.resolved` twin (see `log_params`) when there is one."""
    return params.get(f"{key}.resolved", params.get(key, default))


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log numeric metrics as floats; None is skipped (NaN, from a diverged model, is logged as NaN)."""
    mlflow.log_metrics({key: float(value) for key, value in metrics.items() if value is not None}, step=step)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Tag the active run."""
    mlflow.set_tags({key: redact(str(value)) for key, value in tags.items()})


def log_figure(figure, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG artifact and close it."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(figure, artifact_file)
    plt.close(figure)


def log_table(table, artifact_file: str, markdown: bool = False) -> None:
    """Log a pandas DataFrame as CSV (and as a Markdown twin beside it, same name ending .md, when asked)."""
    mlflow.log_text(table.to_csv(index=False), artifact_file)
    if markdown:
        mlflow.log_text(table.to_markdown(index=False) + "\n", str(PurePosixPath(artifact_file).with_suffix(".md")))


def log_json(obj: Any, artifact_file: str) -> None:
    """Log a JSON-serialisable object as a JSON artifact."""
    mlflow.log_text(json.dumps(obj, indent=2, default=str) + "\n", artifact_file)


def log_file(path: str | Path, artifact_path: str | None = None) -> None:
    """Log a file as an artifact."""
    mlflow.log_artifact(str(path), artifact_path=artifact_path)


def log_artifacts(folder: str | Path, artifact_path: str) -> None:
    """Log a folder's files as artifacts under `artifact_path`."""
    mlflow.log_artifacts(str(folder), artifact_path=artifact_path)


def log_dataset(features: np.ndarray, targets: np.ndarray, *, name: str, context: str, source: str,
                digest: str) -> None:
    """Record a data split as an MLflow dataset input, with the digest of its full contents."""
    with warnings.catch_warnings():
        # MLflow registers its local-file source class twice and then warns that a path is ambiguous.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_numpy(features, targets=targets, source=Path(source).resolve().as_uri(),
                                         name=name, digest=digest[:36])
    mlflow.log_input(dataset, context=context)


def log_splits(splits, names: tuple[str, ...] = ("train", "validation", "test")) -> None:
    """Record processed splits (pipeline.datasets.splits.Splits) as dataset inputs, each named
    <dataset>-<split> with the digest its manifest gives, so every step that reads them logs the same inputs."""
    manifest = splits.manifest
    for name in names:
        log_dataset(splits[name].x, splits[name].y, name=f"{manifest['dataset']}-{name}", context=name,
                    source=str(splits.folder), digest=manifest["splits"][name]["sha256"].replace(":", ""))


def find_runs(filter_string: str, experiment_ids: list[str] | None = None, max_results: int = 100,
              order_by: tuple[str, ...] = ("attributes.start_time DESC",)) -> list[mlflow.entities.Run]:
    """Runs matching an MLflow filter, newest first, in the given experiments or in all of them."""
    configure()
    if experiment_ids is None:
        experiment_ids = [e.experiment_id for e in mlflow.search_experiments()]
    return mlflow.search_runs(experiment_ids, filter_string=filter_string, max_results=max_results,
                              order_by=list(order_by), output_format="list")


def get_run(run_id: str) -> mlflow.entities.Run:
    """A run by id."""
    configure()
    return mlflow.get_run(run_id)


def run_or_none(run_id: str) -> mlflow.entities.Run | None:
    """A run by id, or None when the store has no such run."""
    configure()
    try:
        return mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def load_json_artifact(run_id: str, artifact_file: str) -> Any:
    """A JSON artifact of a run, parsed."""
    configure()
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{artifact_file}")


def download_artifact(run_id: str, artifact_path: str, dst: str | Path) -> Path:
    """Copy a run's artifact (file or folder) to `dst`; returns the local path."""
    configure()
    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path,
                                                    dst_path=str(dst)))
