"""Entry point `render_clocks`: render synthetic clock images in the course's format (images.npy, labels.npy).

    python -m pipeline.steps.render_clocks --count 18000 --size 150 --seed 0 --out-dir data/raw/clock/synthetic
        [--style=all | --style=-wood,-thin_hands | --style=wood,wash_glare] [--reference DIR]

Beside the two arrays it writes families.npy: for each image, the style family it was drawn from in each group
(clock_styles.GROUPS), for leave-one-style-out evaluation. The run logs the style, how often each family was
drawn, and per-image statistics of a sample of the renders; with --reference (a folder of genuine samples named
HH-MM) the statistics of both, side by side. Write `--style=-wood` with the equals sign: a value starting with a
hyphen would otherwise be read as an option.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipeline import cli, plots
from pipeline.datasets.clock_files import save_clock_folder
from pipeline.errors import InputError
from pipeline.tracking import runs

EXPERIMENT = "render-clocks"
SAMPLES_SHOWN = 24
FAMILIES_FILE = "families.npy"
MEASURED = 400  # renders whose statistics are logged: enough for stable medians, a second to compute


def realism_tables(images: np.ndarray, reference: str | None):
    """Per-image statistics of up to MEASURED renders (spread over the set), with the genuine samples' beside them
    when a reference folder is given; and the summary, one row per statistic."""
    import pandas as pd

    from pipeline.datasets.clock_realism import SIZE, image_statistics, per_image_rows, summary_rows
    from pipeline.datasets.clock_renderer import RENDER_SIZE

    if images.shape[1] != SIZE:
        return None, None
    shown = np.linspace(0, len(images) - 1, min(MEASURED, len(images))).astype(int)
    stats = {"renders": image_statistics(images[shown])}
    rows = per_image_rows("renders", [f"images.npy[{i}]" for i in shown], stats["renders"])
    if reference:
        from pipeline.datasets.reference_images import read_reference

        genuine = read_reference(reference, RENDER_SIZE)
        stats = {"genuine": image_statistics(genuine.images), **stats}
        rows = per_image_rows("genuine", genuine.names, stats["genuine"]) + rows
    return pd.DataFrame(rows), pd.DataFrame(summary_rows(stats))


def style_table():
    """The style table's families (group, name, weight, what, factors), to read beside the run's style."""
    import pandas as pd

    from pipeline.datasets.clock_styles import family_table

    return pd.DataFrame(family_table())


def log_families(families: np.ndarray) -> None:
    """How many images each family drew, as metrics `family.<name>`."""
    names, counts = np.unique(families, return_counts=True)
    runs.log_metrics({f"family.{name}": int(count) for name, count in zip(names, counts)})


def render_to_folder(count: int, size: int, seed: int, out_dir: str | Path, style: str = "all",
                     reference: str | None = None) -> Path:
    """Render `count` clocks in `style` and write them to `out_dir` with the family record, logging the run."""
    from pipeline.datasets.clock_renderer import RENDERER_VERSION, clock_labels, parse_style, render_batch

    chosen = parse_style(style)  # bad input stops here, before a run starts
    if reference and not Path(reference).is_dir():
        raise InputError(reference, "not a folder (expected genuine clock images named with their time as HH-MM)")
    with runs.start_run(EXPERIMENT, run_name=f"render-{size}px-{count}"):
        runs.log_params({"count": count, "size": size, "seed": seed, "out_dir": str(Path(out_dir).resolve()),
                         "renderer_version": RENDERER_VERSION, "style": chosen.text,
                         "reference": str(Path(reference).resolve()) if reference else ""})
        started = time.perf_counter()
        labels = clock_labels(count)
        images, families = render_batch(labels[:, 0], labels[:, 1], size=size, seed=seed, style=chosen)
        seconds = time.perf_counter() - started
        folder = save_clock_folder(out_dir, images, labels)
        np.save(folder / FAMILIES_FILE, families)
        runs.log_metrics({"render_seconds": seconds, "images_per_second": count / seconds})
        log_families(families)
        runs.log_table(style_table(), "style_families.csv", markdown=True)
        per_image, summary = realism_tables(images, reference)
        if summary is not None:
            runs.log_table(per_image, "realism/image_statistics.csv")
            runs.log_table(summary, "realism/summary.csv", markdown=True)
        shown = np.linspace(0, count - 1, min(SAMPLES_SHOWN, count)).astype(int)
        runs.log_figure(plots.image_grid(images[shown], [f"{h}:{m:02d}" for h, m in labels[shown]],
                                         title=f"rendered clocks, style {chosen.text}"), "samples.png")
    print(f"wrote {folder / 'images.npy'} {images.shape}, {folder / 'labels.npy'} {labels.shape} and "
          f"{FAMILIES_FILE} in {seconds:.1f} s (style {chosen.text})")
    return folder


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=cli.whole, default=18000)
    p.add_argument("--size", type=cli.whole, default=150, choices=(75, 150))
    p.add_argument("--seed", type=cli.whole, default=0)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--style", default="all",
                   help="families of looks: all, -name to leave one out, name to keep only it in its group")
    p.add_argument("--reference", default="", help="folder of genuine samples named HH-MM, for the statistics")
    return p


def main(argv=None) -> None:
    cli.main_with(build_parser, lambda a: render_to_folder(a.count, a.size, a.seed, a.out_dir, a.style,
                                                           a.reference or None), argv)


if __name__ == "__main__":
    main()
