"""Steps of the workflow as child runs: a step's identity (parameters, upstream runs, code), reuse of a finished one, and copying the report out."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import mlflow

from pipeline import config
from pipeline.tracking.runs import download_artifact, find_runs

# What a report run logs: the report, its HTML rendering, and the folder of figures both point to.
REPORT_FIGURES = "report_files"
REPORT_FILES = ("report.md", "report.html", REPORT_FIGURES)


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
    out = out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        for name in REPORT_FILES:
            mlflow.log_artifact(str(download_artifact(report_run_id, name, tmp)))
        place_report(Path(tmp), out)
    return out


def place_report(folder: Path, out: Path) -> None:
    """Copy the report in `folder` to `out` (report.md), report.html beside it, and its figures into a report_files/
    folder beside it that holds them alone: figures of an earlier report there are removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = out.parent / REPORT_FIGURES
    if figures.exists():
        shutil.rmtree(figures)
    shutil.copytree(folder / REPORT_FIGURES, figures)
    shutil.copy(folder / "report.md", out)
    shutil.copy(folder / "report.html", out.with_suffix(".html"))
