"""The clock data a model trains and is judged on: the splits at the trained size, extra rendered clocks, and the dial targets only the renderer knows."""
from __future__ import annotations

import numpy as np

from pipeline.clock.request import ClockRequest
from pipeline.datasets.preparation import Request, prepare
from pipeline.datasets.splits import Split, Splits
from pipeline.errors import InputError


def minutes_of(labels: np.ndarray) -> np.ndarray:
    """[hour, minute] rows as minutes past 12."""
    from models.common_sense_error import minutes_on_dial

    return minutes_on_dial(labels[:, 0], labels[:, 1]).astype(np.float32)


def load_clock_data(request: ClockRequest) -> Splits:
    """The processed clock splits the request names, prepared first if they are not on disk yet."""
    size = request.image_size if synthetic(request) else 150
    splits, _ = prepare(Request("clock", request.source or "synthetic", request.seed, size, request.count))
    return splits


def arrange(splits: Splits, request: ClockRequest) -> tuple[Split, Split | None, Split]:
    """Train, validation and test at the trained image size; 80/20 folds validation into the test split."""
    from models.clock_input import resize_to
    from pipeline.training import subset  # it loads Keras: not before a step has checked its request

    def ready(split: Split) -> Split:
        return Split(resize_to(np.asarray(split.x), request.image_size), np.asarray(split.y))

    train = ready(Split(*subset(splits.train.x, splits.train.y, limit=request.budget.train_limit)))
    validation, test = ready(splits.validation), ready(splits.test)
    if request.split == "80/20":
        return train, None, Split(np.concatenate([validation.x, test.x]), np.concatenate([validation.y, test.y]))
    return train, validation, test


def synthetic(request: ClockRequest) -> bool:
    """True when the clocks come from the renderer (whose poses are known), not from a course-format folder."""
    return request.source in ("", "synthetic")


def extra_seed(request: ClockRequest) -> int:
    """The renderer's seed for extra training clocks: one no split uses."""
    return request.seed + 1_000_003


def extra_training_images(request: ClockRequest) -> Split | None:
    """Freshly rendered training clocks at uniformly random times, from a seed no split uses."""
    if not request.budget.extra_train or not synthetic(request):
        return None
    from pipeline.datasets.clock_renderer import render_times

    rng = np.random.default_rng([request.seed, 1])
    minutes = rng.integers(0, 720, request.budget.extra_train)
    images = render_times(minutes // 60, minutes % 60, size=request.image_size, seed=extra_seed(request))
    return Split(images, np.stack([minutes // 60, minutes % 60], axis=1))


def dial_rotations(request: ClockRequest, splits: Splits, train_count: int, extra: Split | None) -> dict | None:
    """For rendered clocks, each image's rotation in degrees: for the training images a model sees (the first
    `train_count` of the split, then the extra ones) and for validation; None when the data is not the renderer's."""
    if not synthetic(request):
        return None
    from pipeline.datasets.clock_renderer import clock_labels, pose_rotations
    from pipeline.datasets.splits import split_indices

    manifest, sizes = splits.manifest, {name: len(splits[name].y) for name in ("train", "validation", "test")}
    index = split_indices(sizes, request.seed)
    # Rendered in time order with this seed, then shuffled with it: every label must sit where that order puts it.
    labels = clock_labels(sum(sizes.values()))
    if manifest.get("source_kind") != "synthetic" or manifest.get("seed") != request.seed or not all(
            np.array_equal(labels[index[name]], splits[name].y) for name in sizes):
        raise InputError(splits.folder, "the processed clocks are not the renderer's images in the order preprocess "
                                        "writes them; their rotations cannot be recovered")
    train = pose_rotations(request.seed, index["train"][:train_count])
    if extra is not None:
        train = np.concatenate([train, pose_rotations(extra_seed(request), np.arange(len(extra.y)))])
    rotations = {"train": train}
    if request.split == "80/10/10":
        rotations["validation"] = pose_rotations(request.seed, index["validation"])
    return rotations


def dial_targets(request: ClockRequest, splits: Splits, train_count: int, extra: Split | None) -> dict | None:
    """The dial output's targets (sin and cos of each image's rotation, see `dial_rotations`); None when the data
    is not the renderer's, the budget gives the dial no weight, or the head is a network of its own (it learns
    from the labels alone)."""
    if not request.budget.dial_weight or request.own_network:
        return None
    rotations = dial_rotations(request, splits, train_count, extra)
    if rotations is None:
        return None
    from models.clock_net import dial_encoding

    return {name: dial_encoding(turns) for name, turns in rotations.items()}


