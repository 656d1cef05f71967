"""Entry point `render_clocks`: render synthetic clock images in the course's format (images.npy, labels.npy).

    python -m pipeline.steps.render_clocks --count 18000 --size 150 --seed 0 --out-dir data/raw/clock/synthetic
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipeline import cli, plots
from pipeline.datasets.clock_files import save_clock_folder
from pipeline.tracking import runs

EXPERIMENT = "render-clocks"
SAMPLES_SHOWN = 24


def render_to_folder(count: int, size: int, seed: int, out_dir: str | Path) -> Path:
    """Render `count` clocks and write them to `out_dir`, logging the run."""
    from pipeline.datasets.clock_renderer import RENDERER_VERSION, render_clocks

    with runs.start_run(EXPERIMENT, run_name=f"render-{size}px-{count}"):
        runs.log_params({"count": count, "size": size, "seed": seed, "out_dir": str(Path(out_dir).resolve()),
                         "renderer_version": RENDERER_VERSION})
        started = time.perf_counter()
        images, labels = render_clocks(count=count, size=size, seed=seed)
        seconds = time.perf_counter() - started
        folder = save_clock_folder(out_dir, images, labels)
        runs.log_metrics({"render_seconds": seconds, "images_per_second": count / seconds})
        shown = np.linspace(0, count - 1, min(SAMPLES_SHOWN, count)).astype(int)
        runs.log_figure(plots.image_grid(images[shown], [f"{h}:{m:02d}" for h, m in labels[shown]],
                                         title="rendered clocks"), "samples.png")
    print(f"wrote {folder / 'images.npy'} {images.shape} and {folder / 'labels.npy'} {labels.shape} "
          f"in {seconds:.1f} s")
    return folder


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=18000)
    p.add_argument("--size", type=int, default=150, choices=(75, 150))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", required=True)
    return p


def main(argv=None) -> None:
    cli.main_with(build_parser, lambda a: render_to_folder(a.count, a.size, a.seed, a.out_dir), argv)


if __name__ == "__main__":
    main()
