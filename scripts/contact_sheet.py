"""Contact sheet: genuine course clock images above synthetic renders, and one render of every style family.

    python scripts/contact_sheet.py --reference DIR --out docs/contact-sheet.png [--seed N] [--style STYLE]

DIR holds genuine samples named with their time as HH-MM (reference_images.read_reference; other files are
skipped). The sheet shows up to `--genuine` of them in the top rows, then `--rows` rows of 150 px renders in the
given style, then one row per group of the style table with a render of each family the style keeps (labelled
with the family's name), then six renders at 75 px (the area-downsampled set). To keep the committed PNG small
(noisy textures compress badly) grey levels are rounded to `--levels` steps, which is invisible at a glance;
pass --levels 256 for exact pixels. Bad input (a missing folder, an unknown family): one line, exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.datasets.clock_renderer import RENDER_SIZE, downsample, render_random
from pipeline.datasets.clock_styles import GROUPS, keep_only, parse_style
from pipeline.datasets.reference_images import read_reference
from pipeline.errors import InputError

COLUMNS = 6
LABEL_HEIGHT = 14
SECTION_HEIGHT = 18
BACKGROUND = 255
INK = 0


def genuine_samples(folder: Path, limit: int) -> list[tuple[str, np.ndarray]]:
    """The folder's labelled clock images at the render size, sorted by name."""
    reference = read_reference(folder, RENDER_SIZE)
    return [(Path(name).stem, image) for name, image in zip(reference.names, reference.images)][:limit]


def _times(seed: int, count: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng([seed, 999_999])
    return [(int(h), int(m)) for h, m in zip(rng.integers(0, 12, count), rng.integers(0, 60, count))]


def synthetic_samples(seed: int, count: int, style=None) -> list[tuple[str, np.ndarray]]:
    """Renders at random times; image i is the renderer's image i for `seed` and `style`, so the sheet is
    reproducible."""
    return [(f"synthetic {h}:{m:02d}", render_random(h, m, seed, i, style=style))
            for i, (h, m) in enumerate(_times(seed, count))]


def family_samples(seed: int, style=None) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """For each group, one render per family the style keeps; every other group shows its first kept family (the
    course-like one unless left out), so each render differs from the course's look in one group only."""
    style = parse_style(style)
    plain = style
    for group in GROUPS:
        plain = keep_only(plain, style.in_group(group)[0].name)
    out = []
    for g, group in enumerate(GROUPS):
        row = []
        for f, family in enumerate(style.in_group(group)):
            (h, m), = _times(seed + 7 * g + f, 1)
            row.append((family.name, render_random(h, m, seed, 100 * g + f, style=keep_only(plain, family.name))))
        out.append((group, row))
    return out


def grid(draw_on: Image.Image, items, top: int, cell: int) -> int:
    """Paste labelled square images in rows from `top`; returns the y below the last row."""
    draw = ImageDraw.Draw(draw_on)
    font = ImageFont.load_default()
    columns = draw_on.width // cell
    for i, (label, img) in enumerate(items):
        x, y = (i % columns) * cell, top + (i // columns) * (cell + LABEL_HEIGHT)
        draw_on.paste(Image.fromarray(img), (x, y))
        draw.text((x + 2, y + cell + 1), label, fill=INK, font=font)
    rows = -(-len(items) // columns)
    return top + rows * (cell + LABEL_HEIGHT)


def heading(sheet: Image.Image, text: str, top: int) -> int:
    """A line of text across the sheet at `top`; returns the y below it."""
    ImageDraw.Draw(sheet).text((4, top + 3), text, fill=INK, font=ImageFont.load_default())
    return top + SECTION_HEIGHT


def rows_height(count: int, cell: int, columns: int = COLUMNS) -> int:
    """Height of `count` labelled cells in rows of `columns`."""
    return -(-count // columns) * (cell + LABEL_HEIGHT)


def build_sheet(reference: Path, seed: int = 0, genuine: int = 12, rows: int = 2, style=None) -> Image.Image:
    """The whole sheet as a greyscale image."""
    style = parse_style(style)
    real = genuine_samples(reference, genuine)
    fake = synthetic_samples(seed, rows * COLUMNS, style)
    families = family_samples(seed, style)
    small = [(label.replace("synthetic ", "75px "), downsample(img)) for label, img in fake[:COLUMNS]]
    height = (rows_height(len(real), RENDER_SIZE) + rows_height(len(fake), RENDER_SIZE)
              + sum(SECTION_HEIGHT + rows_height(len(row), RENDER_SIZE) for _, row in families)
              + rows_height(len(small), 75, 2 * COLUMNS) + 3 * SECTION_HEIGHT)
    sheet = Image.new("L", (COLUMNS * RENDER_SIZE, height), BACKGROUND)
    top = heading(sheet, f"GENUINE course samples ({reference.name})", 0)
    top = grid(sheet, real, top, RENDER_SIZE)
    top = heading(sheet, f"SYNTHETIC renders, 150 px (seed {seed}, style {style.text})", top)
    top = grid(sheet, fake, top, RENDER_SIZE)
    for group, row in families:
        top = heading(sheet, f"one render per {group} family (the other groups: their first family)", top)
        top = grid(sheet, row, top, RENDER_SIZE)
    top = heading(sheet, "SYNTHETIC, the first renders at 75 px (2x2 area mean)", top)
    grid(sheet, small, top, 75)
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
    parser.add_argument("--reference", required=True, type=Path, help="folder of genuine samples named HH-MM")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", default="all", help="style families to keep or leave out (docs/clock.md)")
    parser.add_argument("--genuine", type=int, default=12, help="how many genuine samples to show")
    parser.add_argument("--rows", type=int, default=1, help="rows of synthetic 150 px renders")
    parser.add_argument("--levels", type=int, default=64, help="grey levels kept in the PNG (2-256)")
    args = parser.parse_args(argv)
    try:
        sheet = reduce_levels(build_sheet(args.reference, args.seed, args.genuine, args.rows, args.style),
                              args.levels)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height}, {args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
