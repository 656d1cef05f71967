"""Entry point `clock`: train a CNN to read analog clocks with one label representation, judged by common-sense error.

    python -m pipeline.steps.clock --head periodic --profile quick [--image-size 150] [--register true]
        [--backbone models:/clock-backbone/3] [--source <course-format folder>] [--reference <folder>]
    python -m pipeline.steps.clock --head polar --source <course-format folder>   # from labels alone

Logs per-epoch loss and validation CSE, the test CSE summary, error plots, the 24 worst test images, and the
model as the pyfunc clock reader; with --register, registers it as `clock-reader` and moves the `champion`
alias only when it validates better than the current champion on the same validation data. With --backbone, the
reader starts from that pretrained backbone (pipeline/clock/backbone.py) and is built as its metadata says. With
--reference, the logged reader then reads that folder of genuine labelled images (a course-format folder, or image
files named with their time as HH-MM) and the run logs each image's CSE, their mean and a contact sheet; they are
never trained on, nor used to choose anything.

With --head polar, the reader is a network of its own on the image unwrapped around its centre
(models/polar_reader.py), learned from the labels alone: no backbone, no dial output.

Bad input (a backbone URI with no model behind it, one pretrained for another image size, or any backbone for the
polar head) stops the step with one line before TensorFlow loads, any data is prepared or any run is started:
Keras is imported after the check.
A reference folder with no labelled images, or an unreadable one among them, stops it with one line before any
data is prepared or any run is started.
"""
from __future__ import annotations

from pipeline import cli
from pipeline.clock.backbone import resolve
from pipeline.clock.data import load_clock_data
from pipeline.clock.evaluation import log_reference
from pipeline.clock.request import (
    EXPERIMENT,
    ClockRequest,
    add_data_arguments,
    head_fields,
    own_network,
    request_from,
)
from pipeline.datasets.reference_images import read_reference
from pipeline.errors import InputError
from pipeline.tracking import runs


def clock(request: ClockRequest) -> dict:
    """Train one clock model as its own run; with a reference folder, the logged reader then reads it."""
    request = resolve(request)
    # Read first: a bad folder stops the step before data is prepared or a run started.
    reference = read_reference(request.reference, request.image_size) if request.reference else None
    if reference is not None and reference.skipped:
        print(f"reference {reference.folder}: {len(reference.names)} labelled images; skipped "
              f"{len(reference.skipped)} image file(s) with no single HH-MM time in their name", flush=True)
    splits = load_clock_data(request)
    from pipeline.clock.training import train_clock

    with runs.start_run(EXPERIMENT, run_name=f"clock-{request.head['head']}"):
        row = train_clock(request, splits)
        if reference is None:
            runs.log_params({"reference": "none"})
            return row
        row.update(log_reference(row["model_uri"], reference))
        print(f"reference {reference.folder}: mean CSE {row['reference_cse_mean']:.2f} min over "
              f"{row['reference_images']} genuine images")
        return row


def build_parser():
    # The head's options are checked by HeadSpec (models/time_heads.py, which loads Keras) once the backbone is.
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--head", default="periodic", help="classification, regression, multihead, periodic or polar "
                   "(the unwrapped reader, from labels alone; docs/clock.md)")
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
    p.add_argument("--reference", default="", help="a folder of genuine labelled clock images to read after "
                   "training: images.npy and labels.npy, or image files named with their time as HH-MM "
                   "(default: none)")
    add_data_arguments(p)
    return p


def run(args) -> dict:
    if args.backbone and own_network(head_fields(args)):
        raise InputError(None, f"head {args.head} is a network of its own (the image unwrapped around its centre); "
                               f"a pretrained backbone ({args.backbone}) does not apply to it")
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
