"""Training one clock reader inside the active run: prepare its data, fit, evaluate on test once, log and register."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from pipeline import plots
from pipeline.clock.backbone import fetch, start_from
from pipeline.clock.data import arrange, dial_targets, extra_training_images, minutes_of
from pipeline.clock.evaluation import (
    cse_summary,
    log_error_analysis,
    network_outputs,
    other_decoding,
    per_hour,
    read_minutes,
)
from pipeline.clock.request import ClockRequest
from pipeline.datasets.digests import array_sha256
from pipeline.datasets.splits import Split, Splits
from pipeline.tracking import registry, runs
from pipeline.training import MetricAliases, MetricsToRun, PreciseBatchNorm, fit

EXPERIMENT = "tell-the-time"


MODEL_NAME = "clock-reader"


def train_clock(request: ClockRequest, splits: Splits) -> dict:
    """Train, evaluate and log one clock model inside the active run; returns its row for a comparison table."""
    import keras

    from models.clock_net import (
        Backbone,
        build_clock_model,
        build_clock_trainer,
        compile_clock_model,
        compile_clock_trainer,
        warmup_cosine,
    )
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
    runs.log_params({"head": spec.head, "representation": spec.label, **dataclasses.asdict(spec),
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
            runs.log_dataset(split.x, split.y, name=f"clock-{name}", context=name, source=str(splits.folder),
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
            start_from(fetch(request.backbone_run, Path(tmp)), model,
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
    runs.log_metrics(metrics)
    single = cse_summary(common_sense_error(read_minutes(spec, views[0]), true))
    runs.log_metrics({f"single_view.{k}": v for k, v in single.items()})
    alternatives = []
    if (alternative := other_decoding(spec)) is not None:
        summary = cse_summary(common_sense_error(read_minutes(alternative, outputs), true))
        runs.log_metrics({f"{alternative.decoding}_decoding.{k}": v for k, v in summary.items()})
        alternatives.append({"representation": f"{alternative.label} (same network)", "head": spec.head,
                             "head_fields": dataclasses.asdict(alternative),
                             **summary, **cost, "run_id": runs.active_run_id()})
    runs.log_figure(plots.learning_curves(fitted.history, [("loss", "loss"), ("cse", "CSE (minutes)")],
                                              spec.label), "learning_curves.png")
    log_error_analysis(spec.label, test, predicted, errors)
    model_uri = None
    if request.log_model or request.register:
        model_uri = registry.log_clock_reader(model, {"head": dataclasses.asdict(spec),
                                                      "image_size": request.image_size, "quarter_turns": True})
    runs.set_tags({"step": "clock", "representation": spec.label, "test_data_digest": test_digest,
                       "model_uri": model_uri or "not logged"})
    row = {"representation": spec.label, "head": spec.head, "head_fields": dataclasses.asdict(spec),
           **{k: v for k, v in metrics.items()},
           "run_id": runs.active_run_id(), "model_uri": model_uri, "test_data_digest": test_digest,
           "alternatives": alternatives}
    if request.register:
        version, moved, why = registry.register_if_better(model_uri, MODEL_NAME, metrics["test_cse_mean"],
                                                          test_digest)
        runs.set_tags({"registered_version": version, "champion": moved, "champion_decision": why})
        print(f"registered {MODEL_NAME} v{version}: {why}")
        row.update(registered_version=version, champion=moved)
    print(f"{spec.label}: test CSE mean {metrics['test_cse_mean']:.2f} min, median {metrics['test_cse_median']:.1f}, "
          f"hour errors {metrics['test_hour_error_share']:.1%} ({fitted.epochs} epochs, {fitted.seconds:.0f} s)")
    return row


