"""The registered clock reader in use: inference speed through the pyfunc model, and its error on the genuine
course samples.

    python benchmarks/clock_reader.py --samples DIR [--model-uri models:/clock-reader@champion] [--images 2000]

Speed: images per second through `mlflow.pyfunc.load_model(...).predict` on the processed synthetic test split
(best of 3 passes, after one warm-up). Genuine samples: the labelled PNGs in DIR, named like
`resampled150_HH-MM_source.png` (time in the name; `native150_00-00_*` are 0:00), read as grey; they are never
used for training. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def genuine_samples(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, grey images, true minutes past 12) of the labelled samples in `folder`."""
    from pipeline.steps.predict import read_image

    names, images, minutes = [], [], []
    for path in sorted(folder.glob("*.png")):
        match = re.match(r"(native|resampled)150_(\d\d)-(\d\d)_", path.name)
        if not match:
            continue
        names.append(path.name)
        images.append(read_image(path))
        minutes.append((int(match.group(2)) % 12) * 60 + int(match.group(3)))
    return names, np.stack(images), np.array(minutes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--model-uri", default="models:/clock-reader@champion")
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    from models.common_sense_error import common_sense_error
    from pipeline.datasets.splits import processed_dir, read_splits
    from pipeline.tracking import registry

    reader = registry.load_pyfunc(args.model_uri)
    size = int(reader.metadata.metadata["image_size"])
    variant = next(p for p in sorted((processed_dir("clock", "x").parent).glob(f"synthetic-{size}px-*")))
    test = read_splits(variant).test
    batch = np.asarray(test.x[:args.images])
    reader.predict(batch[:64])
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        reader.predict(batch)
        timings.append(time.perf_counter() - started)
    names, images, minutes = genuine_samples(args.samples)
    read = reader.predict(images)
    errors = common_sense_error(read["hour"].to_numpy() * 60 + read["minute"].to_numpy(), minutes)
    print(json.dumps({"model_uri": args.model_uri, "image_size": size, "images": len(batch),
                      "images_per_second": round(len(batch) / min(timings)),
                      "genuine_samples": len(names), "genuine_cse_mean": round(float(errors.mean()), 2),
                      "genuine_cse_median": float(np.median(errors)),
                      "genuine_readings": {n: f"{t} (error {e})" for n, t, e in zip(names, read["time"], errors)}}))


if __name__ == "__main__":
    main()
