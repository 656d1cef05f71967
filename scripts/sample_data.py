"""Tiny data sets in their real file formats (Fashion-MNIST's idx .gz files, CIFAR-10's pickled batches), for the
tests and the benchmarks that need real files without the real data."""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file as Fashion-MNIST ships it: big-endian header, then the ubyte data, gzipped."""
    magic = 0x0800 + array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_fashion_mnist(folder: Path) -> Path:
    """A tiny Fashion-MNIST (200 train, 50 test) in the four original idx .gz files."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, n in (("train", 200), ("t10k", 50)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """A batch file in the official layout: a protocol-3 pickle of bytes keys, CHW-flattened data."""
    batch = {b"batch_label": b"tiny", b"labels": [int(v) for v in labels],
             b"data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072),
             b"filenames": [f"{i}.png".encode() for i in range(len(images))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=3)


def make_cifar10(folder: Path) -> Path:
    """A tiny CIFAR-10 (5 x 20 train, 20 test) as a cifar-10-batches-py/ folder."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_cifar_batch(folder / name, rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), np.arange(20) % 10)
    return folder
