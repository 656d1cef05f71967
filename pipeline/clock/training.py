"""Training one clock reader inside the active run: prepare its data, fit, evaluate on test once, log and register."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from models.clock_net import (
    build_clock_model,
    build_clock_trainer,
    compile_clock_model,
    compile_clock_trainer,
    warmup_cosine,
)
from models.polar_reader import PolarReader
from models.time_heads import HeadSpec
from pipeline import plots
from pipeline.clock.backbone import resolve, start_from
from pipeline.clock.data import arrange, dial_targets, extra_training_images, minutes_of, synthetic
from pipeline.clock.evaluation import Evaluation, Validation, evaluate, log_error_analysis, validate
from pipeline.clock.request import ClockRequest
from pipeline.datasets.digests import array_sha256
from pipeline.datasets.splits import Split, Splits
from pipeline.tracking import registry, runs
from pipeline.training import Fitted, MetricAliases, MetricsToRun, PreciseBatchNorm, fit

MODEL_NAME = "clock-reader"


@dataclass(frozen=True)
class ClockData:
    """What one clock model trains and is judged on, at the trained size."""
    train: Split                # the split's training images, then any extra rendered ones
    validation: Split | None    # None with the 80/20 split
    test: Split
    test_digest: str            # the test split's digest, tagged for reporting
    validation_digest: str | None  # a champion is only compared on the same validation data
    dial: dict | None           # the dial output's targets per split; None: the network has no dial output
    augment: bool               # turn the training images by random angles

    def targets(self, split: str):
        """What the network fits on split `split`: the true minutes, and the dial's targets when it has one."""
        minutes = minutes_of(getattr(self, split).y)
        return minutes if self.dial is None else {"time": minutes, "dial": self.dial[split]}


@dataclass(frozen=True)
class ClockNetwork:
    """The reader that is evaluated and logged, and the model that is fitted: the reader itself, or the reader
    with the dial output beside it (the two share every layer)."""
    spec: HeadSpec
    reader: keras.Model
    trainer: keras.Model


def train_clock(request: ClockRequest, splits: Splits) -> dict:
    """Train, evaluate and log one clock model inside the active run; returns its row for a comparison table."""
    request = resolve(request)
    data = prepare(request, splits)
    log_inputs(request, splits, data)
    network = build_network(request, data)
    fitted = fit_network(request, data, network)
    validation = validate(network.reader, network.spec, data.validation)
    quarter_turns = log_validation(validation)
    evaluation = evaluate(network.reader, network.spec, data.test, quarter_turns)
    metrics, alternatives = log_evaluation(network, fitted, data.test, evaluation, validation)
    row = log_reader(request, data, network, metrics, alternatives, validation)
    print(f"{network.spec.label}: test CSE mean {metrics['test_cse_mean']:.2f} min, "
          f"median {metrics['test_cse_median']:.1f}, hour errors {metrics['test_hour_error_share']:.1%} "
          f"({fitted.epochs} epochs, {fitted.seconds:.0f} s)")
    return row


def prepare(request: ClockRequest, splits: Splits) -> ClockData:
    """The splits at the trained size, the training split grown by any extra rendered clocks, and for rendered
    clocks the dial output's targets."""
    train, validation, test = arrange(splits, request)
    extra = extra_training_images(request)
    dial = dial_targets(request, splits, len(train.y), extra)
    if extra is not None:
        train = Split(np.concatenate([train.x, extra.x]), np.concatenate([train.y, extra.y]))
    # Turning the images would falsify the dial's target; the rendered rotations vary over the full turn anyway.
    # The polar reader's output does not change when its image is turned: a turn would only cost time and blur
    # the numerals by a second interpolation (in a probe it learned slower with them).
    return ClockData(train, validation, test, test_digest=array_sha256(test.x) + ":" + array_sha256(test.y),
                     validation_digest=None if validation is None else
                     array_sha256(validation.x) + ":" + array_sha256(validation.y),
                     dial=dial, augment=request.augment and dial is None and not request.own_network)


