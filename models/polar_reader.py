"""The polar clock reader: the image unwrapped around its centre, where a turn of the clock is a cyclic shift.

On a clock turned by a random angle the time is the angle from the dial's 12 to a hand. A network asked for the
time directly must find the hands and the 12 together before its answer carries any signal, and learned from labels
alone it stays at chance (benchmarks/README.md). This reader resamples each image into radius x angle (angle 0
points up, angles run clockwise as seen), so turning the clock shifts the picture along the angle axis, and scores
at every angle, with a network that is cyclic along it, "the minute hand points here", "the hour hand points here"
and "the 12 is here": three distributions over the angles (m, h, d).

Its output is the three pairwise circular cross-correlations apart(m, d), apart(h, d), apart(m, h), each the
distribution of the angle from one point to the other: unchanged by any turn of the clock, and fixed by the label.
The minute hand lies minutes/60 of a turn from the 12, the hour hand minutes/720, and the minute hand 11 x
minutes/720 from the hour hand; each is trained by cross-entropy against that angle, spread over its two nearest
angle bins. The hands' angle apart needs no 12: once the minute hand is found, the labels place the 12 exactly.

    output (N, 3 x angles): apart(m, d), apart(h, d), apart(m, h), each summing to 1 over the angles
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from models.common_sense_error import MINUTES_ON_DIAL
from models.normalization import batch_norm

PACKAGE = "polar_reader"  # the custom layers' names in a saved model: "polar_reader>Unwrap", ...
# Turns of each pair's angle apart in 12 hours: the minute hand from the 12, the hour hand from the 12, the minute
# hand from the hour hand (12 - 1).
TURNS_PER_DIAL = (12, 1, 11)
SMALLEST_PROBABILITY = 1e-7  # keeps the log finite where a distribution underflows to 0


@dataclass(frozen=True)
class PolarReader:
    """How finely the image is unwrapped, and the cyclic network's convolution widths: one convolution per radius
    scale, the radius halved after each but the last (the angles all kept), then `dense` units at every angle."""
    radii: int = 32
    angles: int = 128
    widths: tuple[int, ...] = (16, 32, 64, 64, 64)
    dense: int = 128


def sampling_grid(image_size: int, radii: int, angles: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each (radius, angle) cell reads the flattened image: the four pixels around its point, (radii x angles
    x 4,) int32 indices, and their bilinear weights, (radii, angles, 4) float32. Points beyond the edge read the
    edge."""
    centre = (image_size - 1) / 2
    theta = np.arange(angles) * 2 * math.pi / angles
    radius = (np.arange(radii) + 0.5) * (image_size / 2) / radii
    rows = np.clip(centre - np.outer(radius, np.cos(theta)), 0, image_size - 1)   # up is towards row 0
    cols = np.clip(centre + np.outer(radius, np.sin(theta)), 0, image_size - 1)   # clockwise: towards +x first
    top = np.minimum(np.floor(rows), image_size - 2).astype(np.int64)
    left = np.minimum(np.floor(cols), image_size - 2).astype(np.int64)
    down, right = rows - top, cols - left
    indices = np.stack([top * image_size + left, top * image_size + left + 1,
                        (top + 1) * image_size + left, (top + 1) * image_size + left + 1], axis=-1)
    weights = np.stack([(1 - down) * (1 - right), (1 - down) * right, down * (1 - right), down * right], axis=-1)
    return indices.reshape(-1).astype(np.int32), weights.astype(np.float32)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Unwrap(layers.Layer):
    """Square grey images (N, S, S, 1) resampled around the image centre to (N, radii, angles, 1) by bilinear
    sampling: angle 0 points up, angles run clockwise as seen, radii from the centre to the edge."""

    def __init__(self, image_size: int, radii: int, angles: int, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.radii, self.angles = image_size, radii, angles
        self.indices, self.corner_weights = sampling_grid(image_size, radii, angles)

    def call(self, images):
        flat = ops.reshape(ops.cast(images, self.compute_dtype), (-1, self.image_size * self.image_size))
        corners = ops.reshape(ops.take(flat, self.indices, axis=1), (-1, self.radii, self.angles, 4))
        return ops.sum(corners * self.corner_weights, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.radii, self.angles, 1)

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "radii": self.radii, "angles": self.angles}


@keras.saving.register_keras_serializable(package=PACKAGE)
class CyclicPad(layers.Layer):
    """Pad (N, radii, angles, C) by one cell on each side for a 3x3 convolution: zeros along the radius, and along
    the angle the cells from the other end, so the convolution wraps around the clock."""

    def call(self, x):
        x = ops.concatenate([x[:, :, -1:], x, x[:, :, :1]], axis=2)
        return ops.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]])

    def compute_output_shape(self, input_shape):
        batch, radii, angles, channels = input_shape
        return (batch, None if radii is None else radii + 2, None if angles is None else angles + 2, channels)


