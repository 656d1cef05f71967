"""Validation of arrays as they enter: shape, dtype, label range, counts. Raises InputError naming the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import InputError


def check_images(images: np.ndarray, where: str | Path, *, ndim: int, channels: int | None = None) -> None:
    """Images must be a non-empty uint8 array of rank `ndim` (and `channels` last, if given)."""
    if images.dtype != np.uint8:
        raise InputError(where, f"images must be uint8, found {images.dtype}")
    if images.ndim != ndim:
        raise InputError(where, f"images must have {ndim} dimensions, found shape {images.shape}")
    if len(images) == 0:
        raise InputError(where, "the data set is empty (0 images)")
    if channels is not None and images.shape[-1] != channels:
        raise InputError(where, f"images must have {channels} channels last, found shape {images.shape}")


def check_labels(labels: np.ndarray, where: str | Path, *, low: int, high: int, columns: int | None = None) -> None:
    """Labels must be integers in [low, high], one row per image (with `columns` columns, if given)."""
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(where, f"labels must be integers, found {labels.dtype}")
    expected_ndim = 1 if columns is None else 2
    if labels.ndim != expected_ndim or (columns is not None and labels.shape[1] != columns):
        shape = "(N,)" if columns is None else f"(N, {columns})"
        raise InputError(where, f"labels must have shape {shape}, found {labels.shape}")
    if len(labels) == 0:
        raise InputError(where, "the data set is empty (0 labels)")
    if labels.min() < low or labels.max() > high:
        raise InputError(where, f"labels out of range: found {labels.min()}..{labels.max()}, expected {low}..{high}")


def check_counts(images: np.ndarray, labels: np.ndarray, where: str | Path) -> None:
    """Images and labels must pair up one to one."""
    if len(images) != len(labels):
        raise InputError(where, f"{len(images)} images but {len(labels)} labels")
