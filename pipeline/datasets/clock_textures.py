"""The renderer's static pictures, drawn once per process and only sampled per image: dial faces and floor textures.

Dial faces are drawn with Pillow at high resolution in dial units (texels per R), then kept as a few
prefiltered copies so a small view samples a copy near its own resolution. Fonts are Pillow's built-in
sans-serif (Aileron) and the DejaVu fonts matplotlib ships, so renders do not depend on the machine's fonts.
Floor textures are tileable (built in Fourier space), zero mean and unit spread, each with a defocused copy.
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ARABIC = tuple(str(n) for n in range(1, 13))
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


@dataclass(frozen=True)
class DialFace:
    """The printed face of a dial, in units of R: numerals at 1..12 o'clock ('' leaves a place empty), the hour
    bars (inner radius, outer radius, width) and the minute dots; ink is reflectance (thin strokes lighten on
    filtering, so they are printed darker than they look)."""
    numerals: tuple[str, ...] = ARABIC
    font: str = "aileron"  # Pillow's own, or a font file matplotlib ships
    numeral_height: float = 0.15
    numeral_radius: float = 0.78
    numeral_ink: float = 0.40
    bar: tuple[float, float, float] = (0.875, 0.98, 0.036)
    bar_ink: float = 0.10
    dots: bool = True


DIAL_FACES = {
    "course": DialFace(),
    "serif": DialFace(font="DejaVuSerif.ttf", numeral_height=0.14, numeral_radius=0.77, numeral_ink=0.32,
                      bar=(0.9, 0.98, 0.022), bar_ink=0.15),
    "bold": DialFace(font="DejaVuSans-Bold.ttf", numeral_height=0.16, numeral_radius=0.74, numeral_ink=0.2,
                     bar=(0.86, 0.98, 0.05), bar_ink=0.08, dots=False),
    "sparse": DialFace(numerals=tuple(n if int(n) % 3 == 0 else "" for n in ARABIC), numeral_height=0.17,
                       numeral_radius=0.76),
    "roman": DialFace(numerals=ROMAN, font="DejaVuSerif.ttf", numeral_height=0.11, numeral_radius=0.74,
                      numeral_ink=0.3, bar=(0.9, 0.98, 0.02), bar_ink=0.15),
}
NUMERAL_RADIUS = DIAL_FACES["course"].numeral_radius
MINUTE_DOT = (0.935, 0.014)  # radius of the ring of dots, radius of one dot
DOT_INK = 0.25
DIAL_TEXTURE_HIRES = 480  # texels per R when drawing the dial with Pillow
DIAL_TEXTURE_PAD = 48  # texels beyond R, so sampling at the rim never runs off the edge
DIAL_TEXTURE_LEVELS = (35, 45, 60, 80)  # prefiltered copies, texels per R

FLOOR_TEXELS = 512  # side of each tileable floor texture (a power of two)
FLOOR_TEXELS_PER_R = 60.0  # at grain scale 1
FLOOR_KINDS = {"wood": 4, "mat": 3, "paper": 2, "photo": 3}  # variants of each kind
FLOOR_DEFOCUS = 2.5  # texels: the Gaussian that makes a texture's defocused copy
TEXTURE_SEED = 20240501


def _font_file(name: str) -> str:
    """A font file matplotlib ships (its package data), found without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / name
    if not path.is_file():
        raise RuntimeError(f"the clock renderer needs the font {name}, shipped with matplotlib; not at {path}")
    return str(path)


def _font(name: str, cap_height: float, sample: str) -> ImageFont.ImageFont:
    """A scalable font whose `sample` text is `cap_height` texels tall."""
    def load(size: int) -> ImageFont.ImageFont:
        if name != "aileron":
            return ImageFont.truetype(_font_file(name), size)
        try:
            return ImageFont.load_default(size=size)
        except TypeError:
            # A tiny bitmap fallback would silently change the data set; better to say so.
            raise RuntimeError("the clock renderer needs Pillow >= 10.1 (scalable built-in font)") from None

    size = int(round(cap_height / 0.72))
    font = load(size)
    for _ in range(4):  # the glyphs' height is not the em size; correct it
        _, top, _, bottom = font.getbbox(sample, anchor="ls")
        size = int(round(size * cap_height / (bottom - top)))
        font = load(size)
    return font


def _draw_marks(draw: ImageDraw.ImageDraw, face: DialFace, at, res: int) -> None:
    """Minute dots and hour bars."""
    dot_ring, dot_r = MINUTE_DOT
    for m in range(60 if face.dots else 0):
        if m % 5:
            x, y = at(dot_ring, math.radians(6 * m))
            draw.ellipse([x - dot_r * res, y - dot_r * res, x + dot_r * res, y + dot_r * res], fill=int(255 * DOT_INK))
    inner, outer, width = face.bar
    for h in range(12):
        ang = math.radians(30 * h)
        ca, sa, hw = math.cos(ang), math.sin(ang), width / 2
        corners = [at(r, ang) for r in (inner, outer)]
        # offset sideways (perpendicular to the radius) by half the bar's width
        poly = [(corners[0][0] - hw * res * ca, corners[0][1] - hw * res * sa),
                (corners[1][0] - hw * res * ca, corners[1][1] - hw * res * sa),
                (corners[1][0] + hw * res * ca, corners[1][1] + hw * res * sa),
                (corners[0][0] + hw * res * ca, corners[0][1] + hw * res * sa)]
        draw.polygon(poly, fill=int(255 * face.bar_ink))


