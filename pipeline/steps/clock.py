"""Entry point `clock`: train a CNN to read analog clocks with one label representation, judged by common-sense error.

    python -m pipeline.steps.clock --head periodic --profile quick [--image-size 150] [--register true]

Logs per-epoch loss and validation CSE, the test CSE summary, error plots, the 24 worst test images, and the
model as the pyfunc clock reader; with --register, registers it as `clock-reader` and moves the `champion`
alias only when it validates better than the current champion on the same validation data.
"""
from __future__ import annotations

from pipeline import cli
from pipeline.clock.data import load_clock_data
from pipeline.clock.request import (
    ClockRequest,
    add_data_arguments,
    head_fields,
    request_from,
)
from pipeline.clock.training import EXPERIMENT, train_clock
from pipeline.errors import InputError
from pipeline.tracking import runs


def clock(request: ClockRequest) -> dict:
    """Train one clock model as its own run."""
    splits = load_clock_data(request)
    name = f"clock-{request.head['head']}"
    with runs.start_run(EXPERIMENT, run_name=name):
        return train_clock(request, splits)


def build_parser():
    from models.time_heads import (
        DECODINGS,
        HANDS,
        HEADS,
        MINUTE_HEADS,
        REGRESSION_LOSSES,
    )

    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--head", default="periodic", choices=HEADS)
    p.add_argument("--n-classes", type=int, default=720, help="classification: classes over the 720 minutes")
    p.add_argument("--loss", default="mae", choices=REGRESSION_LOSSES, help="regression loss")
    p.add_argument("--minute-head", default="regression", choices=MINUTE_HEADS, help="multihead's minute head")
    p.add_argument("--hands", default="both", choices=HANDS, help="periodic: which hands' angles")
    p.add_argument("--decoding", default="consistent", choices=DECODINGS, help="periodic with both hands")
    p.add_argument("--budget", default="clock", choices=("clock", "champion"),
                   help="the profile's budget for comparison models or for the champion")
    p.add_argument("--register", type=cli.boolean, default=False)
    p.add_argument("--backbone-run", default="", help="start from this clock comparison's pretrained backbone "
                   "(the run id of its clock-backbone run; default: a fresh backbone)")
    add_data_arguments(p)
    return p


def run(args) -> dict:
    try:
        head = head_fields(args)
        from models.time_heads import HeadSpec

        HeadSpec(**head)
    except ValueError as exc:
        raise InputError(None, str(exc)) from None
    return clock(request_from(args, head, args.budget))


def main(argv=None) -> None:
    cli.main_with(build_parser, run, argv)


if __name__ == "__main__":
    main()
