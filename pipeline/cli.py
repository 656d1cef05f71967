"""Command-line plumbing shared by the entry points: one clear error line, `--debug` for the traceback."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Callable, Sequence

from pipeline.errors import InputError, StepFailed
from pipeline.redaction import redact

# TensorFlow's C++ start-up chatter buries the lines a user needs; --debug brings it back.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the `--debug` flag every entry point has."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return p


def boolean(text: str) -> bool:
    """Parse true/false the way MLproject parameters arrive (strings)."""
    value = str(text).strip().lower()
    if value in {"1", "true", "yes", "y", "on"}:
        return True
    if value in {"0", "false", "no", "n", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def whole(text: str) -> int:
    """An integer, also as MLflow may render a float-typed parameter ("2.0")."""
    value = float(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(value)


def optional(kind: Callable[[str], object]) -> Callable[[str], object]:
    """An argument type where an empty string (an MLproject parameter left at its default) means None."""
    def parse(text: str):
        return None if str(text).strip() in ("", "none", "None") else kind(float(text) if kind is int else text)
    parse.__name__ = kind.__name__
    return parse


def interrupt_on_terminate() -> None:
    """Treat SIGTERM like Ctrl-C, so a stopped step ends its run KILLED and stops the steps it started."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run(step: Callable[[argparse.Namespace], object], args: argparse.Namespace) -> None:
    """Run a step; bad input becomes one `error:` line on stderr and exit status 2."""
    interrupt_on_terminate()
    try:
        step(args)
    except InputError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except StepFailed as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def main_with(build: Callable[[], argparse.ArgumentParser], step: Callable[[argparse.Namespace], object],
              argv: Sequence[str] | None = None) -> None:
    """Parse `argv` with the parser `build` makes and run `step` on the result."""
    run(step, build().parse_args(argv))