def apart(p, q):
    """Circular cross-correlation of distributions over the angles, p and q (N, A): out[k] = sum_t p[t + k] q[t],
    the distribution of the angle from q's point to p's. A gather, not an FFT, so that every backend runs it."""
    bins = p.shape[-1]
    shifted = (np.arange(bins)[:, None] + np.arange(bins)[None, :]) % bins   # [k, t] -> t + k
    return ops.einsum("nkt,nt->nk", ops.take(p, shifted, axis=1), q)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AnglesApart(layers.Layer):
    """Scores (N, angles, 3) for the minute hand, the hour hand and the 12 at every angle, as the distributions of
    their angles apart, (N, 3 x angles): apart(minute, 12), apart(hour, 12), apart(minute, hour)."""

    def call(self, scores):
        p = ops.softmax(scores, axis=1)   # over the angles
        minute, hour, twelve = p[..., 0], p[..., 1], p[..., 2]
        return ops.concatenate([apart(minute, twelve), apart(hour, twelve), apart(minute, hour)], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 3 * input_shape[1])


CUSTOM_OBJECTS = {keras.saving.get_registered_name(kind): kind for kind in (Unwrap, CyclicPad, AnglesApart)}


def cyclic_conv(x, filters: int):
    """A 3x3 convolution wrapped around along the angle and zero-padded along the radius, with batch
    normalization and ReLU. Standard layers around the padding, so that the batch normalization is a layer of the
    model (the training's batch-norm recalibration finds it there)."""
    x = layers.Conv2D(filters, 3, padding="valid", use_bias=False)(CyclicPad()(x))
    return layers.ReLU()(batch_norm()(x))


def build_polar_network(image_size: int, reader: PolarReader = PolarReader()) -> keras.Model:
    """The polar reader as a model on 0-1 grey images (N, S, S, 1), named "polar": unwrapped, cyclic
    convolutions, the radius pooled away, three scores at every angle, their angles apart (N, 3 x angles)."""
    inputs = keras.Input((image_size, image_size, 1), name="pixels")
    x = Unwrap(image_size, reader.radii, reader.angles, name="unwrap")(inputs)
    # The hands span the radius and the numerals sit in a band near the rim: one convolution per radius scale.
    for number, width in enumerate(reader.widths, start=1):
        x = cyclic_conv(x, width)
        if number < len(reader.widths):
            x = layers.MaxPooling2D((2, 1))(x)   # halve the radius, keep every angle
    x = layers.Permute((2, 1, 3))(x)                # (angles, radii left, channels)
    x = layers.Reshape((reader.angles, -1))(x)
    x = layers.Dense(reader.dense, activation="relu")(x)
    scores = layers.Dense(3, name="hand_and_twelve_scores")(x)
    return keras.Model(inputs, AnglesApart(name="angles_apart")(scores), name="polar")


def soft_target(fraction_of_turn, bins: int):
    """An angle (a fraction of a turn, (N,)) as a distribution over `bins` angle bins: spread over its two nearest
    bins, so the target's circular mean is the angle itself."""
    position = ops.mod(fraction_of_turn * bins, float(bins))
    low = ops.floor(position)
    high_weight = (position - low)[:, None]
    low = ops.cast(low, "int32")
    return (ops.one_hot(low, bins) * (1 - high_weight)
            + ops.one_hot(ops.mod(low + 1, bins), bins) * high_weight)


def as_distributions(outputs):
    """The reader's output (N, 3 x angles) as (N, 3, angles): apart(m, d), apart(h, d), apart(m, h)."""
    return ops.reshape(outputs, (-1, 3, outputs.shape[-1] // 3))


def polar_loss(minutes, outputs):
    """Cross-entropy of each angle apart against where the true time (minutes past 12, (N,)) puts it, summed over
    the three pairs; (N,)."""
    distributions = as_distributions(outputs)
    bins = distributions.shape[-1]
    targets = ops.stack([soft_target(minutes * turns / MINUTES_ON_DIAL, bins) for turns in TURNS_PER_DIAL], axis=1)
    return -ops.sum(targets * ops.log(ops.maximum(distributions, SMALLEST_PROBABILITY)), axis=(1, 2))


def hand_readings(outputs):
    """What the reader's output says of the hands, each from the circular mean of its angle from the 12: the minute
    (0-60) and where the hour hand points, in minutes past 12 (0-720)."""
    distributions = as_distributions(outputs)
    turn = np.arange(distributions.shape[-1]) * 2 * math.pi / distributions.shape[-1]
    sin = ops.sum(distributions[:, :2] * np.sin(turn).astype(np.float32), axis=-1)
    cos = ops.sum(distributions[:, :2] * np.cos(turn).astype(np.float32), axis=-1)
    fraction = ops.mod(ops.arctan2(sin, cos), 2 * math.pi) / (2 * math.pi)
    return fraction[:, 0] * 60.0, fraction[:, 1] * MINUTES_ON_DIAL
