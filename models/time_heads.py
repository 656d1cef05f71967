"""Label representations for telling the time: each head is an output layer, a loss, and a decoding to minutes.

Every model is trained on the same target, the true time in minutes past 12 (0-719, shape (N,)); each head
encodes it into its own representation inside its loss. So one Keras metric, the common-sense error of the
decoded prediction, serves every head, multi-head ones included.

    classification  n classes of equal width over the 720 minutes, decoded to the centre of the class's minutes
    regression      hours as one float (3:30 -> 3.5), loss mae, mse or circular, decoded modulo 12
    multihead       a 12-class hour head and a minute head (regression, or periodic sin/cos)
    periodic        sin/cos of the hand angles (hour hand, or both), decoded with atan2
    polar           a network of its own (models/polar_reader.py), from labels alone: three distributions over the
                    angles (N, 3 x 128), where the minute hand and the hour hand lie from the 12 and from each other,
                    decoded from their circular means
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from models.common_sense_error import MINUTES_ON_DIAL, common_sense_error
from models.polar_reader import hand_readings, polar_loss

HEADS = ("classification", "regression", "multihead", "periodic", "polar")
REGRESSION_LOSSES = ("mae", "mse", "circular")
MINUTE_HEADS = ("regression", "periodic")
HANDS = ("hour", "both")
DECODINGS = ("consistent", "independent")
TWO_PI = 2 * math.pi


@dataclass(frozen=True)
class HeadSpec:
    """Which representation, with its options; everything a model needs to be rebuilt and decoded."""
    head: str = "periodic"
    n_classes: int = 720          # classification
    loss: str = "mae"             # regression
    minute_head: str = "regression"  # multihead
    hands: str = "both"           # periodic
    decoding: str = "consistent"  # periodic with both hands

    def __post_init__(self):
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.head == "classification" and (self.n_classes < 2 or MINUTES_ON_DIAL % self.n_classes):
            raise ValueError(f"n_classes must divide 720, got {self.n_classes}")
        for value, allowed in ((self.loss, REGRESSION_LOSSES), (self.minute_head, MINUTE_HEADS),
                               (self.hands, HANDS), (self.decoding, DECODINGS)):
            if value not in allowed:
                raise ValueError(f"expected one of {allowed}, got {value!r}")

    @property
    def label(self) -> str:
        """A short name for tables: the representation and its one distinguishing option."""
        return {"classification": f"classification-{self.n_classes}", "regression": f"regression-{self.loss}",
                "multihead": f"multihead-{self.minute_head}",
                "periodic": f"periodic-{self.hands}" + (f"-{self.decoding}" if self.hands == "both" else ""),
                "polar": "polar"}[self.head]


def as_minutes(y_true):
    """The training target, whatever rank Keras hands it over in, as a flat float vector."""
    return ops.reshape(ops.cast(y_true, "float32"), (-1,))


def angle(sin, cos):
    """An angle in [0, 2 pi) from its sine and cosine."""
    return ops.mod(ops.arctan2(sin, cos), TWO_PI)


def sin_cos(fraction_of_turn):
    """The periodic encoding of a position on a dial, given as a fraction of a full turn."""
    theta = TWO_PI * fraction_of_turn
    return ops.sin(theta), ops.cos(theta)


def output_layer(spec: HeadSpec, features):
    """The head's output tensor on top of the backbone's features (one tensor, several heads concatenated)."""
    if spec.head == "polar":
        raise ValueError("the polar head is a network of its own (models/polar_reader.py), not a layer on a backbone")
    if spec.head == "classification":
        return layers.Dense(spec.n_classes, activation="softmax", name="time_classes")(features)
    if spec.head == "regression":
        return layers.Dense(1, name="hours")(features)
    if spec.head == "multihead":
        hour = layers.Dense(12, activation="softmax", name="hour_head")(features)
        minute = layers.Dense(1 if spec.minute_head == "regression" else 2, name="minute_head")(features)
        return layers.Concatenate(name="hour_and_minute")([hour, minute])
    return layers.Dense(2 if spec.hands == "hour" else 4, name="hand_angles")(features)


def loss_function(spec: HeadSpec):
    """The loss of a head, taking the true minutes and the head's output."""

    def classification(y_true, y_pred):
        width = MINUTES_ON_DIAL // spec.n_classes
        target = ops.floor(as_minutes(y_true) / width)
        return keras.losses.sparse_categorical_crossentropy(target, y_pred)

    def regression(y_true, y_pred):
        error = ops.reshape(y_pred, (-1,)) - as_minutes(y_true) / 60.0
        if spec.loss == "mse":
            return ops.square(error)
        if spec.loss == "circular":
            # Distance the long way round is never more than 6 hours: 11.9 against 0.1 is 0.2 hours off.
            return 6.0 - ops.abs(ops.mod(error, 12.0) - 6.0)
        return ops.abs(error)

    def multihead(y_true, y_pred):
        t = as_minutes(y_true)
        hour_loss = keras.losses.sparse_categorical_crossentropy(ops.floor(t / 60.0), y_pred[:, :12])
        minute_fraction = ops.mod(t, 60.0) / 60.0
        if spec.minute_head == "regression":
            return hour_loss + ops.abs(y_pred[:, 12] - minute_fraction)
        sin, cos = sin_cos(minute_fraction)
        return hour_loss + ops.square(y_pred[:, 12] - sin) + ops.square(y_pred[:, 13] - cos)

    def periodic(y_true, y_pred):
        t = as_minutes(y_true)
        targets = [*sin_cos(t / MINUTES_ON_DIAL)]
        if spec.hands == "both":
            targets += [*sin_cos(ops.mod(t, 60.0) / 60.0)]
        return ops.sum(ops.square(y_pred - ops.stack(targets, axis=1)), axis=1)

    def polar(y_true, y_pred):
        return polar_loss(as_minutes(y_true), y_pred)

    return {"classification": classification, "regression": regression, "multihead": multihead,
            "periodic": periodic, "polar": polar}[spec.head]


