"""Labels only, from scratch: read clocks by learning three directions that turn with the image.

    python benchmarks/labels_only_equivariant.py --folder <course-format folder> [--size 75] [--minutes 90]

Why: on a clock turned by a random angle, the time is the angle from the dial's 12 to a hand. A network asked for
the time directly must find the hands and the 12 together before its answer carries any signal, and stays at
chance (benchmarks/README.md, 2026-12-03). Here the network outputs three unit vectors in image coordinates: the
minute hand u_m, the hour hand u_h and the dial's 12 u_d. Two things train them, both from the labels and the
images alone:
- the labels fix their angles to one another: u_m against u_d is 6 degrees a minute, u_h against u_d is 0.5
  degrees a minute past 12, u_m against u_h is 5.5 degrees a minute (no turn of the clock changes any of them);
- each image is also seen turned by a random angle phi (applied here, so known), and every vector must turn by
  phi with it (equivariance). No constant vector can do that, so the outputs cannot collapse to one answer.
Once u_m follows the minute hand, the labels give u_d a direct target (u_m turned back by 6 degrees a minute): the
dial's orientation is learnt from hour and minute labels, not from the renderer.

The folder is split by a seeded permutation (seed 0): 14,400 training and 1,800 validation images of 18,000 (the
rest, the test images, are not read). Prints one JSON line per epoch with the validation CSE; nothing is tracked.
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
    p.add_argument("--size", type=int, default=75)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--widths", default="16,32,64", help="stage widths; each stage ends with a 2x2 max pooling")
    p.add_argument("--convs", default="1,2,2", help="3x3 convolutions per stage")
    p.add_argument("--last", type=int, default=64, help="width of one more convolution before Flatten (0: none)")
    p.add_argument("--dense", type=int, default=256, help="units of each direction's dense tower")
    p.add_argument("--equivariance", type=float, default=1.0, help="weight of the turn-with-the-image loss")
    p.add_argument("--minutes", type=float, default=90.0, help="stop after this many minutes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--readout", choices=("dense", "keypoints"), default="dense",
                   help="dense: Flatten and a dense tower per direction; keypoints: a heat map per point (the "
                        "hub, the minute hand's tip, the hour hand's tip, the 12), each direction from the hub's "
                        "expected position to the point's")
    return p.parse_args()


def network(args):
    """Convolutions, Flatten (positions kept), and a dense tower per direction, each giving an (x, y) pair."""
    import keras
    from keras import layers

    inputs = keras.Input((args.size, args.size, 1))
    x = inputs
    for width, count in zip(map(int, args.widths.split(",")), map(int, args.convs.split(","))):
        for _ in range(count):
            x = layers.Conv2D(width, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
        x = layers.MaxPooling2D()(x)
    if args.last:
        x = layers.Conv2D(args.last, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    if args.readout == "keypoints":
        return keras.Model(inputs, layers.Conv2D(4, 1)(x))
    x = layers.Dropout(0.3)(layers.Flatten()(x))
    towers = [layers.Dense(2)(layers.Dense(args.dense, activation="relu")(x)) for _ in range(3)]
    return keras.Model(inputs, layers.Concatenate()(towers))


def unit(v):
    """(..., 2) vectors scaled to length 1, as complex numbers."""
    import tensorflow as tf

    v = v / tf.sqrt(tf.reduce_sum(v * v, axis=-1, keepdims=True) + 1e-6)
    return tf.complex(v[..., 0], v[..., 1])


def directions(model, images, training):
    """The minute hand, hour hand and 12 as unit complex numbers, each (N,)."""
    out = model(images, training=training)
    if len(out.shape) == 4:
        out = from_keypoints(out)
    return unit(out[:, 0:2]), unit(out[:, 2:4]), unit(out[:, 4:6])


def from_keypoints(heat):
    """(N, H, W, 4) heat maps to (N, 6): the expected position of the minute tip, hour tip and 12, each less the
    hub's, in image coordinates (x right, y down)."""
    import tensorflow as tf

    n, rows, cols = tf.shape(heat)[0], tf.shape(heat)[1], tf.shape(heat)[2]
    weights = tf.nn.softmax(tf.reshape(tf.transpose(heat, (0, 3, 1, 2)), (n, 4, rows * cols)), axis=-1)
    ys, xs = tf.meshgrid(tf.range(rows, dtype=tf.float32), tf.range(cols, dtype=tf.float32), indexing="ij")
    grid = tf.stack([tf.reshape(xs, (-1,)), tf.reshape(ys, (-1,))], axis=1)       # (H*W, 2)
    points = tf.einsum("nkp,pc->nkc", weights, grid)                               # (N, 4, 2)
    return tf.reshape(points[:, 1:] - points[:, :1], (n, 6))


