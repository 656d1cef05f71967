"""Genuine labelled clock images to read a trained reader against, never to train or choose on: a course-format
folder (images.npy and labels.npy), or image files whose names carry the time as HH-MM
(`resampled150_02-07_ohgreat.png` is 2:07)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.datasets.clock_files import IMAGES, LABELS, load_clock_folder
from pipeline.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
# Two digits, a hyphen, two digits, with no digit or hyphen either side: "02-07" in "resampled150_02-07_ohgreat",
# but no time in a date such as "2024-01-02".
TIME_IN_NAME = re.compile(r"(?<![\d-])(\d{2})-(\d{2})(?![\d-])")


@dataclass(frozen=True)
class ReferenceImages:
    """The labelled images of a reference folder, at the size a reader reads."""
    folder: Path
    images: np.ndarray      # uint8 (N, size, size) grey
    labels: np.ndarray      # int64 (N, 2): hour 0-11, minute 0-59
    names: list[str]        # each image's file name (images.npy[i] for a course-format folder)
    skipped: list[str]      # image files whose names carry no single time: not read


def time_in_name(name: str) -> tuple[int, int] | None:
    """(hour 0-11, minute) from a file name carrying exactly one time as HH-MM (hours 12-23 read as on the dial);
    None for a name with no time or with several (a strip of clocks)."""
    found = TIME_IN_NAME.findall(Path(name).stem)
    if len(found) != 1:
        return None
    hour, minute = (int(part) for part in found[0])
    if hour > 23 or minute > 59:
        return None
    return hour % 12, minute


def read_image(path: Path) -> np.ndarray:
    """One image file as a grey uint8 array; an unreadable or oversized one is bad input naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"))
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except Image.DecompressionBombError as exc:
        # Pillow refuses images over twice its MAX_IMAGE_PIXELS before decoding them (a decompression bomb).
        raise InputError(path, f"image too large to read ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable image ({exc})") from None


def read_named_images(folder: Path, size: int) -> tuple[list[np.ndarray], list[tuple[int, int]], list[str], list[str]]:
    """The folder's image files named with one time, each read and brought to `size`; and the names of the image
    files skipped for carrying no single time."""
    from models.clock_input import resize_to

    images, labels, names, skipped = [], [], [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        time = time_in_name(path.name)
        if time is None:
            skipped.append(path.name)
            continue
        image = read_image(path)
        if min(image.shape) < 16:
            raise InputError(path, f"an image of {image.shape[1]}x{image.shape[0]} is too small to read a clock")
        images.append(resize_to(image[None], size)[0])
        labels.append(time)
        names.append(path.name)
    return images, labels, names, skipped


def read_reference(folder: str | Path, size: int) -> ReferenceImages:
    """The labelled images of `folder` at `size` pixels square, resized as the clock reader resizes its input;
    a folder with none is bad input naming it."""
    from models.clock_input import resize_to

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "not a directory (expected a folder of labelled clock images)")
    if (folder / IMAGES).exists() or (folder / LABELS).exists():
        images, labels, _ = load_clock_folder(folder)
        return ReferenceImages(folder, resize_to(images, size), labels,
                               [f"{IMAGES}[{i}]" for i in range(len(labels))], [])
    images, labels, names, skipped = read_named_images(folder, size)
    if not images:
        raise InputError(folder, f"no labelled clock images here (expected {IMAGES} and {LABELS}, or image files "
                                 f"named with their time as HH-MM, such as clock_03-25.png)")
    return ReferenceImages(folder, np.stack(images), np.asarray(labels, dtype=np.int64), names, skipped)