def _draw_dial(face: DialFace, res: int, pad: int) -> Image.Image:
    """The dial's markings at high resolution: reflectance 255 = white paper."""
    side = 2 * (res + pad)
    img = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(img)
    mid = side / 2

    def at(radius: float, angle: float) -> tuple[float, float]:
        return mid + radius * res * math.sin(angle), mid - radius * res * math.cos(angle)

    _draw_marks(draw, face, at, res)
    font = _font(face.font, face.numeral_height * res, "XVI" if face.numerals == ROMAN else "0123456789")
    for n, text in enumerate(face.numerals, start=1):
        if not text:
            continue
        x, y = at(face.numeral_radius, math.radians(30 * n))
        left, top, right, bottom = font.getbbox(text, anchor="ls")
        draw.text((x - (left + right) / 2, y - (top + bottom) / 2), text, font=font,
                  fill=int(255 * face.numeral_ink), anchor="ls")
    return img


@cache
def dial_textures(face: str = "course") -> tuple[tuple[int, np.ndarray], ...]:
    """Prefiltered textures of a dial face (texels per R, 2-D float32 reflectance with one spare row and column)."""
    hires = _draw_dial(DIAL_FACES[face], DIAL_TEXTURE_HIRES, DIAL_TEXTURE_PAD)
    levels = []
    for per_r in DIAL_TEXTURE_LEVELS:
        side = round(hires.width * per_r / DIAL_TEXTURE_HIRES)
        arr = np.asarray(hires.resize((side, side), Image.BOX), dtype=np.float32) / 255.0
        arr = np.pad(arr, ((0, 1), (0, 1)), mode="edge")
        levels.append((per_r, np.ascontiguousarray(arr)))
    return tuple(levels)


# ====================================================================================
# Floors
# ====================================================================================

