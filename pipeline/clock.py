"""Entry point `clock`: train a CNN to read analog clocks with one label representation, judged by common-sense error.

    python -m pipeline.clock --head periodic --profile quick [--image-size 150] [--register true]

Logs per-epoch loss and validation CSE, the test CSE summary, error plots, the 24 worst test images, and the
model as the pyfunc clock reader; with --register, registers it as `clock-reader` and moves the `champion`
alias only when it beats the current champion on the same test data.
"""
from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import cli, clock_backbone, plots, tracking
from pipeline.datasets.digests import array_sha256
from pipeline.datasets.splits import Split, Splits
from pipeline.errors import InputError
from pipeline.preprocess import Request, prepare
from pipeline.profiles import PROFILES, ClockBudget, get_profile
from pipeline.training import MetricAliases, MetricsToRun, PreciseBatchNorm, fit, subset

EXPERIMENT = "tell-the-time"
MODEL_NAME = "clock-reader"
SPLITS = ("80/10/10", "80/20")
WORST_SHOWN = 24
HOUR_ERROR = 30  # minutes: an error this large means the hour was misread


@dataclass(frozen=True)
class ClockRequest:
    """One clock model: its label representation, the data it sees, and its training budget."""
    head: dict                      # HeadSpec fields
    image_size: int = 75
    budget: ClockBudget = ClockBudget(epochs=1, patience=1)
    learning_rate: float = 2e-3
    augment: bool = True
    split: str = "80/10/10"
    seed: int = 0
    source: str = "synthetic"
    count: int = 18000
    register: bool = False
    backbone_run: str = ""          # a run whose pretrained backbone (pipeline.clock_backbone) the model starts from
    log_model: bool = True          # comparison runs measure; only models meant for use are logged


def minutes_of(labels: np.ndarray) -> np.ndarray:
    """[hour, minute] rows as minutes past 12."""
    from models.common_sense_error import minutes_on_dial

    return minutes_on_dial(labels[:, 0], labels[:, 1]).astype(np.float32)


def load_clock_data(request: ClockRequest) -> Splits:
    """The processed clock splits the request names, prepared first if they are not on disk yet."""
    size = request.image_size if synthetic(request) else 150
    splits, _ = prepare(Request("clock", request.source or "synthetic", request.seed, size, request.count))
    return splits


def arrange(splits: Splits, request: ClockRequest) -> tuple[Split, Split | None, Split]:
    """Train, validation and test at the trained image size; 80/20 folds validation into the test split."""
    from models.clock_input import resize_to

    def ready(split: Split) -> Split:
        return Split(resize_to(np.asarray(split.x), request.image_size), np.asarray(split.y))

    train = ready(Split(*subset(splits.train.x, splits.train.y, limit=request.budget.train_limit)))
    validation, test = ready(splits.validation), ready(splits.test)
    if request.split == "80/20":
        return train, None, Split(np.concatenate([validation.x, test.x]), np.concatenate([validation.y, test.y]))
    return train, validation, test


def synthetic(request: ClockRequest) -> bool:
    """True when the clocks come from the renderer (whose poses are known), not from a course-format folder."""
    return request.source in ("", "synthetic")


def extra_seed(request: ClockRequest) -> int:
    """The renderer's seed for extra training clocks: one no split uses."""
    return request.seed + 1_000_003


