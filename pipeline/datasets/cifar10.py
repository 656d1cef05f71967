"""CIFAR-10 from its official python layout, read with Keras' restricted unpickling rule, never plain pickle."""
from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from pipeline import config
from pipeline.datasets.checks import check_counts, check_images, check_labels
from pipeline.datasets.digests import files_sha256
from pipeline.datasets.official import OfficialSets
from pipeline.errors import InputError

BATCH_DIR = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PATH_ENV = "CIFAR10_PATH"
DOWNLOAD_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DOWNLOAD_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


# Keras' rule (keras.src.datasets.npz_utils.RestrictedUnpickler, which its CIFAR-10 loader uses): numpy's array
# reconstruction and nothing else. Written here so reading CIFAR-10 does not pay for importing TensorFlow.
ALLOWED_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                             ("numpy._core.multiarray", "_reconstruct")})


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global but numpy's array reconstruction."""

    def find_class(self, module, name):
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_batch(f: BinaryIO, where: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: images (N, 32, 32, 3) uint8 and labels (N,) int64, validated."""
    try:
        batch = RestrictedUnpickler(f, encoding="bytes").load()
        data, labels = batch[b"data"], batch[b"labels"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError,
            IndexError, OSError) as exc:
        raise InputError(where, f"not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise InputError(where, f"batch data must be uint8 of shape (N, 3072), found {shape}")
    # Channels last, copied once into C order: a strided view would make every later write several times slower.
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    labels = np.asarray(labels, dtype=np.int64)
    check_images(images, where, ndim=4, channels=3)
    check_labels(labels, where, low=0, high=9)
    check_counts(images, labels, where)
    return images, labels


def locate(path: str | Path | None = None, download: bool = True) -> Path:
    """The batch folder or archive: the given path (or $CIFAR10_PATH), data/raw, else Keras' download."""
    given = path or os.environ.get(PATH_ENV)
    if given:
        given = Path(given)
        for candidate in (given, given / BATCH_DIR, given / ARCHIVE):
            if (candidate.is_dir() and (candidate / TEST_BATCH).exists()) or \
                    (candidate.is_file() and candidate.name.endswith((".tar.gz", ".tgz"))):
                return candidate
        raise InputError(given, f"no CIFAR-10 here: expected a {BATCH_DIR}/ folder or a {ARCHIVE} archive")
    for candidate in (config.RAW_DIR / BATCH_DIR, config.RAW_DIR / ARCHIVE):
        if candidate.exists():
            return candidate
    if not download:
        raise InputError(config.RAW_DIR / BATCH_DIR, "CIFAR-10 not found and download disabled")
    import keras

    return Path(keras.utils.get_file(ARCHIVE, origin=DOWNLOAD_URL, file_hash=DOWNLOAD_SHA256))


def read_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every batch of a cifar-10-batches-py folder."""
    batches = {}
    for name in TRAIN_BATCHES + [TEST_BATCH]:
        try:
            with open(folder / name, "rb") as f:
                batches[name] = read_batch(f, folder / name)
        except FileNotFoundError:
            raise InputError(folder / name, "file not found") from None
    return batches


def read_archive(archive: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every batch of cifar-10-python.tar.gz, read from the archive without unpacking it."""
    batches = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in TRAIN_BATCHES + [TEST_BATCH]:
                try:
                    member = tar.extractfile(f"{BATCH_DIR}/{name}")
                except KeyError:
                    raise InputError(archive, f"archive has no {BATCH_DIR}/{name}") from None
                batches[name] = read_batch(member, f"{archive}:{BATCH_DIR}/{name}")
    except FileNotFoundError:
        raise InputError(archive, "file not found") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(archive, f"not a readable tar.gz archive ({exc})") from None
    return batches


def load_cifar10(path: str | Path | None = None, download: bool = True) -> OfficialSets:
    """Read and validate CIFAR-10 (50,000 train and 10,000 test colour images of 32x32)."""
    found = locate(path, download)
    if found.is_dir():
        batches = read_folder(found)
        digest = files_sha256([found / name for name in TRAIN_BATCHES + [TEST_BATCH]])
    else:
        batches = read_archive(found)
        digest = files_sha256([found])
    x_train = np.concatenate([batches[name][0] for name in TRAIN_BATCHES])
    y_train = np.concatenate([batches[name][1] for name in TRAIN_BATCHES])
    x_test, y_test = batches[TEST_BATCH]
    return OfficialSets(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                        source=str(found), sha256=digest)
