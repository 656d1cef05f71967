"""Entry point `predict`: read the time off clock images with a registered clock reader.

    python -m pipeline.steps.predict --input PATH [--model-uri models:/clock-reader@champion]

PATH is an image file (PNG, JPEG, ...; colour or grey, any size), a folder of them, or a course-format
images.npy. Prints one line per image: where it came from, and the time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import cli
from pipeline.datasets.clock_files import read_npy
from pipeline.datasets.reference_images import IMAGE_SUFFIXES, read_image
from pipeline.errors import InputError
from pipeline.tracking import registry

DEFAULT_MODEL = "models:/clock-reader@champion"


def read_inputs(path: Path) -> list[tuple[str, np.ndarray]]:
    """(name, grey image) pairs from an image file, a folder of images, or a course-format .npy."""
    from models.clock_input import as_grey_batch

    if path.suffix == ".npy":
        try:
            images = as_grey_batch(read_npy(path))
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
        return [(f"{path}[{i}]", image) for i, image in enumerate(images)]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(path, f"no image files here ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return [(str(p), read_image(p)) for p in files]
    if not path.exists():
        raise InputError(path, "file not found")
    return [(str(path), read_image(path))]


def read_times(inputs: list[tuple[str, np.ndarray]], model) -> list[tuple[str, str]]:
    """The time the model reads from each image, images of one size going through together."""
    times: dict[int, str] = {}
    by_shape: dict[tuple, list[int]] = {}
    for i, (_, image) in enumerate(inputs):
        by_shape.setdefault(image.shape, []).append(i)
    for indices in by_shape.values():
        table = model.predict(np.stack([inputs[i][1] for i in indices]))
        times.update(zip(indices, table["time"]))
    return [(name, times[i]) for i, (name, _) in enumerate(inputs)]


def predict(input_path: str, model_uri: str = DEFAULT_MODEL) -> list[tuple[str, str]]:
    """Read every input image's time and print one line per image."""
    inputs = read_inputs(Path(input_path))
    lines = read_times(inputs, registry.load_pyfunc(model_uri))
    for name, time in lines:
        print(f"{name}\t{time}")
    return lines


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="an image, a folder of images, or a course-format images.npy")
    p.add_argument("--model-uri", default=DEFAULT_MODEL)
    return p


def main(argv=None) -> None:
    cli.main_with(build_parser, lambda a: predict(a.input, a.model_uri), argv)


if __name__ == "__main__":
    main()
