"""Entry point `clock`: train a CNN to read analog clocks with one label representation, judged by common-sense error.

    python -m pipeline.steps.clock --head periodic --profile quick [--image-size 150] [--register true]
        [--backbone models:/clock-backbone/3] [--source <course-format folder>]

Logs per-epoch loss and validation CSE, the test CSE summary, error plots, the 24 worst test images, and the
model as the pyfunc clock reader; with --register, registers it as `clock-reader` and moves the `champion`
alias only when it validates better than the current champion on the same validation data. With --backbone, the
reader starts from that pretrained backbone (pipeline/clock/backbone.py) and is built as its metadata says.

Bad input (a backbone URI with no model behind it, or one pretrained for another image size) stops the step with
one line before TensorFlow loads, any data is prepared or any run is started: Keras is imported after the check.
"""
from __future__ import annotations

from pipeline import cli
from pipeline.clock.backbone import resolve
from pipeline.clock.data import load_clock_data
from pipeline.clock.request import (
    EXPERIMENT,
    ClockRequest,
    add_data_arguments,
    head_fields,
    request_from,
)
from pipeline.errors import InputError
from pipeline.tracking import runs


def clock(request: ClockRequest) -> dict:
    """Train one clock model as its own run."""
    request = resolve(request)
    splits = load_clock_data(request)
    from pipeline.clock.training import train_clock

    with runs.start_run(EXPERIMENT, run_name=f"clock-{request.head['head']}"):
        return train_clock(request, splits)


def build_parser():
    # The head's options are checked by HeadSpec (models/time_heads.py, which loads Keras) once the backbone is.
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--head", default="periodic", help="classification, regression, multihead or periodic")
    p.add_argument("--n-classes", type=int, default=720, help="classification: classes over the 720 minutes")
    p.add_argument("--loss", default="mae", help="regression loss: mae, mse or circular")
    p.add_argument("--minute-head", default="regression", help="multihead's minute head: regression or periodic")
    p.add_argument("--hands", default="both", help="periodic: which hands' angles, hour or both")
    p.add_argument("--decoding", default="consistent", help="periodic with both hands: consistent or independent")
    p.add_argument("--budget", default="clock", choices=("clock", "champion"),
                   help="the profile's budget for comparison models or for the champion")
    p.add_argument("--register", type=cli.boolean, default=False)
    p.add_argument("--backbone", default="", help="start from this pretrained backbone, a model URI "
                   "(models:/clock-backbone/3, models:/clock-backbone@<alias>, runs:/<run id>/backbone; "
                   "default: a fresh backbone)")
    add_data_arguments(p)
    return p


def run(args) -> dict:
    request = resolve(request_from(args, head_fields(args), args.budget))
    try:
        from models.time_heads import HeadSpec

        HeadSpec(**request.head)
    except ValueError as exc:
        raise InputError(None, str(exc)) from None
    return clock(request)


def main(argv=None) -> None:
    cli.main_with(build_parser, run, argv)


if __name__ == "__main__":
    main()
