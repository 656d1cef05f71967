"""Steps of the workflow as child runs: a step's identity (parameters, upstream runs, code), reuse of a finished one, and copying the report out."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

import mlflow

from pipeline import config
from pipeline.tracking.runs import download_artifact, find_runs


def code_version() -> str:
    """A digest of the project's code (pipeline/, models/, MLproject, conda.yaml): any change re-runs steps.

    Unlike a git commit, it also sees uncommitted edits.
    """
    import hashlib

    digest = hashlib.sha256()
    files = sorted([*config.ROOT.glob("pipeline/**/*.py"), *config.ROOT.glob("models/**/*.py"),
                    config.ROOT / "MLproject", config.ROOT / "conda.yaml"])
    for path in files:
        digest.update(str(path.relative_to(config.ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def step_key(entry_point: str, parameters: Mapping[str, Any], upstream: list[str], code: str) -> str:
    """What makes two runs of a step the same: entry point, parameters, upstream runs and code version."""
    import hashlib

    text = json.dumps({"entry_point": entry_point, "parameters": {k: str(v) for k, v in sorted(parameters.items())},
                       "upstream": list(upstream), "code": code}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def run_entry_point(entry_point: str, parameters: Mapping[str, Any], upstream: list[str] = (),
                    force: bool = False, run_name: str | None = None) -> tuple[str, bool]:
    """Run one of the project's entry points as a child of the active run, in its experiment, unless a finished
    run with the same step key exists there (reused instead). Returns (run id, reused).

    Like MLflow's multistep example, each step is its own `mlflow run` in the installed environment; unlike it,
    reuse also requires the same code and the same upstream runs.
    """
    import mlflow.projects

    parent = mlflow.active_run()
    key = step_key(entry_point, parameters, list(upstream), code_version())
    if not force:
        found = find_runs(f"tags.step_key = '{key}' and attributes.status = 'FINISHED'",
                          [parent.info.experiment_id], max_results=1)
        if found:
            return found[0].info.run_id, True
    try:
        submitted = mlflow.projects.run(
            str(config.ROOT), entry_point=entry_point, parameters={k: str(v) for k, v in parameters.items()},
            experiment_id=parent.info.experiment_id, env_manager="local", run_name=run_name)
    except mlflow.exceptions.ExecutionException as exc:
        from pipeline.errors import StepFailed

        raise StepFailed(f"step {entry_point} failed ({exc}); its output above says why") from None
    # Tagged only once it finished: a failed or interrupted step is never taken for a finished one.
    mlflow.MlflowClient().set_tag(submitted.run_id, "step_key", key)
    return submitted.run_id, False


def copy_report(report_run_id: str, out: Path) -> Path:
    """Write a report run's report.md, report.html and figures to `out` (report.md) and log them to the active run."""
    import shutil

    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("report.md", "report.html", "report_files"):
            local = download_artifact(report_run_id, name, tmp)
            mlflow.log_artifact(str(local))
            target = out if name == "report.md" else out.with_suffix(".html") if name == "report.html" \
                else out.parent / name
            if local.is_dir():
                shutil.copytree(local, target, dirs_exist_ok=True)
            else:
                shutil.copy(local, target)
    return out


