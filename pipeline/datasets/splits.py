"""Processed splits on disk: shuffle and split with a seed, write all-or-nothing with a manifest, read back."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from pipeline import config
from pipeline.datasets.digests import array_sha256
from pipeline.errors import InputError

SPLITS = ("train", "validation", "test")
MANIFEST = "manifest.json"
# Bump when the on-disk layout changes, so old folders are rebuilt rather than misread.
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class Split:
    """One split's images and labels."""
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Splits:
    """Train, validation and test splits of one data set, with the manifest that describes them."""
    train: Split
    validation: Split
    test: Split
    manifest: dict
    folder: Path

    def __getitem__(self, name: str) -> Split:
        return getattr(self, name)


def processed_dir(dataset: str, variant: str) -> Path:
    """Where a data set's processed variant lives: data/processed/<dataset>/<variant>/."""
    return config.PROCESSED_DIR / dataset / variant


def shuffle_split(images: np.ndarray, labels: np.ndarray, sizes: Mapping[str, int], seed: int) -> dict[str, Split]:
    """Shuffle once with `seed`, then cut consecutive pieces of the given sizes, in the given order."""
    if sum(sizes.values()) != len(images):
        raise ValueError(f"split sizes {dict(sizes)} do not add up to {len(images)} images")
    return {name: Split(images[index], labels[index]) for name, index in split_indices(sizes, seed).items()}


def split_indices(sizes: Mapping[str, int], seed: int) -> dict[str, np.ndarray]:
    """For each split `shuffle_split` makes, the positions its items had in the unshuffled input."""
    order = np.random.default_rng(seed).permutation(sum(sizes.values()))
    pieces, start = {}, 0
    for name, size in sizes.items():
        pieces[name] = order[start:start + size]
        start += size
    return pieces


def fractions_to_sizes(total: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Whole split sizes from fractions, the rounding remainder going to the first split."""
    sizes = {name: int(round(total * share)) for name, share in fractions.items()}
    first = next(iter(sizes))
    sizes[first] += total - sum(sizes.values())
    return sizes


def reusable(folder: Path, identity: Mapping[str, object]) -> bool:
    """True when `folder` holds complete splits made from the same input with the same seed and sizes."""
    path = folder / MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return all(manifest.get(key) == value for key, value in identity.items()) and all(
        (folder / f"{split}_{part}.npy").is_file() for split in SPLITS for part in ("images", "labels"))


def write_splits(folder: Path, splits: Mapping[str, Split], manifest: Mapping[str, object]) -> dict:
    """Write the splits and their manifest into a sibling temporary folder, then swap it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        entries = {}
        for name in SPLITS:
            split = splits[name]
            np.save(staging / f"{name}_images.npy", split.x)
            np.save(staging / f"{name}_labels.npy", split.y)
            entries[name] = {"count": int(len(split.y)), "sha256": array_sha256(split.x) + ":" + array_sha256(split.y)}
        full = {**manifest, "layout_version": LAYOUT_VERSION, "splits": entries}
        (staging / MANIFEST).write_text(json.dumps(full, indent=2) + "\n")
        retired = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        if folder.exists():
            folder.rename(retired)
        staging.rename(folder)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return full


def read_splits(folder: str | Path, mmap: bool = False) -> Splits:
    """Read processed splits written by `write_splits`."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise InputError(folder, "no processed splits here (run the preprocess step first)")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None
    parts = {}
    for name in SPLITS:
        arrays = []
        for part in ("images", "labels"):
            file = folder / f"{name}_{part}.npy"
            try:
                arrays.append(np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False))
            except (OSError, ValueError) as exc:
                raise InputError(file, f"not a readable .npy array ({exc})") from None
        if len(arrays[0]) != manifest["splits"][name]["count"] or len(arrays[1]) != len(arrays[0]):
            raise InputError(folder / f"{name}_labels.npy", "split size differs from the manifest")
        parts[name] = Split(*arrays)
    return Splits(parts["train"], parts["validation"], parts["test"], manifest, folder)
