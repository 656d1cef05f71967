"""The clock reader's network: a small residual CNN on the grey image, and one of the time heads on top.

Every representation in a comparison shares this backbone; only the head differs. The polar head is the exception:
a network of its own on the image unwrapped around its centre (models/polar_reader.py), with no backbone.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from models.normalization import batch_norm
from models.polar_reader import build_polar_network
from models.time_heads import HeadSpec, cse_metric, loss_function, output_layer


@dataclass(frozen=True)
class Backbone:
    """Stage widths (each stage halves the resolution), residual blocks per stage, and how much dropout sits
    before the head."""
    widths: tuple[int, ...] = (16, 32, 64, 128)
    blocks_per_stage: int = 1
    dropout: float = 0.1


def residual_block(x, filters: int, stride: int):
    """Two 3x3 convolutions with batch normalization, and a projection shortcut when the shape changes."""
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.ReLU()(batch_norm()(y))
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = batch_norm()(y)
    if stride != 1 or x.shape[-1] != filters:
        x = batch_norm()(layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x))
    return layers.ReLU()(layers.Add()([x, y]))


def scaled_input(image_size: int, augment: bool = False):
    """The uint8 image input and the 0-1 pixels the backbone reads (turned by a random angle with `augment`)."""
    inputs = keras.Input((image_size, image_size, 1), dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    if augment:
        x = layers.RandomRotation(0.5, fill_mode="reflect", name="turn")(x)
    return inputs, x


def build_clock_model(spec: HeadSpec, image_size: int, backbone: Backbone = Backbone(),
                      augment: bool = False) -> keras.Model:
    """The uncompiled clock reader for square grey uint8 images of `image_size` pixels.

    With `augment`, training images are turned by a random angle: the clock's orientation in the data is
    random anyway, so rotation keeps the label; mirroring would not, and is never used.
    """
    inputs, pixels = scaled_input(image_size, augment)
    if spec.head == "polar":  # its own network; `backbone` does not apply
        return keras.Model(inputs, build_polar_network(image_size)(pixels), name="clock_polar")
    features = build_backbone(image_size, backbone)(pixels)
    return keras.Model(inputs, output_layer(spec, features), name=f"clock_{spec.head}")


def build_clock_trainer(spec: HeadSpec, image_size: int, backbone: Backbone = Backbone()
                        ) -> tuple[keras.Model, keras.Model]:
    """The clock reader with a second output for training: where the dial's 12 points in the image (sin and cos
    of its rotation), learned beside the time. Returns (trainer, reader): they share every layer, the trainer has
    outputs {"time", "dial"}, the reader only the time head's output, as `build_clock_model` gives.

    The time is the hands' angles measured from the 12, and the numerals, 3-4 px at 75 px, are the only sign of
    where the 12 is; the rendered rotation as a direct target teaches the network to find it, which the time alone
    does not (benchmarks/README.md).
    """
    inputs, pixels = scaled_input(image_size)
    features = build_backbone(image_size, backbone)(pixels)
    time = output_layer(spec, features)
    dial = layers.Dense(2, name="dial")(features)
    return (keras.Model(inputs, {"time": time, "dial": dial}, name=f"clock_{spec.head}_trainer"),
            keras.Model(inputs, time, name=f"clock_{spec.head}"))


def build_pretext_trainer(image_size: int, backbone: Backbone = Backbone()) -> keras.Model:
    """The backbone alone, taught what every label representation needs and none of them is: where the dial's
    12 points (sin and cos of its rotation, output "dial") and where the two hands point in the image (sin and
    cos of each hand's angle from the image's up, "hands"). Its backbone starts every model of a comparison."""
    inputs, pixels = scaled_input(image_size)
    features = build_backbone(image_size, backbone)(pixels)
    return keras.Model(inputs, {"dial": layers.Dense(2, name="dial")(features),
                                "hands": layers.Dense(4, name="hands")(features)}, name="clock_pretext_trainer")


def compile_pretext_trainer(trainer: keras.Model, learning_rate) -> keras.Model:
    """Adam on the squared error of both outputs."""
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), loss={"dial": "mse", "hands": "mse"})
    return trainer


def dial_encoding(rotation_degrees) -> np.ndarray:
    """The dial output's target: sin and cos of each clock's rotation, (N, 2) float32."""
    turn = np.radians(np.asarray(rotation_degrees, dtype=np.float64))
    return np.stack([np.sin(turn), np.cos(turn)], axis=1).astype(np.float32)


def hands_encoding(rotation_degrees, minutes) -> np.ndarray:
    """The pretext's hands target: sin and cos of where the hour hand, then the minute hand, points in the image
    (clockwise from up: the dial's rotation plus the hand's angle from the 12), (N, 4) float32."""
    minutes = np.asarray(minutes, dtype=np.float64)
    hour, minute = (dial_encoding(np.asarray(rotation_degrees, np.float64) + angle)
                    for angle in (minutes * 0.5, (minutes % 60) * 6.0))
    return np.concatenate([hour, minute], axis=1)


def build_backbone(image_size: int, backbone: Backbone = Backbone()) -> keras.Model:
    """The shared feature extractor as its own model, named "backbone", on 0-1 grey images: one feature vector
    per image, for the heads to read. Every representation's network holds one, so a trained one carries over.

    The stem is two 3x3 convolutions at 75 px (150 px images are halved once first), and only then does the first
    stage halve the resolution: the numerals that tell which way is up are 3-4 px tall at 75 px, 1-2 px at half
    that (benchmarks/README.md).
    """
    inputs = keras.Input((image_size, image_size, 1), name="pixels")
    x = inputs
    for stride in (2 if image_size > 100 else 1, 1):
        x = layers.Conv2D(backbone.widths[0], 3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.ReLU()(batch_norm()(x))
    for width in backbone.widths:
        for block in range(backbone.blocks_per_stage):
            x = residual_block(x, width, stride=2 if block == 0 else 1)
    x = layers.GlobalAveragePooling2D()(x)
    if backbone.dropout:
        x = layers.Dropout(backbone.dropout)(x)
    return keras.Model(inputs, x, name="backbone")


def warmup_cosine(learning_rate: float, steps: int):
    """The clock readers' schedule: a tenth of `learning_rate` warming up to it over the first tenth of `steps`
    (at most 1,000), then cosine decay to 1% of it."""
    steps = max(1, steps)
    return keras.optimizers.schedules.CosineDecay(learning_rate / 10, decay_steps=steps, warmup_target=learning_rate,
                                                  warmup_steps=min(steps // 10, 1000), alpha=0.01)


def compile_clock_model(model: keras.Model, spec: HeadSpec, learning_rate) -> keras.Model:
    """Adam on the head's loss, with the common-sense error as the metric every epoch."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss_function(spec), metrics=[cse_metric(spec)])
    return model


def compile_clock_trainer(trainer: keras.Model, spec: HeadSpec, learning_rate, dial_weight: float) -> keras.Model:
    """Adam on the time head's loss plus `dial_weight` times the dial's squared error; the common-sense error of
    the time head every epoch (Keras names it time_cse)."""
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate),
                    loss={"time": loss_function(spec), "dial": "mse"},
                    loss_weights={"time": 1.0, "dial": float(dial_weight)}, metrics={"time": [cse_metric(spec)]})
    return trainer
