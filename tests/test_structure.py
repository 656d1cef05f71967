"""The project's shape, checked by scripts/check_structure.py: no import cycles, arrows down, short functions."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeline import config

SCRIPT = config.ROOT / "scripts" / "check_structure.py"


def check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, timeout=120)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_project_passes_its_structure_check():
    done = check(config.ROOT)
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("structure ok:")


def test_an_import_cycle_fails_the_check_even_through_a_function_level_import(tmp_path):
    root = write(tmp_path, {"pipeline/__init__.py": "", "pipeline/a.py": "from pipeline import b\n",
                            "pipeline/b.py": "def f():\n    from pipeline import a\n"})
    done = check(root)
    assert done.returncode == 1
    assert "import cycle: pipeline.a <-> pipeline.b" in done.stdout


def test_a_function_over_sixty_lines_fails_the_check(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    root = write(tmp_path, {"models/__init__.py": "", "models/long.py": f"def builder():\n{body}",
                            "models/short.py": "def builder():\n" + body[:-len('    x59 = 59\n')]})
    done = check(root)
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["models/long.py:1: builder is 61 lines (at most 60)"]


def test_an_upward_arrow_and_the_serving_package_importing_pipeline_fail_the_check(tmp_path):
    root = write(tmp_path, {"pipeline/__init__.py": "", "pipeline/steps/__init__.py": "",
                            "pipeline/steps/clock.py": "", "pipeline/datasets/__init__.py": "",
                            "pipeline/datasets/splits.py": "import pipeline.steps.clock\n",
                            "pipeline/serving/__init__.py": "", "pipeline/errors.py": "",
                            "pipeline/serving/reader.py": "from pipeline.errors import X\n",
                            "benchmarks/probe.py": "from tests.conftest import y\n", "tests/conftest.py": ""})
    lines = check(root).stdout.splitlines()
    assert any(line.startswith("pipeline.datasets.splits (layer 2) imports pipeline.steps.clock (layer 4)")
               for line in lines)
    assert "pipeline.serving.reader imports pipeline.errors: the serving package must not import pipeline" in lines
    assert "benchmarks.probe imports tests.conftest: tools must not import the tests" in lines


def test_relative_imports_and_imports_of_a_parent_package_count(tmp_path):
    root = write(tmp_path, {"pipeline/__init__.py": "", "pipeline/steps/__init__.py": "",
                            "pipeline/steps/run.py": "", "pipeline/clock/__init__.py": "from . import training\n",
                            "pipeline/clock/training.py": "from pipeline.clock import training_helpers\n"
                                                          "from ..steps import run\n",
                            "pipeline/clock/training_helpers.py": "from pipeline import clock\n"})
    lines = check(root).stdout.splitlines()
    assert any(line.startswith("import cycle: pipeline.clock <-> ") for line in lines)
    assert any(line.startswith("pipeline.clock.training (layer 3) imports pipeline.steps.run (layer 4)")
               for line in lines)


def test_type_checking_imports_tie_nothing_and_an_unlayered_module_is_named(tmp_path):
    root = write(tmp_path, {"pipeline/__init__.py": "", "pipeline/steps/__init__.py": "",
                            "pipeline/steps/run.py": "", "pipeline/datasets/__init__.py": "",
                            "pipeline/datasets/splits.py": "from typing import TYPE_CHECKING\n"
                                                           "if TYPE_CHECKING:\n    from pipeline.steps import run\n",
                            "pipeline/newthing.py": ""})
    assert check(root).stdout.splitlines() == [
        "pipeline.newthing is in no layer: add it to LAYERS in scripts/check_structure.py"]

