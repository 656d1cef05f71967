"""The loaders read the real file formats and validate what they read."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline import config
from pipeline.datasets import cifar10, fashion_mnist
from pipeline.datasets.clock_files import load_clock_folder, save_clock_folder
from pipeline.datasets.splits import read_splits, reusable, shuffle_split, write_splits
from pipeline.errors import InputError


def test_fashion_mnist_reads_idx_files(fashion_mnist_dir):
    data = fashion_mnist.load_fashion_mnist(fashion_mnist_dir)
    assert data.x_train.shape == (200, 28, 28) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (50, 28, 28)
    assert data.y_train.dtype == np.int64 and set(data.y_train) == set(range(10))
    assert len(data.sha256) == 64


def test_fashion_mnist_prefers_the_given_folder_over_data_raw(fashion_mnist_dir, store):

    assert fashion_mnist.find_files(fashion_mnist_dir) == fashion_mnist_dir
    assert fashion_mnist.candidate_dirs(None)[0] == config.RAW_DIR / "fashion-mnist"


def test_fashion_mnist_folder_from_environment(fashion_mnist_dir, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(fashion_mnist_dir))
    assert fashion_mnist.find_files() == fashion_mnist_dir


def test_cifar10_reads_folder_and_archive_alike(cifar_dir, cifar_tar):
    from_folder = cifar10.load_cifar10(cifar_dir)
    from_archive = cifar10.load_cifar10(cifar_tar)
    assert from_folder.x_train.shape == (100, 32, 32, 3) and from_folder.x_test.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(from_folder.x_train, from_archive.x_train)
    np.testing.assert_array_equal(from_folder.y_test, from_archive.y_test)


def test_cifar10_accepts_the_parent_folder_and_the_environment_variable(cifar_dir, monkeypatch):
    assert cifar10.locate(cifar_dir.parent) == cifar_dir
    monkeypatch.setenv("CIFAR10_PATH", str(cifar_dir))
    assert cifar10.locate() == cifar_dir


def test_cifar10_refuses_a_pickle_that_would_run_code(cifar_dir):
    import os
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    with open(cifar_dir / "data_batch_3", "wb") as f:
        pickle.dump({b"data": Exploit(), b"labels": []}, f, protocol=3)
    with pytest.raises(InputError, match="data_batch_3.*not a readable CIFAR-10 batch"):
        cifar10.load_cifar10(cifar_dir)


def test_clock_folder_round_trip(tmp_path):
    images = np.zeros((5, 40, 40), np.uint8)
    labels = np.array([[0, 0], [11, 59], [3, 30], [6, 1], [9, 45]])
    save_clock_folder(tmp_path / "c", images, labels)
    read_images, read_labels, digest = load_clock_folder(tmp_path / "c")
    np.testing.assert_array_equal(read_labels, labels)
    assert read_images.shape == (5, 40, 40) and len(digest) == 64


def test_shuffle_split_is_a_seeded_partition():
    images, labels = np.arange(100)[:, None], np.arange(100)
    pieces = shuffle_split(images, labels, {"train": 80, "validation": 10, "test": 10}, seed=3)
    again = shuffle_split(images, labels, {"train": 80, "validation": 10, "test": 10}, seed=3)
    together = np.concatenate([p.y for p in pieces.values()])
    assert sorted(together) == list(range(100))
    assert not np.array_equal(together, np.arange(100))
    np.testing.assert_array_equal(pieces["test"].y, again["test"].y)


def test_written_splits_read_back_and_declare_themselves_reusable(tmp_path):
    pieces = shuffle_split(np.zeros((10, 4, 4), np.uint8), np.arange(10), {"train": 8, "validation": 1, "test": 1}, 0)
    manifest = write_splits(tmp_path / "v", pieces, {"seed": 0, "raw_sha256": "abc"})
    splits = read_splits(tmp_path / "v")
    assert manifest["splits"]["train"]["count"] == 8 and len(splits.train.y) == 8
    assert reusable(tmp_path / "v", {"seed": 0, "raw_sha256": "abc"})
    assert not reusable(tmp_path / "v", {"seed": 1, "raw_sha256": "abc"})
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
