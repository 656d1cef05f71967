"""Preparing a data set once: read and validate it, shuffle and split it with a seed, write the splits, reuse an identical preparation."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.datasets import cifar10, fashion_mnist
from pipeline.datasets.clock_files import load_clock_folder
from pipeline.datasets.digests import array_sha256, files_sha256
from pipeline.datasets.splits import (
    Split,
    Splits,
    fractions_to_sizes,
    processed_dir,
    read_splits,
    reusable,
    shuffle_split,
    write_splits,
)

DATASETS = ("fashion_mnist", "cifar10", "clock")


# Validation is 10% of the official training set; the clock data has no official split.
TRAIN_VALIDATION = {"train": 0.9, "validation": 0.1}


CLOCK_SPLIT = {"train": 0.8, "validation": 0.1, "test": 0.1}


@dataclass(frozen=True)
class Request:
    """What to preprocess: the data set, where it comes from, and the seed; size and count for rendered clocks."""
    dataset: str
    source: str | None = None
    seed: int = 0
    size: int = 150
    count: int = 18000

    @property
    def synthetic(self) -> bool:
        return self.dataset == "clock" and (self.source in (None, "", "synthetic"))


@dataclass(frozen=True)
class Raw:
    """A data set as read: split pieces, where it came from, and the digest of the raw input."""
    pieces: dict[str, Split]
    source: str
    sha256: str


def clock_time_names() -> list[str]:
    """Hour labels for the clock's histogram."""
    return [f"{h}h" for h in range(12)]


def split_official(x_train, y_train, x_test, y_test, seed: int) -> dict[str, Split]:
    """Carve validation out of an official training set; keep the official test set."""
    pieces = shuffle_split(x_train, y_train, fractions_to_sizes(len(x_train), TRAIN_VALIDATION), seed)
    return {**pieces, "test": Split(x_test, y_test)}


def read_fashion_mnist(request: Request) -> Raw:
    """Fashion-MNIST, split 54,000 / 6,000 / 10,000 for the full set."""
    data = fashion_mnist.load_fashion_mnist(request.source)
    return Raw(split_official(data.x_train, data.y_train, data.x_test, data.y_test, request.seed),
               data.source, data.sha256)


def read_cifar10(request: Request) -> Raw:
    """CIFAR-10, split 45,000 / 5,000 / 10,000 for the full set."""
    data = cifar10.load_cifar10(request.source)
    return Raw(split_official(data.x_train, data.y_train, data.x_test, data.y_test, request.seed),
               data.source, data.sha256)


def read_clock(request: Request) -> Raw:
    """Clock images from a course-format folder or the renderer, split 80/10/10."""
    if request.synthetic:
        from pipeline.datasets.clock_renderer import render_clocks
        images, labels = render_clocks(count=request.count, size=request.size, seed=request.seed)
        source, digest = f"synthetic:size={request.size},count={request.count},seed={request.seed}", \
            array_sha256(images) + ":" + array_sha256(labels)
    else:
        images, labels, digest = load_clock_folder(request.source)
        source = str(Path(request.source).resolve())
    return Raw(shuffle_split(images, labels, fractions_to_sizes(len(images), CLOCK_SPLIT), request.seed),
               source, digest)


READERS: dict[str, Callable[[Request], Raw]] = {
    "fashion_mnist": read_fashion_mnist, "cifar10": read_cifar10, "clock": read_clock}


def variant(request: Request) -> str:
    """The processed folder's name: what distinguishes one preparation of a data set from another."""
    if request.dataset != "clock":
        return f"seed{request.seed}"
    if request.synthetic:
        return f"synthetic-{request.size}px-{request.count}-seed{request.seed}"
    return f"{Path(request.source).resolve().name}-seed{request.seed}"


def identity(request: Request, raw_sha256: str | None) -> dict:
    """Manifest fields that must match for processed splits to be reused."""
    if request.synthetic:
        from pipeline.datasets.clock_renderer import RENDERER_VERSION

        return {"dataset": "clock", "source_kind": "synthetic", "renderer_version": RENDERER_VERSION,
                "size": request.size, "count": request.count, "seed": request.seed}
    return {"dataset": request.dataset, "raw_sha256": raw_sha256, "seed": request.seed}


def raw_digest(request: Request) -> str:
    """The digest of a file-based raw input, computed without decoding it."""
    if request.dataset == "fashion_mnist":
        folder = fashion_mnist.find_files(request.source)
        return files_sha256([folder / name for name in fashion_mnist.FILES.values()])
    if request.dataset == "cifar10":
        found = cifar10.locate(request.source)
        files = [found / n for n in cifar10.TRAIN_BATCHES + [cifar10.TEST_BATCH]] if found.is_dir() else [found]
        return files_sha256(files)
    return load_clock_folder(request.source)[2]


def prepare(request: Request) -> tuple[Splits, bool]:
    """The processed splits for `request`, reused when an identical preparation exists; (splits, reused)."""
    folder = processed_dir(request.dataset, variant(request))
    wanted = identity(request, None if request.synthetic else raw_digest(request))
    if reusable(folder, wanted):
        return read_splits(folder), True
    raw = READERS[request.dataset](request)
    write_splits(folder, raw.pieces, {**wanted, "source": raw.source, "raw_sha256": raw.sha256,
                                      "variant": folder.name})
    return read_splits(folder), False


