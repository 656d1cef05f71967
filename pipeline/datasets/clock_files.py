"""Clock images in the course's format: a folder with images.npy (N, H, W) uint8 and labels.npy (N, 2)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pipeline.datasets.checks import check_counts, check_images, check_labels
from pipeline.datasets.digests import files_sha256
from pipeline.errors import InputError

IMAGES, LABELS = "images.npy", "labels.npy"


def read_npy(path: Path) -> np.ndarray:
    """One .npy file, never unpickling objects."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(path, f"not a readable .npy array ({exc})") from None


def validate_clock_arrays(images: np.ndarray, labels: np.ndarray, folder: str | Path) -> None:
    """Images (N, H, W) uint8; labels (N, 2) integers, hour 0-11 and minute 0-59."""
    folder = Path(folder)
    check_images(images, folder / IMAGES, ndim=3)
    if min(images.shape[1:]) < 16:
        raise InputError(folder / IMAGES, f"images of {images.shape[1]}x{images.shape[2]} are too small to read a clock")
    check_labels(labels, folder / LABELS, low=0, high=59, columns=2)
    check_labels(labels[:, 0], folder / LABELS, low=0, high=11)
    check_counts(images, labels, folder / LABELS)


def load_clock_folder(folder: str | Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Read and validate a course-format folder; returns images, int64 labels, and the SHA-256 of both files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "not a directory (expected a folder with images.npy and labels.npy)")
    images, labels = read_npy(folder / IMAGES), read_npy(folder / LABELS)
    validate_clock_arrays(images, labels, folder)
    return images, labels.astype(np.int64), files_sha256([folder / IMAGES, folder / LABELS])


def save_clock_folder(folder: str | Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write the two arrays in the course's format, both or neither (written aside, then renamed)."""
    folder = Path(folder)
    validate_clock_arrays(images, labels, folder)
    folder.mkdir(parents=True, exist_ok=True)
    staged = {name: folder / f".{name}.partial" for name in (IMAGES, LABELS)}
    try:
        for name, array in ((IMAGES, images), (LABELS, labels.astype(np.int64))):
            with open(staged[name], "wb") as f:
                np.save(f, array)
        for name, path in staged.items():
            path.replace(folder / name)
    finally:
        for path in staged.values():
            path.unlink(missing_ok=True)
    return folder
