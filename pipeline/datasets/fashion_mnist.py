"""Fashion-MNIST from its four original idx `.gz` files: a given folder, data/raw, Debian's package, or the download."""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from pipeline import config
from pipeline.datasets.checks import check_counts, check_images, check_labels
from pipeline.datasets.digests import files_sha256
from pipeline.datasets.official import OfficialSets
from pipeline.errors import InputError

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DIR_ENV = "FASHION_MNIST_DIR"
DOWNLOAD_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# The idx header magic numbers: 0x0803 is a rank-3 ubyte array, 0x0801 a rank-1 one.
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def candidate_dirs(directory: str | Path | None) -> list[Path]:
    """Where the files are looked for, in order: the given folder, data/raw, Debian's package."""
    dirs = [Path(directory)] if directory else []
    return dirs + [config.RAW_DIR / "fashion-mnist", DEBIAN_DIR]


def find_files(directory: str | Path | None = None, download: bool = True) -> Path:
    """The first folder holding all four files; a folder the user named (or $FASHION_MNIST_DIR) must hold them."""
    directory = directory or os.environ.get(DIR_ENV) or None
    if directory is not None:
        missing = [name for name in FILES.values() if not (Path(directory) / name).is_file()]
        if missing:
            raise InputError(Path(directory) / missing[0], "file not found (Fashion-MNIST needs the four idx .gz files)")
        return Path(directory)
    for folder in candidate_dirs(None):
        if all((folder / name).is_file() for name in FILES.values()):
            return folder
    if not download:
        raise InputError(config.RAW_DIR / "fashion-mnist", "Fashion-MNIST files not found and download disabled")
    return download_files()


def download_files() -> Path:
    """Fetch the four files the way keras.datasets.fashion_mnist does, into Keras' cache."""
    import keras

    paths = [keras.utils.get_file(name, origin=DOWNLOAD_URL + name, cache_subdir="datasets/fashion-mnist")
             for name in FILES.values()]
    return Path(paths[0]).parent


def read_idx(path: Path, magic: int) -> np.ndarray:
    """One gzipped idx file as a uint8 array, its header checked against its length."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, f"not a readable gzip file ({exc})") from None
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") != magic:
        raise InputError(path, f"not an idx file of the expected kind (magic number {magic} missing)")
    rank = raw[3]
    header = 4 + 4 * rank
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise InputError(path, f"truncated or padded: header says {expected} bytes of data, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_fashion_mnist(directory: str | Path | None = None, download: bool = True) -> OfficialSets:
    """Read and validate Fashion-MNIST (60,000 train and 10,000 test images of 28x28)."""
    folder = find_files(directory, download)
    paths = {key: folder / name for key, name in FILES.items()}
    arrays = {key: read_idx(path, IMAGE_MAGIC if key.endswith("images") else LABEL_MAGIC)
              for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        check_images(images, paths[f"{split}_images"], ndim=3)
        if images.shape[1:] != (28, 28):
            raise InputError(paths[f"{split}_images"], f"images must be 28x28, found {images.shape[1:]}")
        check_labels(labels, paths[f"{split}_labels"], low=0, high=9)
        check_counts(images, labels, paths[f"{split}_labels"])
    return OfficialSets(
        x_train=arrays["train_images"], y_train=arrays["train_labels"].astype(np.int64),
        x_test=arrays["test_images"], y_test=arrays["test_labels"].astype(np.int64),
        source=str(folder), sha256=files_sha256(list(paths.values())),
    )