def log_inputs(request: ClockRequest, splits: Splits, data: ClockData) -> None:
    """The run's parameters, and the three data sets it sees."""
    spec = request.spec
    runs.log_params({"head": spec.head, "representation": spec.label, **dataclasses.asdict(spec),
                     "image_size": request.image_size, "augment": data.augment,
                     "dial_supervision": data.dial is not None, "split": request.split, "seed": request.seed,
                     "source": request.source or "synthetic", "count": request.count,
                     "learning_rate": request.learning_rate, "budget": dataclasses.asdict(request.budget),
                     "train_images": len(data.train.y), "backbone": request.backbone or "none",
                     **architecture_params(request), "processed_dir": str(splits.folder)})
    for name, split in (("train", data.train), ("validation", data.validation), ("test", data.test)):
        if split is not None:
            runs.log_dataset(split.x, split.y, name=f"clock-{name}", context=name, source=str(splits.folder),
                             digest=data.test_digest if name == "test" else array_sha256(split.x))


def architecture_params(request: ClockRequest) -> dict:
    """The network's shape as params: the polar reader's (polar.radii, ...), else the backbone's (backbone.widths,
    ...)."""
    if request.own_network:
        return {f"polar.{k}": v for k, v in dataclasses.asdict(PolarReader()).items()}
    return {f"backbone.{k}": v for k, v in dataclasses.asdict(request.architecture).items()}


def build_network(request: ClockRequest, data: ClockData) -> ClockNetwork:
    """The seeded, compiled network, starting from the pretrained backbone when the request names one."""
    keras.utils.set_random_seed(request.seed)
    spec, backbone, size = request.spec, request.architecture, request.image_size
    steps = int(np.ceil(len(data.train.y) / request.budget.batch_size)) * request.budget.epochs
    schedule = warmup_cosine(request.learning_rate, steps)
    if data.dial is None:
        reader = trainer = compile_clock_model(build_clock_model(spec, size, backbone, augment=data.augment),
                                               spec, schedule)
    else:
        trainer, reader = build_clock_trainer(spec, size, backbone)
        compile_clock_trainer(trainer, spec, schedule, request.budget.dial_weight)
    if request.backbone:
        start_from(request.backbone, reader)
    return ClockNetwork(spec, reader, trainer)


def fit_network(request: ClockRequest, data: ClockData, network: ClockNetwork) -> Fitted:
    """Fit the trainer, logging every epoch, stopping early on the validation CSE when there is a validation split;
    the reader then predicts as the trainer ran (eagerly or traced)."""
    budget = request.budget
    x_train = data.train.x[..., None]
    validation = None if data.validation is None else (data.validation.x[..., None], data.targets("validation"))
    # The trainer's time metrics carry its output's name; every clock run logs them as cse and val_cse.
    callbacks = [PreciseBatchNorm(x_train, validation, budget.batch_size),
                 MetricAliases({"cse": "time_cse", "val_cse": "val_time_cse"}), MetricsToRun(),
                 keras.callbacks.TerminateOnNaN()]
    if validation is not None:
        callbacks.append(keras.callbacks.EarlyStopping("val_cse", mode="min", patience=budget.patience,
                                                       restore_best_weights=True))
    fitted = fit(network.trainer, x_train, data.targets("train"), epochs=budget.epochs,
                 batch_size=budget.batch_size, callbacks=callbacks, verbose=2, eager=budget.eager)
    network.reader.run_eagerly = network.trainer.run_eagerly
    return fitted


def log_validation(validation: Validation | None) -> bool:
    """Log the validation figures the reading was chosen on, and the reading; returns whether it reads the mean of
    four quarter turns. Without a validation split nothing is chosen: the reader keeps the quarter turns."""
    if validation is None:
        runs.log_params({"quarter_turns": True, "reading_chosen_on": "none (no validation split): the default"})
        return True
    runs.log_metrics({"val_cse_mean": validation.chosen_cse_mean,
                      **{f"val_cse_mean_{name}": value for name, value in validation.cse_mean.items()}})
    runs.log_params({"quarter_turns": validation.quarter_turns, "reading_chosen_on": "validation"})
    return validation.quarter_turns


