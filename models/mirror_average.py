"""Reading each image as it is and mirrored left-right, and averaging the two class probabilities.

A classifier trained with left-right flips has learned both views of every garment and object; averaging its two
readings is a two-model ensemble for the price of one trained network (test-time augmentation). The mirror is made
of Keras' own layers (a fixed permutation matrix between two transposes), so the averaged model saves, logs and
loads like any other Keras model, with no custom objects.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers


def mirror_averaged(classifier: keras.Model, input_shape: tuple[int, int, int]) -> keras.Model:
    """A model that gives, for uint8 images of `input_shape` (H, W, C), the mean of `classifier`'s softmax on each
    image and on its left-right mirror. The classifier's weights are shared, not copied."""
    height, width, channels = input_shape
    images = keras.Input(input_shape, dtype="uint8", name="images")
    pixels = layers.Identity(dtype="float32", name="as_float")(images)
    columns_last = layers.Permute((1, 3, 2), name="columns_last")(pixels)          # (H, C, W)
    reverse = layers.Dense(width, use_bias=False, trainable=False, name="reverse_columns")
    mirrored = layers.Permute((1, 3, 2), name="mirrored")(reverse(columns_last))   # (H, W, C), columns reversed
    readings = [classifier(images), classifier(layers.Identity(dtype="uint8", name="as_uint8")(mirrored))]
    model = keras.Model(images, layers.Average(name="mean_probabilities")(readings), name="mirror_averaged")
    reverse.set_weights([np.eye(width, dtype="float32")[::-1]])
    return model
