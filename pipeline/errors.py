"""The error raised where bad input enters, naming the file and the problem."""
from __future__ import annotations

from pathlib import Path


class StepFailed(Exception):
    """A step of the workflow ended in failure; its own output says why."""


class InputError(Exception):
    """Bad input (missing, corrupt or malformed file, out-of-range labels): one line for the user."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