def log_evaluation(network: ClockNetwork, fitted: Fitted, test: Split, evaluation: Evaluation,
                   validation: Validation | None) -> tuple[dict, list[dict]]:
    """Log the test metrics (the unturned images read alone as single_view.*, the other decoding of the same
    network beside them), the learning curves and the error analysis. Returns the metrics, and a comparison row
    for the other decoding when there is one."""
    spec = network.spec
    cost = {"parameters": network.reader.count_params(), "train_seconds": fitted.seconds,
            "epochs_trained": fitted.epochs}
    metrics = {**evaluation.summary, **cost, "images_per_second": fitted.images_per_second, **evaluation.per_hour}
    runs.log_metrics(metrics)
    runs.log_metrics({f"single_view.{k}": v for k, v in evaluation.single_view.items()})
    alternatives = []
    if evaluation.alternative is not None:
        alternative, summary = evaluation.alternative
        runs.log_metrics({f"{alternative.decoding}_decoding.{k}": v for k, v in summary.items()})
        alternatives.append({"representation": f"{alternative.label} (same network)", "head": spec.head,
                             "head_fields": dataclasses.asdict(alternative),
                             "val_cse_mean": None if validation is None else validation.alternative_cse_mean,
                             **summary, **cost, "run_id": runs.active_run_id()})
    runs.log_figure(plots.learning_curves(fitted.history, [("loss", "loss"), ("cse", "CSE (minutes)")], spec.label),
                    "learning_curves.png")
    log_error_analysis(spec.label, test, evaluation.predicted, evaluation.errors)
    return metrics, alternatives


def log_reader(request: ClockRequest, data: ClockData, network: ClockNetwork, metrics: dict,
               alternatives: list[dict], validation: Validation | None) -> dict:
    """Log the reader as a model when the request asks for it, tag the run, and with `register` register the
    reader; returns the run's row for a comparison table (with the validation figure it is chosen on)."""
    spec = network.spec
    model_uri = None
    if request.log_model or request.register:
        quarter_turns = True if validation is None else validation.quarter_turns
        model_uri = registry.log_clock_reader(network.reader, {"head": dataclasses.asdict(spec),
                                                               "image_size": request.image_size,
                                                               "quarter_turns": quarter_turns})
    trained_on = training_data(request, data)
    runs.set_tags({"step": "clock", "representation": spec.label, "test_data_digest": data.test_digest,
                   "model_uri": model_uri or "not logged", "training_data": trained_on})
    val_cse_mean = None if validation is None else validation.chosen_cse_mean
    row = {"representation": spec.label, "head": spec.head, "head_fields": dataclasses.asdict(spec),
           "val_cse_mean": val_cse_mean, **metrics, "run_id": runs.active_run_id(), "model_uri": model_uri,
           "test_data_digest": data.test_digest, "alternatives": alternatives}
    if request.register:
        row.update(register(model_uri, val_cse_mean, data.validation_digest, metrics["test_cse_mean"], trained_on))
    return row


def training_data(request: ClockRequest, data: ClockData) -> str:
    """What the reader was trained on, in one line for its model card (a run tag and the registered version's
    description): the data, how many training images, which targets, and where its backbone started."""
    count = len(data.train.y)
    if synthetic(request):
        seen = f"rendered clocks ({count} training images, " + (
            "labels and the renderer's dial targets)" if data.dial is not None else "labels only)")
    else:
        seen = f"course-format folder {Path(request.source).resolve()} ({count} training images, labels only)"
    return seen + (f", backbone {request.backbone}" if request.backbone else ", from scratch")


def register(model_uri: str, val_cse_mean: float | None, validation_digest: str | None, test_cse_mean: float,
             description: str) -> dict:
    """Register the logged reader as MODEL_NAME, described by what it was trained on; the champion alias moves
    only to a reader that validates better on the same validation data (its test figure is recorded, never
    compared). Returns the version and whether it became the champion."""
    version, moved, why = registry.register_if_better(model_uri, MODEL_NAME, val_cse_mean, validation_digest,
                                                      reported={"test_cse_mean": f"{test_cse_mean:.6f}"},
                                                      description=description)
    runs.set_tags({"registered_version": version, "champion": moved, "champion_decision": why})
    print(f"registered {MODEL_NAME} v{version}: {why}")
    return {"registered_version": version, "champion": moved}
