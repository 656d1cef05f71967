"""The project's own files agree with each other: conda.yaml with pyproject.toml, MLproject with the modules."""
from __future__ import annotations

import importlib
import re

import tomllib
import yaml

from pipeline import config

ROOT = config.ROOT


def test_conda_environment_pins_what_pyproject_requires():
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(pip) == sorted(project)
    assert any(str(d).startswith("python=") for d in conda["dependencies"])


def test_every_entry_point_runs_a_module_with_a_main_and_passes_every_parameter():
    project = yaml.safe_load((ROOT / "MLproject").read_text())
    assert {"main", "preprocess", "render_clocks", "search", "transfer", "clock", "clock_compare",
            "predict"} <= set(project["entry_points"])
    for name, entry in project["entry_points"].items():
        module = re.match(r"python -m ([\w.]+)", entry["command"]).group(1)
        assert callable(importlib.import_module(module).main), name
        for parameter in entry.get("parameters", {}):
            assert f"{{{parameter}}}" in entry["command"], f"{name}: {parameter} is never passed on"


def test_generated_files_stay_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    for pattern in ("mlflow.db", "mlruns/*", "data/*", ".venv/"):
        assert pattern in ignored
