"""Entry point `preprocess`: load and validate a data set, shuffle and split it with a seed, write the splits, log a run.

    python -m pipeline.steps.preprocess --dataset fashion_mnist|cifar10|clock [--source PATH|synthetic] [--seed N]
"""
from __future__ import annotations

import numpy as np

from pipeline import cli, plots
from pipeline.datasets import cifar10, fashion_mnist
from pipeline.datasets.preparation import DATASETS, Request, clock_time_names, prepare
from pipeline.datasets.splits import Splits
from pipeline.tracking import runs

EXPERIMENT = "preprocess"
SAMPLES_SHOWN = 24


def label_names(dataset: str) -> list[str]:
    """Names for the label histogram's bars."""
    return {"fashion_mnist": fashion_mnist.CLASS_NAMES, "cifar10": cifar10.CLASS_NAMES}.get(
        dataset, clock_time_names())


def caption(dataset: str, label: np.ndarray) -> str:
    """A sample's label as a reader would say it."""
    if dataset == "clock":
        return f"{int(label[0])}:{int(label[1]):02d}"
    return label_names(dataset)[int(label)]


def log_preparation(request: Request, splits: Splits, reused: bool) -> None:
    """Params, dataset inputs and artifacts (sample grid, label histogram, manifest) of the active run."""
    manifest = splits.manifest
    runs.log_params({"dataset": request.dataset, "source": manifest["source"], "seed": request.seed,
                     "variant": manifest["variant"], **({"size": request.size, "count": request.count}
                                                        if request.synthetic else {}),
                     **{f"{name}_size": splits[name].y.shape[0] for name in ("train", "validation", "test")}})
    runs.set_tags({"step": "preprocess", "processed_dir": str(splits.folder), "reused_splits": reused,
                   "raw_sha256": manifest["raw_sha256"]})
    runs.log_splits(splits)
    train = splits.train
    shown = np.random.default_rng(request.seed).choice(len(train.y), size=min(SAMPLES_SHOWN, len(train.y)),
                                                       replace=False)
    runs.log_figure(plots.image_grid(train.x[shown], [caption(request.dataset, train.y[i]) for i in shown],
                                     title=f"{request.dataset}: training samples"), "samples.png")
    names = label_names(request.dataset)
    counts = {name: np.bincount(np.asarray(splits[name].y).reshape(len(splits[name].y), -1)[:, 0],
                                minlength=len(names)) for name in ("train", "validation", "test")}
    runs.log_figure(plots.label_histogram(counts, names, f"{request.dataset}: labels per split"),
                    "label_histogram.png")
    runs.log_json(manifest, "manifest.json")


def preprocess(request: Request) -> Splits:
    """Prepare the splits for `request` inside an MLflow run and log what was made."""
    with runs.start_run(EXPERIMENT, run_name=f"preprocess-{request.dataset}"):
        splits, reused = prepare(request)
        log_preparation(request, splits, reused)
    print(f"{request.dataset}: {'reused' if reused else 'wrote'} {splits.folder} "
          f"(train {len(splits.train.y)}, validation {len(splits.validation.y)}, test {len(splits.test.y)})")
    return splits


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--source", default=None,
                   help="fashion_mnist: folder with the idx .gz files; cifar10: cifar-10-batches-py/ folder or "
                        "cifar-10-python.tar.gz (default $CIFAR10_PATH); clock: 'synthetic' or a folder with "
                        "images.npy and labels.npy. Default: data/raw/, known system folders, then the download.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=150, choices=(75, 150), help="synthetic clock image size")
    p.add_argument("--count", type=int, default=18000, help="synthetic clock image count")
    return p


def main(argv=None) -> None:
    cli.main_with(build_parser, lambda a: preprocess(
        Request(a.dataset, a.source or None, a.seed, a.size, a.count)), argv)


if __name__ == "__main__":
    main()