def turned(images, phi):
    """Each image turned by its angle phi (radians, clockwise as seen, image y pointing down) about its centre:
    content at offset d from the centre moves to R(phi) d, so a direction at angle a turns to a + phi."""
    import tensorflow as tf

    size = tf.cast(tf.shape(images)[1], tf.float32)
    c = (size - 1) / 2
    cos, sin = tf.cos(phi), tf.sin(phi)
    # Output pixel p reads input pixel R(-phi)(p - c) + c.
    zeros = tf.zeros_like(phi)
    transform = tf.stack([cos, sin, c - c * cos - c * sin, -sin, cos, c + c * sin - c * cos, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(images=images, transforms=transform,
                                                  output_shape=tf.shape(images)[1:3], fill_value=0.0,
                                                  interpolation="BILINEAR", fill_mode="REFLECT")


def label_angles(minutes):
    """The labels' angles, in radians clockwise: minute hand from 12, hour hand from 12, minute from hour hand."""
    import tensorflow as tf

    minute = tf.math.floormod(minutes, 60.0)
    return minute * (math.pi / 30), minutes * (math.pi / 360), minutes * (5.5 * math.pi / 180)


def mismatch(z, angle):
    """1 - cos of the difference between unit complex z's angle and `angle`, averaged."""
    import tensorflow as tf

    return tf.reduce_mean(1.0 - tf.math.real(z * tf.complex(tf.cos(-angle), tf.sin(-angle))))


def label_loss(m, h, d, minutes):
    a_min, a_hour, a_rel = label_angles(minutes)
    return (mismatch(m * tf_conj(d), a_min) + mismatch(h * tf_conj(d), a_hour)
            + mismatch(m * tf_conj(h), a_rel))


def tf_conj(z):
    import tensorflow as tf

    return tf.math.conj(z)


def read_minutes(m, h, d):
    """The time in minutes 0-719 from the three directions: the minute from u_m against u_d, the hour from u_h
    against u_d, made consistent with the minute."""
    import numpy as np

    minute = (np.angle(m * np.conj(d)) * 30 / np.pi) % 60
    hour_minutes = (np.angle(h * np.conj(d)) * 360 / np.pi) % 720
    hours = np.round((hour_minutes - minute) / 60) % 12
    return hours * 60 + minute


def make_step(model, optimizer, weight):
    import tensorflow as tf

    @tf.function
    def step(images, minutes):
        phi = tf.random.uniform(tf.shape(minutes), 0, 2 * math.pi)
        rotated = turned(images, phi)
        spin = tf.complex(tf.cos(phi), tf.sin(phi))
        with tf.GradientTape() as tape:
            m, h, d = directions(model, images, True)
            m2, h2, d2 = directions(model, rotated, True)
            labels = label_loss(m, h, d, minutes) + label_loss(m2, h2, d2, minutes)
            zero = tf.zeros_like(phi)
            equivariance = (mismatch(m2 * tf_conj(m * spin), zero) + mismatch(h2 * tf_conj(h * spin), zero)
                            + mismatch(d2 * tf_conj(d * spin), zero))
            loss = labels + weight * equivariance
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return labels, equivariance

    return step


def validation_cse(model, images, minutes):
    import numpy as np

    parts = [directions(model, images[i:i + 256], False) for i in range(0, len(images), 256)]
    m, h, d = (np.concatenate([p[k].numpy() for p in parts]) for k in range(3))
    read = read_minutes(m, h, d)
    diff = np.abs(read - minutes) % 720
    cse = np.minimum(diff, 720 - diff)
    minute_diff = np.abs(read % 60 - minutes % 60) % 60
    return float(cse.mean()), float(np.median(cse)), float(np.minimum(minute_diff, 60 - minute_diff).mean())


def main() -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    from models.clock_input import resize_to

    args = parse_args()
    images = np.load(Path(args.folder) / "images.npy")
    labels = np.load(Path(args.folder) / "labels.npy")
    order = np.random.default_rng(0).permutation(len(labels))
    train, validation = order[:14400], order[14400:16200]
    minutes = ((labels[:, 0] % 12) * 60 + labels[:, 1]).astype(np.float32)
    x = (resize_to(images, args.size)[..., None] / 255.0).astype(np.float32)
    keras.utils.set_random_seed(args.seed)
    model = network(args)
    steps_per_epoch = len(train) // args.batch_size
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps_per_epoch * args.epochs, alpha=0.0,
                                                      warmup_target=args.learning_rate,
                                                      warmup_steps=steps_per_epoch)
    step = make_step(model, keras.optimizers.Adam(schedule), args.equivariance)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        began, shuffled = time.perf_counter(), rng.permutation(train)
        losses = [step(tf.constant(x[idx]), tf.constant(minutes[idx]))
                  for idx in np.array_split(shuffled[:steps_per_epoch * args.batch_size], steps_per_epoch)]
        label_l, equi_l = (float(np.mean([float(l[k]) for l in losses])) for k in range(2))
        mean, median, minute_err = validation_cse(model, x[validation], minutes[validation])
        print(json.dumps({"size": args.size, "epoch": epoch + 1, "label_loss": round(label_l, 3),
                          "equivariance_loss": round(equi_l, 3), "val_cse": round(mean, 1),
                          "val_cse_median": round(median, 1), "val_minute_error": round(minute_err, 1),
                          "images_per_second": round(len(train) / (time.perf_counter() - began)),
                          "elapsed_s": round(time.perf_counter() - started)}), flush=True)
        if time.perf_counter() - started > args.minutes * 60:
            break


if __name__ == "__main__":
    main()
