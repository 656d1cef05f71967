"""Labels only, from scratch: read clocks unwrapped around their centre, where a turn of the clock is a shift.

    python benchmarks/labels_only_polar.py --folder <course-format folder> [--angles 192] [--radii 48]
        [--minutes 90]

Why: on a clock turned by a random angle, the time is the angle from the dial's 12 to a hand; a network asked for
the time directly must find the hands and the 12 together before its answer carries any signal, and stays at
chance (benchmarks/README.md, 2026-12-03). Here each image is resampled around the image centre into angle x
radius (a turn of the clock becomes a cyclic shift along the angle), and a network that is cyclic along the angle
scores, at every angle, "the minute hand points here", "the hour hand points here", "the 12 is here": three
distributions over the angles. The labels fix where they lie from one another: the minute hand 6 degrees a minute
from the 12, the hour hand 0.5 degrees a minute from it, and the minute hand 5.5 degrees a minute from the hour
hand. Each pair's circular cross-correlation is the distribution of their angle apart, trained by cross-entropy
against that angle. The hands' angle apart needs no 12; once the minute hand is found, the labels place the 12
exactly. Training turns each clock by a random cyclic shift (the labels do not change).

The folder is split by a seeded permutation (seed 0): 14,400 training and 1,800 validation images of 18,000 (the
rest, the test images, are read only with --test, once, at the end). Prints one JSON line per epoch.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", required=True, help="images.npy and labels.npy, course format")
    p.add_argument("--angles", type=int, default=128)
    p.add_argument("--radii", type=int, default=32)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--width", type=int, default=16, help="channels of the first convolution; doubled twice")
    p.add_argument("--train", type=int, default=14400, help="training images (the first of the 14,400)")
    p.add_argument("--minutes", type=float, default=90.0, help="stop after this many minutes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test", action="store_true", help="read the test split once at the end")
    return p.parse_args()


def unwrapped(images, angles: int, radii: int):
    """(N, H, W) uint8 images resampled around the image centre to (N, radii, angles) float32 in 0-1: angle 0 points
    up (12 o'clock of an upright clock), angles run clockwise as seen; radii run from the centre to the edge."""
    import numpy as np
    from scipy.ndimage import map_coordinates

    size = images.shape[1]
    c = (size - 1) / 2
    theta = np.arange(angles) * 2 * np.pi / angles
    r = (np.arange(radii) + 0.5) * (size / 2) / radii
    rows = c - np.outer(r, np.cos(theta))          # up is -y
    cols = c + np.outer(r, np.sin(theta))          # clockwise as seen: towards +x first
    out = np.empty((len(images), radii, angles), np.float32)
    for i, image in enumerate(images):
        out[i] = map_coordinates(image.astype(np.float32), [rows, cols], order=1, mode="nearest")
    return out / 255.0


class CyclicConv(__import__("keras").layers.Layer):
    """A 3x3 convolution, zero-padded along the radius and wrapped around along the angle."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        import keras

        self.conv = keras.layers.Conv2D(filters, 3, padding="valid", use_bias=False)
        self.norm = keras.layers.BatchNormalization(momentum=0.9)

    def call(self, x, training=None):
        from keras import ops

        x = ops.concatenate([x[:, :, -1:], x, x[:, :, :1]], axis=2)
        x = ops.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]])
        return ops.relu(self.norm(self.conv(x), training=training))


def network(args):
    """Cyclic convolutions; the radius pooled away; three scores at every angle -> (N, angles, 3) logits."""
    import keras
    from keras import layers

    inputs = keras.Input((args.radii, args.angles, 1))
    x = inputs
    w = args.width
    # One convolution per radius scale, the radius halved after each (the angles all kept): the hands span the
    # radius, the numerals sit in a band near the rim.
    for width, pool in ((w, True), (2 * w, True), (4 * w, True), (4 * w, True), (4 * w, False)):
        x = CyclicConv(width)(x)
        if pool:
            x = layers.MaxPooling2D((2, 1))(x)          # halve the radius; keep every angle
    x = layers.Permute((2, 1, 3))(x)                   # (angles, radii/16, channels)
    x = layers.Reshape((args.angles, -1))(x)
    x = layers.Dense(128, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(3)(x))


def apart(p, q):
    """Circular cross-correlation of distributions p, q (N, A): out[k] = sum_t p[t + k] q[t], the distribution of
    the angle from q's point to p's."""
    import tensorflow as tf

    fp = tf.signal.fft(tf.complex(p, tf.zeros_like(p)))
    fq = tf.signal.fft(tf.complex(q, tf.zeros_like(q)))
    return tf.maximum(tf.math.real(tf.signal.ifft(fp * tf.math.conj(fq))), 1e-7)


def soft_target(angle_fraction, bins: int):
    """A label's angle (fraction of a turn, (N,)) spread over its two nearest of `bins` angle bins."""
    import tensorflow as tf

    position = tf.math.floormod(angle_fraction * bins, bins)
    low = tf.floor(position)
    high_weight = position - low
    low_i = tf.cast(low, tf.int32)
    return (tf.one_hot(low_i, bins) * (1 - high_weight)[:, None]
            + tf.one_hot(tf.math.floormod(low_i + 1, bins), bins) * high_weight[:, None])


def distributions(logits):
    import tensorflow as tf

    p = tf.nn.softmax(logits, axis=1)          # over the angles
    return p[..., 0], p[..., 1], p[..., 2]     # minute hand, hour hand, 12


def loss_of(logits, minutes, bins: int):
    import tensorflow as tf

    m, h, d = distributions(logits)
    minute = tf.math.floormod(minutes, 60.0)
    pairs = ((apart(m, d), minute / 60), (apart(h, d), minutes / 720), (apart(m, h), 5.5 * minutes / 360))
    return sum(tf.reduce_mean(-tf.reduce_sum(soft_target(target, bins) * tf.math.log(dist), axis=1))
               for dist, target in pairs)


def read_minutes(logits):
    """The time 0-719 from the logits: the minute from the minute hand against the 12, the hour from the hour hand
    against the 12, made consistent with the minute (circular means of the cross-correlations)."""
    import numpy as np

    m, h, d = (x.numpy() for x in distributions(logits))
    bins = m.shape[1]
    turn = np.exp(2j * np.pi * np.arange(bins) / bins)

    def angle_apart(p, q):
        fp, fq = np.fft.fft(p, axis=1), np.fft.fft(q, axis=1)
        corr = np.real(np.fft.ifft(fp * np.conj(fq), axis=1))
        return (np.angle(corr @ turn) / (2 * np.pi)) % 1.0

    minute = angle_apart(m, d) * 60
    hour_minutes = angle_apart(h, d) * 720
    hours = np.round((hour_minutes - minute) / 60) % 12
    return hours * 60 + minute


def cse_of(model, x, minutes):
    import numpy as np

    read = np.concatenate([read_minutes(model(x[i:i + 256], training=False)) for i in range(0, len(x), 256)])
    diff = np.abs(read - minutes) % 720
    cse = np.minimum(diff, 720 - diff)
    return float(cse.mean()), float(np.median(cse)), float((cse > 30).mean())


def make_step(model, optimizer, bins: int):
    import tensorflow as tf

    @tf.function
    def step(x, minutes):
        shift = tf.random.uniform((), 0, bins, dtype=tf.int32)   # one turn per batch, the labels unchanged
        x = tf.roll(x, shift, axis=2)
        with tf.GradientTape() as tape:
            loss = loss_of(model(x, training=True), minutes, bins)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def main() -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    args = parse_args()
    images = np.load(Path(args.folder) / "images.npy")
    labels = np.load(Path(args.folder) / "labels.npy")
    order = np.random.default_rng(0).permutation(len(labels))
    train, validation, test = order[:14400][:args.train], order[14400:16200], order[16200:]
    minutes = ((labels[:, 0] % 12) * 60 + labels[:, 1]).astype(np.float32)
    began = time.perf_counter()
    x = unwrapped(images[np.concatenate([train, validation])], args.angles, args.radii)[..., None]
    x_train, x_val = x[:len(train)], x[len(train):]
    print(json.dumps({"unwrapped_s": round(time.perf_counter() - began, 1)}), flush=True)
    keras.utils.set_random_seed(args.seed)
    model = network(args)
    steps_per_epoch = len(train) // args.batch_size
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps_per_epoch * args.epochs, warmup_target=args.learning_rate,
                                                      warmup_steps=steps_per_epoch)
    step = make_step(model, keras.optimizers.Adam(schedule), args.angles)
    started, rng = time.perf_counter(), np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        epoch_began = time.perf_counter()
        shuffled = rng.permutation(len(train))[:steps_per_epoch * args.batch_size]
        losses = [float(step(tf.constant(x_train[idx]), tf.constant(minutes[train][idx])))
                  for idx in np.array_split(shuffled, steps_per_epoch)]
        mean, median, hour_errors = cse_of(model, x_val, minutes[validation])
        print(json.dumps({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 3), "val_cse": round(mean, 2),
                          "val_cse_median": round(median, 2), "val_hour_error_share": round(hour_errors, 3),
                          "images_per_second": round(len(shuffled) / (time.perf_counter() - epoch_began)),
                          "elapsed_s": round(time.perf_counter() - started)}), flush=True)
        if time.perf_counter() - started > args.minutes * 60:
            break
    if args.test:
        x_test = unwrapped(images[test], args.angles, args.radii)[..., None]
        mean, median, hour_errors = cse_of(model, x_test, minutes[test])
        print(json.dumps({"test_cse": round(mean, 2), "test_cse_median": round(median, 2),
                          "test_hour_error_share": round(hour_errors, 3)}), flush=True)


if __name__ == "__main__":
    main()