def decode(spec: HeadSpec, y_pred):
    """The head's output as minutes past 12, a float in [0, 720)."""
    if spec.head == "classification":
        # The centre of the whole minutes the class holds (k*w .. k*w + w - 1): with one minute per class that is
        # the minute itself, where the bin's centre k + 0.5 would round half to even onto k + 1 for odd k.
        width = MINUTES_ON_DIAL // spec.n_classes
        return ops.cast(ops.argmax(y_pred, axis=-1), "float32") * width + (width - 1) / 2
    if spec.head == "regression":
        return ops.mod(ops.reshape(y_pred, (-1,)) * 60.0, float(MINUTES_ON_DIAL))
    if spec.head == "multihead":
        hour = ops.cast(ops.argmax(y_pred[:, :12], axis=-1), "float32")
        if spec.minute_head == "regression":
            minute = ops.clip(y_pred[:, 12] * 60.0, 0.0, 59.999)
        else:
            minute = angle(y_pred[:, 12], y_pred[:, 13]) / TWO_PI * 60.0
        return hour * 60.0 + minute
    if spec.head == "polar":
        return consistent_time(*hand_readings(y_pred))
    hour_hand = angle(y_pred[:, 0], y_pred[:, 1]) / TWO_PI * MINUTES_ON_DIAL
    if spec.hands == "hour":
        return hour_hand
    minute = angle(y_pred[:, 2], y_pred[:, 3]) / TWO_PI * 60.0
    if spec.decoding == "independent":
        # The hour as the hour hand alone shows it (read to the nearest minute), whatever the minute hand says.
        return ops.mod(ops.floor(ops.round(hour_hand) / 60.0), 12.0) * 60.0 + minute
    return consistent_time(minute, hour_hand)


def consistent_time(minute, hour_hand):
    """The time from the minute (0-60) and where the hour hand points (minutes past 12, 0-720), in [0, 720).

    The hour hand says roughly where we are; the minute hand says exactly how far past the hour. Take the hour
    whose "hour + minute/60" lies nearest to the hour hand, so 2:58 with the hour hand just short of 3 reads 2:58
    and not 3:58. (The last mod: in float32, 11 hours and a minute a hair short of 60 make 720.)"""
    hour = ops.mod(ops.round((hour_hand - minute) / 60.0), 12.0)
    return ops.mod(hour * 60.0 + minute, float(MINUTES_ON_DIAL))


def on_circle_mean(values, period: float):
    """The mean of positions on a circle of `period` (the mean of their unit vectors), in [0, period)."""
    turn = np.asarray(values, dtype=np.float64) / period * TWO_PI
    return np.mod(np.arctan2(np.sin(turn).mean(axis=0), np.cos(turn).mean(axis=0)) / TWO_PI * period, period)


def mean_outputs(spec: HeadSpec, outputs) -> np.ndarray:
    """Several views' head outputs for the same images ((views, N, width) or a list) as one (N, width): each part
    averaged where it lives, probabilities (the polar reader's distributions too) and sin/cos pairs as they are,
    hours and minute fractions on their circles (so 11.9 and 0.1 hours average to 12, not 6)."""
    stack = np.asarray(outputs, dtype=np.float64)
    mean = stack.mean(axis=0)
    if spec.head == "regression":
        mean[:, 0] = on_circle_mean(stack[..., 0], 12.0)
    elif spec.head == "multihead" and spec.minute_head == "regression":
        mean[:, 12] = on_circle_mean(stack[..., 12], 1.0)
    return mean.astype(np.float32)


def to_whole_minutes(minutes):
    """A decoded time rounded to the minute a reader would say, 0-719."""
    return ops.mod(ops.round(minutes), float(MINUTES_ON_DIAL))


def cse_metric(spec: HeadSpec) -> keras.metrics.Metric:
    """Keras metric: mean common-sense error, in minutes, of the decoded prediction."""

    def cse(y_true, y_pred):
        return common_sense_error(to_whole_minutes(decode(spec, y_pred)), as_minutes(y_true))

    return keras.metrics.MeanMetricWrapper(cse, name="cse")