def extra_training_images(request: ClockRequest) -> Split | None:
    """Freshly rendered training clocks at uniformly random times, from a seed no split uses."""
    if not request.budget.extra_train or not synthetic(request):
        return None
    from pipeline.datasets.clock_renderer import render_times

    rng = np.random.default_rng([request.seed, 1])
    minutes = rng.integers(0, 720, request.budget.extra_train)
    images = render_times(minutes // 60, minutes % 60, size=request.image_size, seed=extra_seed(request))
    return Split(images, np.stack([minutes // 60, minutes % 60], axis=1))


def dial_rotations(request: ClockRequest, splits: Splits, train_count: int, extra: Split | None) -> dict | None:
    """For rendered clocks, each image's rotation in degrees: for the training images a model sees (the first
    `train_count` of the split, then the extra ones) and for validation; None when the data is not the renderer's."""
    if not synthetic(request):
        return None
    from pipeline.datasets.clock_renderer import clock_labels, pose_rotations
    from pipeline.datasets.splits import split_indices

    manifest, sizes = splits.manifest, {name: len(splits[name].y) for name in ("train", "validation", "test")}
    index = split_indices(sizes, request.seed)
    # Rendered in time order with this seed, then shuffled with it: every label must sit where that order puts it.
    labels = clock_labels(sum(sizes.values()))
    if manifest.get("source_kind") != "synthetic" or manifest.get("seed") != request.seed or not all(
            np.array_equal(labels[index[name]], splits[name].y) for name in sizes):
        raise InputError(splits.folder, "the processed clocks are not the renderer's images in the order preprocess "
                                        "writes them; their rotations cannot be recovered")
    train = pose_rotations(request.seed, index["train"][:train_count])
    if extra is not None:
        train = np.concatenate([train, pose_rotations(extra_seed(request), np.arange(len(extra.y)))])
    rotations = {"train": train}
    if request.split == "80/10/10":
        rotations["validation"] = pose_rotations(request.seed, index["validation"])
    return rotations


def dial_targets(request: ClockRequest, splits: Splits, train_count: int, extra: Split | None) -> dict | None:
    """The dial output's targets (sin and cos of each image's rotation, see `dial_rotations`); None when the data
    is not the renderer's or the budget gives the dial no weight."""
    if not request.budget.dial_weight:
        return None
    rotations = dial_rotations(request, splits, train_count, extra)
    if rotations is None:
        return None
    from models.clock_net import dial_encoding

    return {name: dial_encoding(turns) for name, turns in rotations.items()}


def cse_summary(errors: np.ndarray) -> dict[str, float]:
    """Test CSE mean, median, p90 and max, shares within 1/5/10 minutes, and the share of misread hours."""
    return {"test_cse_mean": float(errors.mean()), "test_cse_median": float(np.median(errors)),
            "test_cse_p90": float(np.percentile(errors, 90)), "test_cse_max": float(errors.max()),
            "test_within_1": float(np.mean(errors <= 1)), "test_within_5": float(np.mean(errors <= 5)),
            "test_within_10": float(np.mean(errors <= 10)), "test_hour_error_share": float(np.mean(errors >= HOUR_ERROR))}


def per_hour(errors: np.ndarray, true_minutes: np.ndarray) -> dict[str, float]:
    """Mean CSE for each true hour, as test_cse_hour_00 ... test_cse_hour_11 (where troubles at 12 show)."""
    hours = true_minutes // 60
    return {f"test_cse_hour_{h:02d}": float(errors[hours == h].mean()) for h in range(12) if np.any(hours == h)}


def network_outputs(model, images: np.ndarray) -> list[np.ndarray]:
    """The network's raw head outputs for a batch of (N, H, W) images at each quarter turn, the unturned first."""
    from models.quarter_turns import outputs_per_turn

    return outputs_per_turn(model, images[..., None], batch_size=128)


def read_minutes(spec, outputs: np.ndarray) -> np.ndarray:
    """Whole minutes past 12 that a head's outputs say."""
    from keras import ops

    from models.time_heads import decode, to_whole_minutes

    return ops.convert_to_numpy(to_whole_minutes(decode(spec, outputs))).astype(np.int64)


def other_decoding(spec):
    """For a periodic model of both hands, the decoding it was not logged with; else None."""
    if spec.head != "periodic" or spec.hands != "both":
        return None
    return dataclasses.replace(spec, decoding="independent" if spec.decoding == "consistent" else "consistent")


def log_error_analysis(label: str, test: Split, predicted: np.ndarray, errors: np.ndarray) -> None:
    """The CSE histogram, CSE against the true time, the hour confusion matrix and the worst test images."""
    true = minutes_of(test.y)
    tracking.log_figure(plots.cse_histogram(errors, f"{label}: test common-sense error"), "cse_histogram.png")
    tracking.log_figure(plots.cse_against_time(true, errors, f"{label}: error against the true time"),
                        "cse_against_time.png")
    tracking.log_figure(plots.hour_confusion(test.y[:, 0], predicted // 60, f"{label}: hours, true vs predicted"),
                        "hour_confusion.png")
    worst = np.argsort(-errors, kind="stable")[:WORST_SHOWN]
    captions = [f"true {h}:{m:02d} read {p // 60}:{p % 60:02d}" for (h, m), p in zip(test.y[worst], predicted[worst])]
    tracking.log_figure(plots.image_grid(test.x[worst], captions, columns=6, title=f"{label}: the 24 worst test images"),
                        "worst_24.png")


def train_clock(request: ClockRequest, splits: Splits) -> dict:
    """Train, evaluate and log one clock model inside the active run; returns its row for a comparison table."""
    import keras

    from models.clock_net import (Backbone, build_clock_model, build_clock_trainer, compile_clock_model,
                                  compile_clock_trainer, warmup_cosine)
    from models.time_heads import HeadSpec

    spec = HeadSpec(**request.head)
    train, validation, test = arrange(splits, request)
    extra = extra_training_images(request)
    dial = dial_targets(request, splits, len(train.y), extra)
    if extra is not None:
        train = Split(np.concatenate([train.x, extra.x]), np.concatenate([train.y, extra.y]))
    # Turning the images would falsify the dial's target; the rendered rotations vary over the full turn anyway.
    augment = request.augment and dial is None
    backbone = Backbone(widths=tuple(request.budget.widths))
    tracking.log_params({"head": spec.head, "representation": spec.label, **dataclasses.asdict(spec),
                         "image_size": request.image_size, "augment": augment, "test_quarter_turns": True,
                         "dial_supervision": dial is not None,
                         "split": request.split,
                         "seed": request.seed, "source": request.source or "synthetic", "count": request.count,
                         "learning_rate": request.learning_rate, "budget": dataclasses.asdict(request.budget),
                         "backbone": dataclasses.asdict(backbone), "train_images": len(train.y),
                         "backbone_run": request.backbone_run or "none",
                         "processed_dir": str(splits.folder)})
    test_digest = array_sha256(test.x) + ":" + array_sha256(test.y)
    for name, split in (("train", train), ("validation", validation), ("test", test)):
        if split is not None:
            tracking.log_dataset(split.x, split.y, name=f"clock-{name}", context=name, source=str(splits.folder),
                                 digest=(array_sha256(split.x) if name != "test" else test_digest))
    keras.utils.set_random_seed(request.seed)
    steps = int(np.ceil(len(train.y) / request.budget.batch_size)) * request.budget.epochs
    schedule = warmup_cosine(request.learning_rate, steps)
    y_train = minutes_of(train.y)
    y_validation = None if validation is None else minutes_of(validation.y)
    if dial is None:
        model = trained = compile_clock_model(build_clock_model(spec, request.image_size, backbone, augment=augment),
                                              spec, schedule)
    else:
        trained, model = build_clock_trainer(spec, request.image_size, backbone)
        compile_clock_trainer(trained, spec, schedule, request.budget.dial_weight)
        y_train = {"time": y_train, "dial": dial["train"]}
        if validation is not None:
            y_validation = {"time": y_validation, "dial": dial["validation"]}
    if request.backbone_run:
        with tempfile.TemporaryDirectory() as tmp:
            clock_backbone.start_from(clock_backbone.fetch(request.backbone_run, Path(tmp)), model,
                                      request.image_size, backbone)
    # The trainer's time metrics carry its output's name; every clock run logs them as cse and val_cse.
    x_train = train.x[..., None]
    callbacks = [PreciseBatchNorm(x_train, None if validation is None else (validation.x[..., None], y_validation),
                                  request.budget.batch_size),
                 MetricAliases({"cse": "time_cse", "val_cse": "val_time_cse"}), MetricsToRun(),
                 keras.callbacks.TerminateOnNaN()]
    if validation is not None:
        callbacks.append(keras.callbacks.EarlyStopping("val_cse", mode="min", patience=request.budget.patience,
                                                       restore_best_weights=True))
    fitted = fit(trained, x_train, y_train, epochs=request.budget.epochs, batch_size=request.budget.batch_size,
                 callbacks=callbacks, verbose=2, eager=request.budget.eager)
    model.run_eagerly = trained.run_eagerly
    from models.common_sense_error import common_sense_error
    from models.time_heads import mean_outputs

    # Test readings average the four quarter turns of each image, as the logged reader does; the unturned
    # image's reading alone is logged beside them (single_view.*).
    views = network_outputs(model, test.x)
    outputs = mean_outputs(spec, views)
    true = minutes_of(test.y).astype(np.int64)
    predicted = read_minutes(spec, outputs)
    errors = common_sense_error(predicted, true)
    cost = {"parameters": model.count_params(), "train_seconds": fitted.seconds, "epochs_trained": fitted.epochs}
    metrics = {**cse_summary(errors), **cost, "images_per_second": fitted.images_per_second,
               **per_hour(errors, true)}
    tracking.log_metrics(metrics)
    single = cse_summary(common_sense_error(read_minutes(spec, views[0]), true))
    tracking.log_metrics({f"single_view.{k}": v for k, v in single.items()})
    alternatives = []
    if (alternative := other_decoding(spec)) is not None:
        summary = cse_summary(common_sense_error(read_minutes(alternative, outputs), true))
        tracking.log_metrics({f"{alternative.decoding}_decoding.{k}": v for k, v in summary.items()})
        alternatives.append({"representation": f"{alternative.label} (same network)", "head": spec.head,
                             "head_fields": dataclasses.asdict(alternative),
                             **summary, **cost, "run_id": tracking.active_run_id()})
    tracking.log_figure(plots.learning_curves(fitted.history, [("loss", "loss"), ("cse", "CSE (minutes)")],
                                              spec.label), "learning_curves.png")
    log_error_analysis(spec.label, test, predicted, errors)
    model_uri = None
    if request.log_model or request.register:
        model_uri = tracking.log_clock_reader(model, {"head": dataclasses.asdict(spec),
                                                      "image_size": request.image_size, "quarter_turns": True})
    tracking.set_tags({"step": "clock", "representation": spec.label, "test_data_digest": test_digest,
                       "model_uri": model_uri or "not logged"})
    row = {"representation": spec.label, "head": spec.head, "head_fields": dataclasses.asdict(spec),
           **{k: v for k, v in metrics.items()},
           "run_id": tracking.active_run_id(), "model_uri": model_uri, "test_data_digest": test_digest,
           "alternatives": alternatives}
    if request.register:
        version, moved, why = tracking.register_if_better(model_uri, MODEL_NAME, metrics["test_cse_mean"],
                                                          test_digest)
        tracking.set_tags({"registered_version": version, "champion": moved, "champion_decision": why})
        print(f"registered {MODEL_NAME} v{version}: {why}")
        row.update(registered_version=version, champion=moved)
    print(f"{spec.label}: test CSE mean {metrics['test_cse_mean']:.2f} min, median {metrics['test_cse_median']:.1f}, "
          f"hour errors {metrics['test_hour_error_share']:.1%} ({fitted.epochs} epochs, {fitted.seconds:.0f} s)")
    return row


def clock(request: ClockRequest) -> dict:
    """Train one clock model as its own run."""
    splits = load_clock_data(request)
    name = f"clock-{request.head['head']}"
    with tracking.start_run(EXPERIMENT, run_name=name):
        return train_clock(request, splits)


def head_fields(args) -> dict:
    """The HeadSpec fields from the command line."""
    return {"head": args.head, "n_classes": args.n_classes, "loss": args.loss, "minute_head": args.minute_head,
            "hands": args.hands, "decoding": args.decoding}


def add_data_arguments(p) -> None:
    """Arguments shared with clock_compare: profile, data, size, budget overrides."""
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--image-size", type=cli.optional(int), default=None, help="75 or 150 (default: the profile's)")
    p.add_argument("--epochs", type=cli.optional(int), default=None, help="default: the profile's")
    p.add_argument("--extra-train", type=cli.optional(int), default=None,
                   help="extra rendered training clocks (synthetic source only; default: the profile's)")
    p.add_argument("--augment", type=cli.boolean, default=True,
                   help="random in-plane rotation while training (not with the dial output: it would falsify it)")
    p.add_argument("--split", default="80/10/10", choices=SPLITS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--source", default="synthetic", help="'synthetic' (the renderer) or a course-format folder")
    p.add_argument("--count", type=cli.optional(int), default=None, help="rendered images (default: the profile's)")
    p.add_argument("--learning-rate", type=float, default=2e-3)


def request_from(args, head: dict, budget_name: str = "clock") -> ClockRequest:
    """A ClockRequest from parsed arguments, the profile filling what was not given."""
    profile = get_profile(args.profile)
    budget = getattr(profile, budget_name)
    if args.epochs is not None:
        budget = dataclasses.replace(budget, epochs=args.epochs)
    if args.extra_train is not None:
        budget = dataclasses.replace(budget, extra_train=args.extra_train)
    size = args.image_size or profile.clock_size
    if size not in (75, 150):
        raise InputError(None, f"image size must be 75 or 150, got {size}")
    return ClockRequest(head=head, image_size=size, budget=budget, learning_rate=args.learning_rate,
                        augment=args.augment, split=args.split, seed=args.seed, source=args.source,
                        count=args.count or profile.clock_count, register=getattr(args, "register", False),
                        backbone_run=getattr(args, "backbone_run", ""))


def build_parser():
    from models.time_heads import DECODINGS, HANDS, HEADS, MINUTE_HEADS, REGRESSION_LOSSES

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
