"""Contact sheet: genuine course clock images above synthetic renders, to judge the renderer by eye.

    python scripts/contact_sheet.py --reference DIR --out docs/contact-sheet.png [--seed N]

DIR holds genuine samples as square PNGs (any other files are ignored). The sheet shows
up to `--genuine` of them in the top rows, then `--rows` rows of 150 px renders, then the
first six of those at 75 px (the area-downsampled set), each labelled. To keep the committed
PNG small (noisy textures compress badly) grey levels are rounded to `--levels` steps,
which is invisible at a glance; pass --levels 256 for exact pixels.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.datasets.clock_renderer import RENDER_SIZE, downsample, render_random

COLUMNS = 6
LABEL_HEIGHT = 14
SECTION_HEIGHT = 18
BACKGROUND = 255
INK = 0


def genuine_samples(folder: Path, limit: int) -> list[tuple[str, np.ndarray]]:
    """Square PNGs from the reference folder, sorted by name, resized to the render size if needed."""
    out = []
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as img:
            if img.width != img.height or "contact" in path.stem:
                continue
            grey = img.convert("L")
            if grey.width != RENDER_SIZE:
                grey = grey.resize((RENDER_SIZE, RENDER_SIZE), Image.BOX)
            out.append((path.stem, np.asarray(grey)))
        if len(out) == limit:
            break
    return out


def synthetic_samples(seed: int, count: int) -> list[tuple[str, np.ndarray]]:
    """Renders at random times; image i is the renderer's image i for `seed`, so the sheet is reproducible."""
    rng = np.random.default_rng([seed, 999_999])
    hours, minutes = rng.integers(0, 12, count), rng.integers(0, 60, count)
    return [(f"synthetic {h}:{m:02d}", render_random(int(h), int(m), seed, i)) for i, (h, m) in enumerate(zip(hours, minutes))]


def _short(name: str) -> str:
    # Reference names run long; the time and the source are what a reader needs.
    return name.replace("resampled150_", "genuine ").replace("native150_", "genuine ")[:26]


def _grid(draw_on: Image.Image, items, top: int, cell: int) -> int:
    draw = ImageDraw.Draw(draw_on)
    font = ImageFont.load_default()
    columns = draw_on.width // cell
    for i, (label, img) in enumerate(items):
        x, y = (i % columns) * cell, top + (i // columns) * (cell + LABEL_HEIGHT)
        draw_on.paste(Image.fromarray(img), (x, y))
        draw.text((x + 2, y + cell + 1), label, fill=INK, font=font)
    rows = -(-len(items) // columns)
    return top + rows * (cell + LABEL_HEIGHT)


def _heading(sheet: Image.Image, text: str, top: int) -> int:
    ImageDraw.Draw(sheet).text((4, top + 3), text, fill=INK, font=ImageFont.load_default())
    return top + SECTION_HEIGHT


def build_sheet(reference: Path, seed: int = 0, genuine: int = 12, rows: int = 2) -> Image.Image:
    """The whole sheet as a greyscale image."""
    real = genuine_samples(reference, genuine)
    fake = synthetic_samples(seed, rows * COLUMNS)
    # Half a row is enough to show the 75 px look and keeps the committed PNG small.
    small = [(label.replace("synthetic ", "75px "), downsample(img)) for label, img in fake[:COLUMNS]]
    width = COLUMNS * RENDER_SIZE
    real_h = -(-len(real) // COLUMNS) * (RENDER_SIZE + LABEL_HEIGHT)
    fake_h = rows * (RENDER_SIZE + LABEL_HEIGHT)
    small_h = -(-len(small) // (width // 75)) * (75 + LABEL_HEIGHT)
    sheet = Image.new("L", (width, 3 * SECTION_HEIGHT + real_h + fake_h + small_h), BACKGROUND)
    top = _heading(sheet, f"GENUINE course samples ({reference.name})", 0)
    top = _grid(sheet, [(_short(n), a) for n, a in real], top, RENDER_SIZE)
    top = _heading(sheet, f"SYNTHETIC renders, 150 px (seed {seed})", top)
    top = _grid(sheet, fake, top, RENDER_SIZE)
    top = _heading(sheet, "SYNTHETIC, the same renders at 75 px (2x2 area mean)", top)
    _grid(sheet, small, top, 75)
    return sheet


def reduce_levels(sheet: Image.Image, levels: int) -> Image.Image:
    """Round grey values to `levels` evenly spaced steps (centred in each bin, so 0 and 255 stay near)."""
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be 2-256, got {levels}")
    if levels == 256:
        return sheet
    step = 256 / levels
    arr = np.asarray(sheet, dtype=np.float32)
    out = np.floor(arr / step) * step + (step - 1) / 2
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path, help="folder of genuine sample PNGs")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--genuine", type=int, default=12, help="how many genuine samples to show")
    parser.add_argument("--rows", type=int, default=2, help="rows of synthetic 150 px renders")
    parser.add_argument("--levels", type=int, default=64, help="grey levels kept in the PNG (2-256)")
    args = parser.parse_args(argv)
    if not args.reference.is_dir():
        parser.error(f"--reference {args.reference} is not a folder")
    sheet = build_sheet(args.reference, args.seed, args.genuine, args.rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet = reduce_levels(sheet, args.levels)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height}, {args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
