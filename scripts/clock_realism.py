"""Realism, measured: per-image statistics of genuine clock samples and of renders, side by side, and a sheet of
each genuine sample beside a render of the same time at the same scale.

    python scripts/clock_realism.py --genuine DIR --out DIR [--count 400] [--seed 0] [--style all]

DIR holds genuine samples named with their time as HH-MM (other files are skipped). Writes to --out:
`realism.md` (each statistic's median and 10th-90th percentile for both; printed too), `realism.csv` (one row
per image) and `realism.png` (rows of genuine samples, each above renders of the same times). The statistics
(pipeline/datasets/clock_realism.py): mean, contrast, edge density, fine detail, hand darkness, floor contrast.
Bad input (a missing folder, no labelled image, an unknown family): one line, exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.datasets.clock_realism import image_statistics, per_image_rows, summary_rows
from pipeline.datasets.clock_renderer import RENDER_SIZE, render_batch, render_random
from pipeline.datasets.clock_styles import parse_style
from pipeline.datasets.reference_images import read_reference
from pipeline.errors import InputError
from scripts.contact_sheet import COLUMNS, SECTION_HEIGHT, grid, heading, rows_height


def realism_tables(genuine: np.ndarray, genuine_names: list[str], count: int, seed: int,
                   style) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary (one row per statistic, genuine beside renders) and the per-image table of both."""
    rng = np.random.default_rng([seed, 424_242])
    minutes = rng.integers(0, 720, count)
    renders, families = render_batch(minutes // 60, minutes % 60, size=RENDER_SIZE, seed=seed, style=style)
    stats = {"genuine": image_statistics(genuine), "renders": image_statistics(renders)}
    summary = pd.DataFrame(summary_rows(stats))
    names = [f"{i}: {'/'.join(row)}" for i, row in enumerate(families)]
    per_image = pd.DataFrame(per_image_rows("genuine", genuine_names, stats["genuine"])
                             + per_image_rows("renders", names, stats["renders"]))
    return summary, per_image


def side_by_side_sheet(genuine: np.ndarray, labels: np.ndarray, names: list[str], seed: int, style) -> Image.Image:
    """Rows of genuine samples, each row followed by renders of the same times, all at 150 px."""
    blocks = []
    for start in range(0, len(genuine), COLUMNS):
        real = [(Path(n).stem[-24:], g) for n, g in zip(names[start:start + COLUMNS], genuine[start:start + COLUMNS])]
        fake = [(f"render {h}:{m:02d}", render_random(int(h), int(m), seed, start + i, style=style))
                for i, (h, m) in enumerate(labels[start:start + COLUMNS])]
        blocks.append((real, fake))
    height = SECTION_HEIGHT + sum(2 * rows_height(len(real), RENDER_SIZE) for real, _ in blocks)
    sheet = Image.new("L", (COLUMNS * RENDER_SIZE, height), 255)
    top = heading(sheet, "each row of genuine samples above renders of the same times (150 px, same scale)", 0)
    for real, fake in blocks:
        top = grid(sheet, real, top, RENDER_SIZE)
        top = grid(sheet, fake, top, RENDER_SIZE)
    return sheet



def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genuine", required=True, type=Path, help="folder of genuine samples named HH-MM")
    parser.add_argument("--out", required=True, type=Path, help="folder for realism.md, .csv and .png")
    parser.add_argument("--count", type=int, default=400, help="renders to measure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", default="all", help="style families to keep or leave out (docs/clock.md)")
    args = parser.parse_args(argv)
    try:
        style = parse_style(args.style)
        reference = read_reference(args.genuine, RENDER_SIZE)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary, per_image = realism_tables(reference.images, reference.names, args.count, args.seed, style)
    args.out.mkdir(parents=True, exist_ok=True)
    table = summary.to_markdown(index=False)
    (args.out / "realism.md").write_text(f"{len(reference.names)} genuine samples against {args.count} renders "
                                         f"(seed {args.seed}, style {style.text})\n\n{table}\n")
    per_image.to_csv(args.out / "realism.csv", index=False)
    side_by_side_sheet(reference.images, reference.labels, reference.names, args.seed, style).save(
        args.out / "realism.png", optimize=True)
    print(table)
    print(f"wrote {args.out / 'realism.md'}, realism.csv and realism.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
