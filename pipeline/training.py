"""Training and evaluation shared by the steps: compile, fit with the usual Keras callbacks, time it honestly."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import keras
import numpy as np

from pipeline.tracking import runs


class MetricsToRun(keras.callbacks.Callback):
    """Log every epoch's metrics (loss, accuracy, their val_ twins, learning rate) to the active MLflow run.

    Not `mlflow.keras.MlflowCallback`: it also logs the optimizer's settings as params at every fit (a changed one
    refused, with only a warning), a model summary, and every evaluation again as validation_* metrics at step 0."""

    def on_epoch_end(self, epoch, logs=None):
        runs.log_metrics({k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}, step=epoch)


class MetricAliases(keras.callbacks.Callback):
    """Copy each epoch's metrics under other names ({new: old}), for the callbacks after it (early stopping,
    MLflow logging, the history): a model with several outputs gets its metrics prefixed with the output's name."""

    def __init__(self, aliases: dict[str, str]):
        super().__init__()
        self.aliases = dict(aliases)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update({new: logs[old] for new, old in self.aliases.items() if old in logs})


def start_fresh(seed: int) -> None:
    """Before building the next model of a loop: clear Keras' global state, collect the previous models' garbage
    now rather than in the middle of the next fit, and seed every random generator. (Seeding comes last: clearing
    the session drops the seed Keras keeps in its global state.)"""
    keras.backend.clear_session(free_memory=True)
    keras.utils.set_random_seed(seed)


def all_layers(model: keras.Model):
    """Every layer of `model`, those of nested models included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def recalibrate_batch_norm(model: keras.Model, images: np.ndarray, batches: int, batch_size: int,
                           seed: int = 0) -> None:
    """Set every batch-normalization layer's moving mean and variance to their average over `batches` random
    training batches under the model's current weights (a "precise BN" pass: forward only, no weight changes)."""
    norms = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return
    momenta = [layer.momentum for layer in norms]
    picks = np.random.default_rng(seed).permutation(len(images))[:batches * batch_size]
    try:
        for k, start in enumerate(range(0, len(picks), batch_size), start=1):
            for layer in norms:
                layer.momentum = (k - 1) / k  # a running average: batch k weighs 1/k
            model(images[np.sort(picks[start:start + batch_size])], training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum


class PreciseBatchNorm(keras.callbacks.Callback):
    """At the end of every epoch, recalibrate the batch-normalization statistics (`recalibrate_batch_norm`), then
    validate: the val_ metrics it adds to the epoch's logs are measured with them.

    The moving averages Keras keeps lag behind weights that move fast (a fresh head on a pretrained backbone, the
    peak of the learning rate): on the clock reader they made the validation dial error in inference mode worse
    than chance, on weights that read the dial well once recalibrated (benchmarks/README.md). Put it before the
    callbacks that read val_ metrics, and fit without validation_data."""

    def __init__(self, train_images: np.ndarray, validation: tuple | None, batch_size: int, batches: int = 30):
        super().__init__()
        self.train_images, self.validation = train_images, validation
        self.batch_size, self.batches = batch_size, batches

    def on_epoch_end(self, epoch, logs=None):
        recalibrate_batch_norm(self.model, self.train_images, self.batches, self.batch_size, seed=epoch)
        if self.validation is not None and logs is not None:
            results = self.model.evaluate(*self.validation, batch_size=self.batch_size, verbose=0, return_dict=True)
            logs.update({f"val_{name}": float(value) for name, value in results.items()})


class EpochTimer(keras.callbacks.Callback):
    """Seconds spent training in each epoch, validation excluded, so images/s compares with a bare fit."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0
        self._stopped = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._stopped = time.perf_counter(), False

    def on_test_begin(self, logs=None):
        if not self._stopped:
            self.seconds.append(time.perf_counter() - self._start)
            self._stopped = True

    def on_epoch_end(self, epoch, logs=None):
        if not self._stopped:
            self.seconds.append(time.perf_counter() - self._start)
            self._stopped = True


class WallClock(keras.callbacks.Callback):
    """Stop before an epoch that would end past `seconds` of fitting (validation included), judged by the slowest
    epoch so far. Epochs are planned from a throughput estimate; this keeps a wrong estimate within the budget."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self._started = self._epoch_started = 0.0
        self._slowest = 0.0

    def on_train_begin(self, logs=None):
        self._started, self._slowest = time.perf_counter(), 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self._slowest = max(self._slowest, now - self._epoch_started)
        if now - self._started + self._slowest > self.seconds:
            self.model.stop_training = True


@dataclass
class Fitted:
    """What a fit produced: per-epoch history, epochs run, wall seconds, training images per second (the first
    epoch, which traces the model, included) and each epoch's training seconds."""
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)


def fit(model: keras.Model, x_train, y_train, *, validation=None, epochs: int, batch_size: int,
        callbacks: list | None = None, verbose: int = 0, eager: bool = False) -> Fitted:
    """`model.fit` with an epoch timer; returns the history and throughput. `eager` runs it (and the model's later
    evaluate and predict calls) without tf.function, which pays on a few batches."""
    model.run_eagerly = eager
    timer = EpochTimer()
    started = time.perf_counter()
    history = model.fit(x_train, y_train, validation_data=validation, epochs=epochs, batch_size=batch_size,
                        callbacks=[timer, *(callbacks or [])], verbose=verbose)
    seconds = time.perf_counter() - started
    trained = len(timer.seconds)
    rate = len(x_train) * trained / max(sum(timer.seconds), 1e-9)
    return Fitted({k: [float(v) for v in vals] for k, vals in history.history.items()}, trained, seconds, rate,
                  list(timer.seconds))


def early_stopping_callbacks(patience: int, monitor: str = "val_loss",
                             seconds: float | None = None) -> list[keras.callbacks.Callback]:
    """Stop when `monitor` stalls for `patience` epochs, keeping the best weights; stop at once on NaN loss; with
    `seconds`, stop before an epoch that would overrun that wall-time budget."""
    mode = "max" if "accuracy" in monitor else "min"
    return [keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True),
            keras.callbacks.TerminateOnNaN(), *([WallClock(seconds)] if seconds else [])]


def affordable_epochs(max_epochs: int, seconds: float | None, images: int, images_per_second: float | None) -> int:
    """Epochs that fit a wall-time budget at a measured throughput (at least 1, at most `max_epochs`).

    Planning the epochs up front keeps the learning-rate schedule whole, rather than cutting it off mid-decay.
    """
    if not seconds or not images_per_second:
        return max_epochs
    return int(max(1, min(max_epochs, seconds * images_per_second // images)))


def subset(x: np.ndarray, y: np.ndarray, fraction: float = 1.0, limit: int | None = None) -> tuple:
    """The first part of an already shuffled split: a fraction of it, at most `limit` items."""
    n = max(1, int(round(len(y) * fraction)))
    if limit:
        n = min(n, limit)
    return x[:n], y[:n]
