"""Images as the clock reader takes them: validated to a grey uint8 batch and brought to the trained size."""
from __future__ import annotations

import numpy as np


def as_grey_batch(images) -> np.ndarray:
    """A batch (N, H, W) or (N, H, W, 1) of grey images with values 0-255 as uint8 (N, H, W); ValueError otherwise.

    Integer arrays (as JSON payloads arrive) are accepted when every value fits in 0-255.
    """
    array = np.asarray(images)
    if array.dtype == object:
        raise ValueError("images must be a regular array of numbers (N, H, W), not ragged lists")
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, 1), got {array.shape}")
    if array.shape[0] == 0 or min(array.shape[1:]) < 16:
        raise ValueError(f"need at least one image of at least 16x16 pixels, got shape {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"images must be uint8 grey levels, got {array.dtype}")
        if array.min() < 0 or array.max() > 255:
            raise ValueError(f"grey levels must lie in 0-255, got {array.min()}..{array.max()}")
        array = array.astype(np.uint8)
    return array


def area_downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """Shrink (..., H, W) uint8 images by a whole factor: each pixel the mean of a factor x factor block,
    rounding halves up (how the course's 75 px images were made from the 150 px ones)."""
    *lead, height, width = images.shape
    blocks = images.reshape(*lead, height // factor, factor, width // factor, factor).astype(np.uint32)
    cells = factor * factor
    return ((blocks.sum(axis=(-3, -1)) + cells // 2) // cells).astype(np.uint8)


def resize_to(images: np.ndarray, size: int) -> np.ndarray:
    """Square uint8 images of `size` pixels: area means for whole-number shrink factors (as the course's 75 px
    images were made from 150 px), antialiased bilinear resampling otherwise."""
    n, height, width = images.shape
    if (height, width) == (size, size):
        return images
    if height == width and height % size == 0:
        return area_downsample(images, height // size)
    from keras import ops

    resized = ops.image.resize(images[..., None].astype(np.float32), (size, size), interpolation="bilinear",
                               antialias=True, data_format="channels_last")
    return np.clip(np.round(ops.convert_to_numpy(resized)[..., 0]), 0, 255).astype(np.uint8)