def _periodic_blur(field: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    """A Gaussian blur that wraps around the edges (in Fourier space), so a tiling texture still tiles."""
    n = field.shape[0]
    fx, fy = np.fft.fftfreq(n)[None, :], np.fft.fftfreq(n)[:, None]
    response = np.exp(-2 * math.pi ** 2 * ((fx * sigma_x) ** 2 + (fy * sigma_y) ** 2))
    return np.fft.ifft2(np.fft.fft2(field) * response).real


def _periodic_noise(rng: np.random.Generator, n: int, sigma_x: float, sigma_y: float) -> np.ndarray:
    """Gaussian-blurred white noise that tiles seamlessly, unit variance."""
    out = _periodic_blur(rng.standard_normal((n, n)), sigma_x, sigma_y)
    return (out - out.mean()) / out.std()


def _wood(rng: np.random.Generator, n: int) -> np.ndarray:
    """Planks along x: long grain streaks, wavy growth lines, per-plank tone, seams and butt joints.

    Each variant draws how fine the grain is and how deep the seams are, from the course's fine grain and black
    seams to broad grain and soft seams."""
    planks = int(rng.choice([6, 8, 12, 16]))
    width = n // planks
    yy = np.arange(n)[:, None].astype(float)
    period, streak, seam = rng.uniform(6, 14), rng.uniform(1.6, 3.5), rng.uniform(1.0, 2.6)
    grain = (0.45 * _periodic_noise(rng, n, 60, streak) + 0.2 * _periodic_noise(rng, n, 12, 2 * streak)
             + 0.25 * _periodic_noise(rng, n, 25, 0.4 * streak))
    warp_field = _periodic_noise(rng, n, 70, 30)
    wood = np.empty((n, n))
    for k in range(planks):
        rows = slice(k * width, (k + 1) * width)
        # Each plank is cut from a different place in the tree: its own growth lines and tone.
        warp = rng.uniform(2, 7) * np.roll(warp_field, int(rng.integers(n)), axis=0)[rows]
        lines = np.abs(np.sin(math.pi * (yy[rows] + warp + rng.uniform(0, period)) / period)) ** 6
        wood[rows] = np.roll(grain[rows], int(rng.integers(n)), axis=1) - 0.5 * lines + rng.normal(0, 0.55)
        joint = int(rng.integers(n))
        wood[rows, joint:joint + 3] -= 0.7 * seam
        wood[k * width:k * width + 3] = -seam + 0.4 * rng.standard_normal((3, n))
        wood[k * width + 3] -= 0.3 * seam  # seams have a soft shoulder
    return wood + 0.5 * _periodic_noise(rng, n, 90, 90)


def _cell_tones(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, spread: float) -> np.ndarray:
    """A random tone per (row, col) cell of a weave: real fibres differ from stitch to stitch."""
    rows, cols = rows.astype(int), cols.astype(int)
    table = rng.normal(0.0, spread, (int(rows.max()) + 1, int(cols.max()) + 1))
    return table[rows, cols]


def _mat(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    """Floor mats: knitted rows of slanted stitches, ribbed coir, or a coarse plain weave; the rows wander a
    little, as a real mat's do, so the weave is not a perfect lattice."""
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    yy = np.mod(yy + 2.5 * _periodic_noise(rng, n, 40, 40), n)
    xx = np.mod(xx + 2.5 * _periodic_noise(rng, n, 40, 40), n)
    if kind == 0:  # rows of short slanted stitches, slant alternating by row (knit / herringbone)
        row_h, stitch_w = 8, 8
        row = yy // row_h
        slant = np.where(row % 2 == 0, 0.8, -0.8)
        u = xx + slant * (yy % row_h)
        col = (u // stitch_w) % (n // stitch_w)
        bump = np.sin(math.pi * (u % stitch_w) / stitch_w) * np.sin(math.pi * ((yy % row_h) + 0.5) / (row_h + 1))
        mat = 1.6 * bump ** 1.5 + _cell_tones(rng, row, col, 0.45)
    elif kind == 1:  # ribbed coir: parallel cords, each with its own tone and stringy fibres
        rib = 7
        row = yy // rib
        profile = np.sin(math.pi * ((yy % rib) + 0.5) / (rib + 1)) ** 0.7
        mat = 1.5 * profile + _cell_tones(rng, row, xx // 64, 0.35) + 0.6 * _periodic_noise(rng, n, 10, 0.7)
    else:  # coarse plain weave: blocks of strands alternating direction, each block its own tone
        cell = 8
        row, col = yy // cell, xx // cell
        across = np.where((row + col) % 2 == 0, yy % cell, xx % cell)
        mat = np.abs(np.sin(math.pi * (across + 0.5) / (cell / 2))) + _cell_tones(rng, row, col, 0.4)
        mat = mat - 0.9 * (((xx % cell) < 1) | ((yy % cell) < 1))
    return mat + 0.3 * _periodic_noise(rng, n, 0.8, 0.8) + 0.35 * _periodic_noise(rng, n, 80, 80)


def _paper(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    """Smooth surfaces: mottled paper or concrete, or cloth with soft folds."""
    fine = 0.35 * _periodic_noise(rng, n, 0.8, 0.8) + 0.5 * _periodic_noise(rng, n, 6, 6)
    if kind == 0:
        return fine + _periodic_noise(rng, n, 45, 45)
    folds = np.tanh(1.5 * _periodic_noise(rng, n, 90, 12))
    return fine + folds + 0.4 * _periodic_noise(rng, n, 30, 30)


def _photo(rng: np.random.Generator, n: int) -> np.ndarray:
    """A photographic-looking scene: 1/f noise (detail at every scale, as in natural images) and a few large
    regions with soft edges, like objects and shadows on a table."""
    fx, fy = np.fft.fftfreq(n)[None, :], np.fft.fftfreq(n)[:, None]
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    pink = np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, n))) / radius ** rng.uniform(0.8, 1.2)).real
    pink = (pink - pink.mean()) / pink.std()
    regions = np.tanh(rng.uniform(2, 6) * _periodic_noise(rng, n, rng.uniform(30, 80), rng.uniform(30, 80)))
    return pink + 1.2 * regions


def _floor_pattern(kind: str, variant: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "wood":
        return _wood(rng, FLOOR_TEXELS)
    if kind == "mat":
        return _mat(rng, FLOOR_TEXELS, variant)
    if kind == "paper":
        return _paper(rng, FLOOR_TEXELS, variant)
    return _photo(rng, FLOOR_TEXELS)


@cache
def floor_texture(kind: str, variant: int) -> tuple[np.ndarray, np.ndarray]:
    """A tileable floor texture, flat float32 with zero mean and unit spread, and its defocused copy (the same
    scale, so defocus also lowers the contrast)."""
    if kind not in FLOOR_KINDS or not 0 <= variant < FLOOR_KINDS[kind]:
        raise ValueError(f"no floor texture {kind!r} {variant}")
    rng = np.random.default_rng([TEXTURE_SEED, list(FLOOR_KINDS).index(kind), variant])
    tex = _floor_pattern(kind, variant, rng)
    tex = (tex - tex.mean()) / tex.std()
    soft = _periodic_blur(tex, FLOOR_DEFOCUS, FLOOR_DEFOCUS)
    return tuple(np.ascontiguousarray(t.ravel(), dtype=np.float32) for t in (tex, soft))
