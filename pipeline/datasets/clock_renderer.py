"""Synthetic analog clock images in the style of the Leiden "tell the time" data set.

The course's images are renders of one wall clock: white dial, thick dark bezel, thin
numerals, two near-black hands, photographed lying on wooden planks or mats under full
in-plane rotation and perspective tilt, sometimes with a glare on the glass. The real
set cannot be redistributed, so this module imitates it closely enough to train and
test on.

How it stays fast (the course's 18,000 images within a minute on two cores, see
benchmarks/render_clocks.py): every output pixel is a camera ray, and the clock is a
stack of planes parallel to the dial (bezel top, hands, dial, the surface the clock
lies on). One 3x3 matrix turns pixel coordinates into ray
directions in the clock's own frame, after which finding where a ray meets any of the
planes costs a handful of array operations. The static dial (numerals, dots, bars) and
the background textures are drawn once per process and only sampled per image; the
hands, bezel, lip, walls, glare and shading are analytic in dial coordinates. Because
the planes go through a real pinhole camera, the dial is a true perspective ellipse,
the bezel's inner wall shows as a crescent and the case's side shows on the near side.

Conventions: dial coordinates (a, b) are in units of the dial radius R, a towards
3 o'clock and b towards 6 o'clock; "height" is towards the viewer. Pixel coordinates
(x, y) put pixel centres on integers, x to the right and y down.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import signal
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.clock_input import area_downsample

MINUTES_ON_DIAL = 720
# Bump whenever a change alters the pixels a seed produces: processed splits made by an older renderer are rebuilt.
RENDERER_VERSION = 1
RENDER_SIZE = 150
SUPPORTED_SIZES = (150, 75)

# --- Clock geometry, in units of the dial radius R ---------------------------------
BEZEL_WIDTH = 0.18  # radial width of the bezel's top face
BEZEL_HEIGHT = 0.10  # bezel top above the dial: gives the inner-wall crescent when tilted
CASE_DEPTH = 0.09  # dial down to the surface the clock lies on: the case's side wall
HAND_HEIGHT = 0.03  # hands float above the dial, so they cast a small shadow
LIP_WIDTH = 0.022  # bright ring at the inner edge of the bezel
MINUTE_HAND = (0.80, 0.048)  # length, width
HOUR_HAND = (0.66, 0.068)  # nearly as long as the minute hand; width is the clearer cue
HAND_TAIL = 0.09
HUB_RADIUS = 0.055
NUMERAL_RADIUS = 0.78
NUMERAL_HEIGHT = 0.15
HOUR_BAR = (0.875, 0.98, 0.036)  # inner radius, outer radius, width
MINUTE_DOT = (0.935, 0.014)  # radius of the ring of dots, radius of one dot

# --- Pose ranges (see sample_pose) --------------------------------------------------
MIN_AXIS_RATIO = 0.64  # most oblique view: minor/major axis of the dial ellipse
SCALE_RANGE = (0.65, 0.8, 1.08)  # outer diameter / frame: small views, then the common close ones
SMALL_VIEW_SHARE = 0.2
MAX_OFFSET = 0.13  # centre's distance from the frame centre, fraction of the frame
# Camera distance in R for a clock filling the frame; smaller views are further away (a fixed lens),
# so perspective stays mild, as in the course images (about a 17 degree field of view).
DISTANCE_AT_FULL_FRAME = 7.5
DISTANCE_JITTER = (0.85, 1.15)

# --- Appearance (grey levels on 0-255) ----------------------------------------------
DIAL_LEVEL = (198.0, 222.0)
HAND_LEVEL = (14.0, 34.0)
BEZEL_LEVEL = (46.0, 78.0)
BACKGROUND_MEAN = (88.0, 114.0)
BACKGROUND_SPREAD = (26.0, 40.0)
GLARE_PROBABILITY = 0.35
GLARE_RADIUS = (0.10, 0.175)  # core radius in R: a spot 0.2-0.35 R across
ARC_PROBABILITY = 0.55
GLINT_PROBABILITY = 0.7
NOISE_SIGMA = (0.4, 1.4)

# --- Textures -----------------------------------------------------------------------
DIAL_TEXTURE_HIRES = 480  # texels per R when drawing the dial with Pillow
DIAL_TEXTURE_PAD = 48  # texels beyond R, so sampling at the rim never runs off the edge
DIAL_TEXTURE_LEVELS = (35, 45, 60, 80)  # prefiltered copies, texels per R
NUMERAL_INK, BAR_INK, DOT_INK = 0.40, 0.10, 0.25  # reflectance; thin strokes lighten on filtering
BACKGROUND_TEXELS = 512  # side of each tileable background texture (a power of two)
BACKGROUND_TEXELS_PER_R = 60.0
BACKGROUND_SEEDS = (11, 12, 13, 14, 21, 22, 23)  # 4 wood textures then 3 mats
WOOD_COUNT = 4
TEXTURE_SEED = 20240501


@dataclass(frozen=True)
class Pose:
    """Where the clock sits relative to the camera.

    rotation: in-plane turn of the clock in degrees, clockwise as seen (0 = 12 at top).
    tilt: angle between the dial's normal and the line of sight, in degrees.
    tilt_direction: image direction (degrees, 0 = +x, clockwise since y points down) of
        the axis the dial is tilted about.
    scale: the clock's outer diameter as a fraction of the frame, before tilt.
    offset: (dx, dy) of the dial centre from the frame centre, as fractions of the frame.
    distance: camera distance in dial radii; smaller means stronger perspective.
    """

    rotation: float = 0.0
    tilt: float = 0.0
    tilt_direction: float = 0.0
    scale: float = 0.85
    offset: tuple[float, float] = (0.0, 0.0)
    distance: float = 6.0


@dataclass(frozen=True)
class Look:
    """Lighting, materials and background of one image (everything but pose and time).

    Positions (glare, light) are in dial coordinates; None switches an effect off.
    """

    dial_level: float = 210.0
    dial_gradient: tuple[float, float] = (0.0, 0.0)
    hand_level: float = 24.0
    bezel_level: float = 68.0
    light: tuple[float, float] = (-0.6, -0.8)
    background: int = 0
    background_transform: tuple[float, float, float, float, float, float] = (
        BACKGROUND_TEXELS_PER_R, 0.0, 0.0, 0.0, BACKGROUND_TEXELS_PER_R, 0.0)
    background_mean: float = 100.0
    background_spread: float = 34.0
    glare: tuple[float, float, float, float] | None = None  # a, b, radius, strength
    arc: tuple[float, float, float] | None = None  # direction a, b (unit), strength
    glint: tuple[float, float, float] | None = None  # a, b on the bezel, strength
    image_gradient: tuple[float, float] = (0.0, 0.0)
    noise_sigma: float = 0.0


NEUTRAL_LOOK = Look()


# ====================================================================================
# Camera
# ====================================================================================

def _check_size(size: int) -> None:
    if size not in SUPPORTED_SIZES:
        raise ValueError(f"size must be one of {SUPPORTED_SIZES}, got {size!r}")


def _rotation(pose: Pose) -> np.ndarray:
    """Clock frame -> camera frame; a proper rotation, so the dial is never mirrored."""
    th = math.radians(pose.rotation)
    spin = np.array([[math.cos(th), -math.sin(th), 0.0], [math.sin(th), math.cos(th), 0.0], [0.0, 0.0, 1.0]])
    phi, alpha = math.radians(pose.tilt_direction), math.radians(pose.tilt)
    axis = np.array([math.cos(phi), math.sin(phi), 0.0])
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    tilt = np.eye(3) * math.cos(alpha) + math.sin(alpha) * cross + (1 - math.cos(alpha)) * np.outer(axis, axis)
    return tilt @ spin


@dataclass(frozen=True)
class _Camera:
    rotation: np.ndarray  # clock -> camera
    centre: np.ndarray  # dial centre in camera coordinates
    focal: float
    principal: float
    pixels_per_r: float
    ray_matrix: np.ndarray  # pixel (x, y, 1) -> ray direction in the clock frame
    origin: np.ndarray  # camera position in the clock frame


def _camera(pose: Pose, size: int = RENDER_SIZE) -> _Camera:
    rot = _rotation(pose)
    pixels_per_r = pose.scale * size / 2 / (1 + BEZEL_WIDTH)
    focal = pixels_per_r * pose.distance
    principal = (size - 1) / 2
    centre = np.array([pose.offset[0] * size * pose.distance / focal,
                       pose.offset[1] * size * pose.distance / focal, pose.distance])
    k_inv = np.array([[1 / focal, 0, -principal / focal], [0, 1 / focal, -principal / focal], [0, 0, 1.0]])
    return _Camera(rot, centre, focal, principal, pixels_per_r, rot.T @ k_inv, -rot.T @ centre)


def project_points(pose: Pose, a, b, height: float = 0.0, size: int = RENDER_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (x, y) at `size` of dial points (a, b) lying `height` R above the dial.

    Uses the same camera as the renderer; at 75 px it follows the 2x2 area downsampling.
    """
    _check_size(size)
    cam = _camera(pose, RENDER_SIZE)
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    local = np.stack([a, b, np.full_like(a, -height)], axis=-1)
    cam_pts = local @ cam.rotation.T + cam.centre
    x = cam.focal * cam_pts[..., 0] / cam_pts[..., 2] + cam.principal
    y = cam.focal * cam_pts[..., 1] / cam_pts[..., 2] + cam.principal
    if size != RENDER_SIZE:
        factor = RENDER_SIZE // size
        x, y = (x - (factor - 1) / 2) / factor, (y - (factor - 1) / 2) / factor
    return x, y


def hand_angles(hour: float, minute: float) -> tuple[float, float]:
    """Clockwise angles from 12 in degrees: (hour hand, minute hand); the hour hand creeps with the minutes."""
    return 30.0 * ((hour % 12) + minute / 60.0), 6.0 * minute


def hand_tips(hour: float, minute: float, pose: Pose, size: int = RENDER_SIZE,
              fraction: float = 1.0) -> dict[str, tuple[float, float]]:
    """Pixel (x, y) of the hour and minute hand tips, or of the point `fraction` of the way out."""
    out = {}
    for name, angle, (length, _) in zip(("hour", "minute"), hand_angles(hour, minute), (HOUR_HAND, MINUTE_HAND)):
        rad = math.radians(angle)
        x, y = project_points(pose, fraction * length * math.sin(rad), -fraction * length * math.cos(rad),
                              height=HAND_HEIGHT, size=size)
        out[name] = (float(x), float(y))
    return out


# ====================================================================================
# Random poses and looks
# ====================================================================================

def sample_pose(rng: np.random.Generator) -> Pose:
    """A pose from the ranges seen in the course's images.

    Rotation is uniform over 360 degrees, the tilt makes the dial's axis ratio uniform
    between MIN_AXIS_RATIO and 1, in any direction, and the centre wanders uniformly
    over a disc of radius MAX_OFFSET. Most views are close (outer diameter 80-108% of
    the frame, bezel often cropped), a fifth are further away (65-80%).
    """
    rotation = rng.uniform(0.0, 360.0)
    tilt = math.degrees(math.acos(rng.uniform(MIN_AXIS_RATIO, 1.0)))
    tilt_direction = rng.uniform(0.0, 360.0)
    low, mid, high = SCALE_RANGE
    scale = rng.uniform(low, mid) if rng.uniform() < SMALL_VIEW_SHARE else rng.uniform(mid, high)
    radius, angle = MAX_OFFSET * math.sqrt(rng.uniform()), rng.uniform(0.0, 2 * math.pi)
    distance = DISTANCE_AT_FULL_FRAME / scale * rng.uniform(*DISTANCE_JITTER)
    return Pose(rotation, tilt, tilt_direction, scale,
                (radius * math.cos(angle), radius * math.sin(angle)), distance)


def _pixel_to_dial(cam: _Camera, x: float, y: float, height: float) -> tuple[float, float]:
    d = cam.ray_matrix @ np.array([x, y, 1.0])
    t = (-height - cam.origin[2]) / d[2]
    return float(cam.origin[0] + t * d[0]), float(cam.origin[1] + t * d[1])


def _unit(angle: float) -> tuple[float, float]:
    return math.cos(angle), math.sin(angle)


def sample_look(rng: np.random.Generator, pose: Pose) -> Look:
    """Random lighting, materials and background for an image of the clock in `pose`."""
    cam = _camera(pose)
    light = _unit(rng.uniform(0, 2 * math.pi))
    spin, scale = rng.uniform(0, 2 * math.pi), BACKGROUND_TEXELS_PER_R * rng.uniform(0.7, 1.45)
    c, s = math.cos(spin) * scale, math.sin(spin) * scale
    transform = (c, -s, rng.uniform(0, BACKGROUND_TEXELS), s, c, rng.uniform(0, BACKGROUND_TEXELS))
    # Wood is the commoner floor in the course's images.
    background = int(rng.integers(WOOD_COUNT)) if rng.uniform() < 0.65 else int(rng.integers(WOOD_COUNT, len(BACKGROUND_SEEDS)))

    glare = None
    if rng.uniform() < GLARE_PROBABILITY:
        # A reflection of a lamp: fixed in the image (mostly upper left), so find where it lands on the glass.
        angle = rng.normal(-0.75 * math.pi, 0.45) if rng.uniform() < 0.6 else rng.uniform(0, 2 * math.pi)
        reach = rng.uniform(0.1, 0.75) * cam.pixels_per_r
        cx = cam.principal + pose.offset[0] * RENDER_SIZE + reach * math.cos(angle)
        cy = cam.principal + pose.offset[1] * RENDER_SIZE + reach * math.sin(angle)
        ga, gb = _pixel_to_dial(cam, cx, cy, BEZEL_HEIGHT)
        glare = (ga, gb, rng.uniform(*GLARE_RADIUS), rng.uniform(0.75, 1.5))
    arc = (*_unit(rng.uniform(0, 2 * math.pi)), rng.uniform(20, 60)) if rng.uniform() < ARC_PROBABILITY else None
    glint = None
    if rng.uniform() < GLINT_PROBABILITY:
        ga, gb = _unit(rng.uniform(0, 2 * math.pi))
        reach = 1 + BEZEL_WIDTH * rng.choice([0.08, 0.92])  # on the lip or on the outer rim
        glint = (ga * reach, gb * reach, rng.uniform(120, 220))
    return Look(
        dial_level=rng.uniform(*DIAL_LEVEL),
        dial_gradient=tuple(rng.normal(0, 0.05, 2)),
        hand_level=rng.uniform(*HAND_LEVEL),
        bezel_level=rng.uniform(*BEZEL_LEVEL),
        light=light,
        background=background,
        background_transform=transform,
        background_mean=rng.uniform(*BACKGROUND_MEAN),
        background_spread=rng.uniform(*BACKGROUND_SPREAD),
        glare=glare,
        arc=arc,
        glint=glint,
        image_gradient=tuple(rng.normal(0, 0.07, 2)),
        noise_sigma=rng.uniform(*NOISE_SIGMA),
    )


# ====================================================================================
# Static textures, built once per process
# ====================================================================================

def _font(cap_height: float) -> ImageFont.ImageFont:
    """Pillow's own sans-serif (Aileron), so renders do not depend on the machine's fonts."""
    size = int(round(cap_height / 0.72))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:
        # A tiny bitmap fallback would silently change the data set; better to say so.
        raise RuntimeError("the clock renderer needs Pillow >= 10.1 (scalable built-in font)") from None
    for _ in range(4):  # digits' height is not the em size; correct it
        left, top, right, bottom = font.getbbox("0123456789", anchor="ls")
        size = int(round(size * cap_height / (bottom - top)))
        font = ImageFont.load_default(size=size)
    return font


def _draw_dial(res: int, pad: int) -> Image.Image:
    """The dial's markings at high resolution: reflectance 255 = white paper."""
    side = 2 * (res + pad)
    img = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(img)
    mid = side / 2

    def at(radius: float, angle: float) -> tuple[float, float]:
        return mid + radius * res * math.sin(angle), mid - radius * res * math.cos(angle)

    dot_ring, dot_r = MINUTE_DOT
    for m in range(60):
        if m % 5:
            x, y = at(dot_ring, math.radians(6 * m))
            draw.ellipse([x - dot_r * res, y - dot_r * res, x + dot_r * res, y + dot_r * res], fill=int(255 * DOT_INK))
    inner, outer, width = HOUR_BAR
    for h in range(12):
        ang = math.radians(30 * h)
        ca, sa, hw = math.cos(ang), math.sin(ang), width / 2
        corners = [at(r, ang) for r in (inner, outer)]
        # offset sideways (perpendicular to the radius) by half the bar's width
        poly = [(corners[0][0] - hw * res * ca, corners[0][1] - hw * res * sa),
                (corners[1][0] - hw * res * ca, corners[1][1] - hw * res * sa),
                (corners[1][0] + hw * res * ca, corners[1][1] + hw * res * sa),
                (corners[0][0] + hw * res * ca, corners[0][1] + hw * res * sa)]
        draw.polygon(poly, fill=int(255 * BAR_INK))
    font = _font(NUMERAL_HEIGHT * res)
    for n in range(1, 13):
        x, y = at(NUMERAL_RADIUS, math.radians(30 * n))
        left, top, right, bottom = font.getbbox(str(n), anchor="ls")
        draw.text((x - (left + right) / 2, y - (top + bottom) / 2), str(n), font=font,
                  fill=int(255 * NUMERAL_INK), anchor="ls")
    return img


@lru_cache(maxsize=1)
def _dial_textures() -> tuple[tuple[int, np.ndarray], ...]:
    """Prefiltered dial textures (texels per R, flat float32 reflectance with one spare row and column)."""
    hires = _draw_dial(DIAL_TEXTURE_HIRES, DIAL_TEXTURE_PAD)
    levels = []
    for per_r in DIAL_TEXTURE_LEVELS:
        side = round(hires.width * per_r / DIAL_TEXTURE_HIRES)
        arr = np.asarray(hires.resize((side, side), Image.BOX), dtype=np.float32) / 255.0
        arr = np.pad(arr, ((0, 1), (0, 1)), mode="edge")
        levels.append((per_r, np.ascontiguousarray(arr)))
    return tuple(levels)


def _periodic_noise(rng: np.random.Generator, n: int, sigma_x: float, sigma_y: float) -> np.ndarray:
    """Gaussian-blurred white noise that tiles seamlessly (blurred in Fourier space), unit variance."""
    fx, fy = np.fft.fftfreq(n)[None, :], np.fft.fftfreq(n)[:, None]
    response = np.exp(-2 * math.pi ** 2 * ((fx * sigma_x) ** 2 + (fy * sigma_y) ** 2))
    out = np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, n))) * response).real
    return (out - out.mean()) / out.std()


def _wood(rng: np.random.Generator, n: int) -> np.ndarray:
    """Planks along x: long grain streaks, wavy growth lines, per-plank tone, dark seams and butt joints."""
    planks = int(rng.choice([8, 16]))
    width = n // planks
    yy = np.arange(n)[:, None].astype(float)
    period = rng.uniform(6, 11)
    grain = (0.45 * _periodic_noise(rng, n, 60, 1.6) + 0.2 * _periodic_noise(rng, n, 12, 3)
             + 0.25 * _periodic_noise(rng, n, 25, 0.6))
    wood = np.empty((n, n))
    for k in range(planks):
        rows = slice(k * width, (k + 1) * width)
        # Each plank is cut from a different place in the tree: its own growth lines and tone.
        warp = rng.uniform(2, 7) * _periodic_noise(rng, n, 70, 30)[rows]
        lines = np.abs(np.sin(math.pi * (yy[rows] + warp + rng.uniform(0, period)) / period)) ** 6
        tone = rng.normal(0, 0.55)
        wood[rows] = np.roll(grain[rows], int(rng.integers(n)), axis=1) - 0.5 * lines + tone
        joint = int(rng.integers(n))
        wood[rows, joint:joint + 3] -= 1.8
        wood[k * width:k * width + 3] = -2.6 + 0.4 * rng.standard_normal((3, n))
        wood[k * width + 3] -= 0.8  # seams have a soft shoulder
    return wood + 0.5 * _periodic_noise(rng, n, 90, 90)


def _cell_tones(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, spread: float) -> np.ndarray:
    """A random tone per (row, col) cell of a weave: real fibres differ from stitch to stitch."""
    table = rng.normal(0.0, spread, (int(rows.max()) + 1, int(cols.max()) + 1))
    return table[rows.astype(int), cols.astype(int)]


def _mat(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    """Floor mats: knitted rows of slanted stitches, ribbed coir, or a coarse plain weave."""
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    if kind == 0:  # rows of short slanted stitches, slant alternating by row (knit / herringbone)
        row_h, stitch_w = 8, 8
        row = yy // row_h
        slant = np.where(row % 2 == 0, 0.8, -0.8)
        u = xx + slant * (yy % row_h)
        col = (u // stitch_w) % (n // stitch_w)
        bump = np.sin(math.pi * (u % stitch_w) / stitch_w) * np.sin(math.pi * ((yy % row_h) + 0.5) / row_h)
        mat = 1.6 * bump ** 1.5 + _cell_tones(rng, row, col, 0.45)
    elif kind == 1:  # ribbed coir: parallel cords, each with its own tone and stringy fibres
        rib = 7
        row = yy // rib
        profile = np.sin(math.pi * ((yy % rib) + 0.5) / rib) ** 0.7
        mat = 1.5 * profile + _cell_tones(rng, row, xx // 64, 0.35) + 0.6 * _periodic_noise(rng, n, 10, 0.7)
    else:  # coarse plain weave: blocks of strands alternating direction, each block its own tone
        cell = 8
        row, col = yy // cell, xx // cell
        across = np.where((row + col) % 2 == 0, yy % cell, xx % cell)
        mat = np.abs(np.sin(math.pi * (across + 0.5) / (cell / 2))) + _cell_tones(rng, row, col, 0.4)
        mat = mat - 0.9 * (((xx % cell) < 1) | ((yy % cell) < 1))
    return mat + 0.3 * _periodic_noise(rng, n, 0.8, 0.8) + 0.35 * _periodic_noise(rng, n, 80, 80)


@lru_cache(maxsize=1)
def _background_textures() -> tuple[np.ndarray, ...]:
    """Tileable floor textures, flat float32, zero mean and unit spread."""
    out = []
    for i, seed in enumerate(BACKGROUND_SEEDS):
        rng = np.random.default_rng([TEXTURE_SEED, seed])
        tex = _wood(rng, BACKGROUND_TEXELS) if i < WOOD_COUNT else _mat(rng, BACKGROUND_TEXELS, i - WOOD_COUNT)
        tex = (tex - tex.mean()) / tex.std()
        out.append(np.ascontiguousarray(tex.ravel(), dtype=np.float32))
    return tuple(out)


@lru_cache(maxsize=2)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column vectors of pixel coordinates; broadcasting keeps the 3x3 transform cheap."""
    coords = np.arange(size, dtype=np.float32)
    return coords[None, :], coords[:, None]


def warm_up() -> None:
    """Build the per-process textures now (before forking workers, so they inherit them)."""
    _dial_textures()
    _background_textures()
    _pixel_grid(RENDER_SIZE)


# ====================================================================================
# Per-image rendering
# ====================================================================================

def _clip01(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, 0.0, out=x), 1.0, out=x)


def _coverage(signed_distance: np.ndarray, pixels_per_r: float) -> np.ndarray:
    """Fraction of a pixel inside a shape, from the signed distance (R units, positive inside)."""
    return _clip01(signed_distance * pixels_per_r + 0.5)


def _bar_distance(a, b, angle_deg: float, length: float, width: float) -> np.ndarray:
    """Signed distance (positive inside) to a square-ended hand pointing at angle_deg from 12."""
    rad = math.radians(angle_deg)
    s, c = math.sin(rad), math.cos(rad)
    along = a * s - b * c
    dist = np.minimum(width / 2 - np.abs(a * c + b * s), length - along)
    return np.minimum(dist, along + HAND_TAIL, out=dist)


def _hands_coverage(a, b, hour: float, minute: float, pixels_per_r: float) -> np.ndarray:
    hour_angle, minute_angle = hand_angles(hour, minute)
    dist = np.maximum(_bar_distance(a, b, hour_angle, *HOUR_HAND), _bar_distance(a, b, minute_angle, *MINUTE_HAND))
    dist = np.maximum(dist, HUB_RADIUS - np.sqrt(a * a + b * b), out=dist)
    return _coverage(dist, pixels_per_r)


def _sample_dial(a, b, pixels_per_r: float) -> np.ndarray:
    """Bilinear lookup in the prefiltered dial texture closest to the on-screen size."""
    per_r, tex = min(_dial_textures(), key=lambda lv: abs(lv[0] - pixels_per_r))
    side = tex.shape[1]
    flat = tex.ravel()
    centre = (side - 1) / 2 - 0.5
    tx = np.clip(a * per_r + centre, 0, side - 2.001)
    ty = np.clip(b * per_r + centre, 0, side - 2.001)
    x0, y0 = tx.astype(np.int32), ty.astype(np.int32)
    fx, fy = tx - x0, ty - y0
    idx = y0 * side + x0
    top = flat.take(idx)
    top += fx * (flat.take(idx + 1) - top)
    idx += side
    bottom = flat.take(idx)
    bottom += fx * (flat.take(idx + 1) - bottom)
    return top + fy * (bottom - top)


def _sample_background(look: Look, a, b) -> np.ndarray:
    """Nearest-texel lookup (the aliasing is part of the look) in a tiling floor texture."""
    t = look.background_transform
    wrap = BACKGROUND_TEXELS - 1
    # A large positive bias keeps truncation towards zero equal to floor.
    bias = BACKGROUND_TEXELS * 64
    tx = (t[0] * a + t[1] * b + (t[2] + bias)).astype(np.int32) & wrap
    ty = (t[3] * a + t[4] * b + (t[5] + bias)).astype(np.int32) & wrap
    tex = _background_textures()[look.background]
    return tex.take(ty * BACKGROUND_TEXELS + tx)


class _Rays:
    """Camera rays for every pixel, intersected with planes parallel to the dial."""

    def __init__(self, cam: _Camera, size: int):
        xs, ys = _pixel_grid(size)
        m = cam.ray_matrix.astype(np.float32)
        self.da = (m[0, 0] * xs + m[0, 2]) + m[0, 1] * ys
        self.db = (m[1, 0] * xs + m[1, 2]) + m[1, 1] * ys
        self.inv_dc = 1.0 / ((m[2, 0] * xs + m[2, 2]) + m[2, 1] * ys)
        self.origin = [float(v) for v in cam.origin]

    def at_height(self, height: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dial coordinates (a, b) and radius where each ray meets the plane `height` R above the dial."""
        t = (-height - self.origin[2]) * self.inv_dc
        a = self.origin[0] + t * self.da
        b = self.origin[1] + t * self.db
        return a, b, np.sqrt(a * a + b * b)


def _dial_layer(rays: _Rays, hour, minute, look: Look, k: float, a0, b0, r0) -> np.ndarray:
    """What shows through the bezel's opening, before the glass: dial, marks, hands, shadows."""
    refl = _sample_dial(a0, b0, k)
    lx, ly = look.light
    # The hands float above the dial; their shadow falls away from the light.
    shadow = _hands_coverage(a0 + 0.025 * lx, b0 + 0.025 * ly, hour, minute, k * 0.5)
    refl *= 1.0 - 0.2 * shadow
    ah, bh, _ = rays.at_height(HAND_HEIGHT)
    hands = _hands_coverage(ah, bh, hour, minute, k)
    refl += (look.hand_level / look.dial_level - refl) * hands
    ga, gb = look.dial_gradient
    illum = look.dial_level * (1.0 + ga * a0 + gb * b0)
    # The bezel's wall shades a crescent of the dial on the side towards the light.
    sa, sb = a0 - 0.16 * lx, b0 - 0.16 * ly
    rim = _clip01((np.sqrt(sa * sa + sb * sb) - 0.97) * 8.0)
    r2 = r0 * r0
    illum *= 1.0 - 0.22 * rim - 0.16 * r2 * r2
    return illum * refl


def _inner_wall(look: Look, r_top, r0, a0, b0) -> np.ndarray:
    """The bezel's inner wall, darkest where it meets the dial; lit on the side away from the light."""
    frac = _clip01((1.0 - r_top) / np.maximum(r0 - r_top, 1e-3))  # 0 at the bezel top, 1 at the dial
    facing = -(a0 * look.light[0] + b0 * look.light[1]) / np.maximum(r0, 1e-3)
    return look.bezel_level * (0.95 - 0.7 * frac) * (1.0 + 0.35 * facing)


def _glass(look: Look, value, a_top, b_top, r_top) -> np.ndarray:
    """Reflections on the glass: the round glare that can wash out hands, and bright arcs at the rim."""
    if look.glare is not None:
        ga, gb, radius, strength = look.glare
        da, db = a_top - ga, b_top - gb
        d2 = da * da + db * db
        glow = strength * np.exp(d2 * (-1.0 / (radius * radius))) + 0.4 * strength * np.exp(d2 * (-0.16 / (radius * radius)))
        value += (262.0 - value) * _clip01(glow)
    if look.arc is not None:
        ca, cb, strength = look.arc
        along = _clip01((a_top * ca + b_top * cb) / np.maximum(r_top, 1e-3))
        band = _clip01(1.0 - np.abs(r_top - 0.955) * 25.0)
        value += strength * band * along * along * along
    return value


def _bezel_top(look: Look, a, b, r, k: float) -> np.ndarray:
    """The bezel's rounded top face, the bright lip at its inner edge and an occasional glint."""
    lx, ly = look.light
    facing = (a * lx + b * ly) / np.maximum(r, 1e-3)
    slope = (r - (1 + BEZEL_WIDTH / 2)) * (2 / BEZEL_WIDTH)  # -1 at the inner edge, +1 at the outer
    shade = slope * facing
    value = look.bezel_level * (1.0 + 0.2 * shade)
    value += 35.0 * _clip01(shade - 0.6)
    lip = _coverage(1.0 + LIP_WIDTH - r, k)
    value += (look.dial_level * (0.62 + 0.15 * facing) - value) * lip
    if look.glint is not None:
        ga, gb, strength = look.glint
        da, db = a - ga, b - gb
        value += strength * np.exp((da * da + db * db) * (-1.0 / 0.0007))
    return value


def _case_side(look: Look, a, b, r) -> np.ndarray:
    """The outer side wall of the case, seen on the near side when the clock is tilted."""
    facing = (a * look.light[0] + b * look.light[1]) / np.maximum(r, 1e-3)
    return look.bezel_level * (0.7 + 0.3 * facing)


def _floor(look: Look, a, b, r) -> np.ndarray:
    """The surface the clock lies on, with a soft contact shadow around the case."""
    value = look.background_mean + look.background_spread * _sample_background(look, a, b)
    contact = _clip01((1 + BEZEL_WIDTH + 0.14 - r) * 7.0)
    value *= 1.0 - 0.3 * contact
    return value


def _render_float(hour: float, minute: float, pose: Pose, look: Look, noise: np.ndarray | None) -> np.ndarray:
    cam = _camera(pose)
    k = cam.pixels_per_r
    rays = _Rays(cam, RENDER_SIZE)
    outer = 1.0 + BEZEL_WIDTH
    a_top, b_top, r_top = rays.at_height(BEZEL_HEIGHT)
    a0, b0, r0 = rays.at_height(0.0)
    a_f, b_f, r_f = rays.at_height(-CASE_DEPTH)

    value = _floor(look, a_f, b_f, r_f)
    # A ray that passes the top face outside the case but ends inside the footprint hits the side wall.
    top_cov = _coverage(outer - r_top, k)
    case_cov = np.maximum(top_cov, _coverage(outer - r_f, k))
    value += (_case_side(look, a_f, b_f, r_f) - value) * case_cov
    value += (_bezel_top(look, a_top, b_top, r_top, k) - value) * top_cov
    # Inside the opening a ray meets the dial if it lands within R, else the inner wall.
    inside = _inner_wall(look, r_top, r0, a0, b0)
    inside += (_dial_layer(rays, hour, minute, look, k, a0, b0, r0) - inside) * _coverage(1.0 - r0, k)
    inside = _glass(look, inside, a_top, b_top, r_top)
    value += (inside - value) * _coverage(1.0 - r_top, k)

    gx, gy = look.image_gradient
    xs, ys = _pixel_grid(RENDER_SIZE)
    value *= (1.0 + gx * (xs / RENDER_SIZE - 0.5)) + gy * (ys / RENDER_SIZE - 0.5)
    if noise is not None:
        value += noise
    return value


def _to_uint8(value: np.ndarray) -> np.ndarray:
    return np.clip(value + 0.5, 0, 255).astype(np.uint8)


def downsample(image150: np.ndarray) -> np.ndarray:
    """150x150 -> 75x75 by 2x2 area mean, rounding halves up, as the course's 75 px set was made."""
    return area_downsample(image150, 2)


def render_clock(hour: float, minute: float, pose: Pose, look: Look | None = None, size: int = RENDER_SIZE,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """One clock image (size x size uint8) for a given time, pose and look.

    look=None uses NEUTRAL_LOOK (no glare, no noise). Sensor noise is drawn from `rng`
    when the look asks for it (a fixed generator if rng is None).
    """
    _check_size(size)
    look = NEUTRAL_LOOK if look is None else look
    noise = None
    if look.noise_sigma > 0:
        rng = np.random.default_rng(0) if rng is None else rng
        noise = rng.standard_normal((RENDER_SIZE, RENDER_SIZE), dtype=np.float32) * np.float32(look.noise_sigma)
    image = _to_uint8(_render_float(hour, minute, pose, look, noise))
    return image if size == RENDER_SIZE else downsample(image)


def pose_rotations(seed: int, indices) -> np.ndarray:
    """The in-plane rotation (degrees, clockwise, 0 = 12 at the top) of images `indices` of a seeded set, without
    rendering them: `render_random` draws each pose first from its own generator."""
    return np.array([sample_pose(np.random.default_rng([seed, int(i)])).rotation for i in np.ravel(indices)])


def render_random(hour: float, minute: float, seed: int, index: int, size: int = RENDER_SIZE) -> np.ndarray:
    """The image number `index` of a seeded set: pose, look and noise all come from (seed, index)."""
    rng = np.random.default_rng([seed, index])
    pose = sample_pose(rng)
    look = sample_look(rng, pose)
    return render_clock(hour, minute, pose, look, size=size, rng=rng)


# ====================================================================================
# Batches
# ====================================================================================

_SERIAL_BELOW = 64  # a pool costs more than it saves on a handful of images


def _render_chunk(job: tuple[np.ndarray, np.ndarray, np.ndarray, int, int]) -> np.ndarray:
    hours, minutes, indices, size, seed = job
    out = np.empty((len(indices), size, size), dtype=np.uint8)
    for i, (h, m, idx) in enumerate(zip(hours, minutes, indices)):
        out[i] = render_random(float(h), float(m), seed, int(idx), size)
    return out


def _pool_context():
    # fork lets workers inherit the textures built in the parent; elsewhere they build their own.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _default_signals() -> None:
    # The pool stops its workers with SIGTERM when it closes; a handler inherited from the parent (the command
    # line's, which turns SIGTERM into KeyboardInterrupt) would make each print a traceback.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def render_times(hours: np.ndarray, minutes: np.ndarray, size: int = RENDER_SIZE, seed: int = 0,
                 workers: int | None = None) -> np.ndarray:
    """Images (N, size, size) uint8 for arbitrary given times (e.g. extra training data on the fly).

    Image i depends only on (seed, i, hours[i], minutes[i]), never on `workers`.
    """
    _check_size(size)
    hours, minutes = np.asarray(hours).ravel(), np.asarray(minutes).ravel()
    if hours.shape != minutes.shape:
        raise ValueError(f"hours and minutes differ in length: {hours.shape[0]} vs {minutes.shape[0]}")
    count = hours.shape[0]
    indices = np.arange(count)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    warm_up()
    # A daemonic process (say, a data-loader worker) may not start a pool of its own.
    if workers == 1 or count < _SERIAL_BELOW or multiprocessing.current_process().daemon:
        return _render_chunk((hours, minutes, indices, size, seed))
    chunk = int(min(400, max(16, math.ceil(count / (workers * 6)))))
    jobs = [(hours[s:s + chunk], minutes[s:s + chunk], indices[s:s + chunk], size, seed)
            for s in range(0, count, chunk)]
    out = np.empty((count, size, size), dtype=np.uint8)
    with _pool_context().Pool(min(workers, len(jobs)), initializer=_default_signals) as pool:
        for start, block in zip(range(0, count, chunk), pool.imap(_render_chunk, jobs)):
            out[start:start + len(block)] = block
    return out


def clock_labels(count: int = 18000) -> np.ndarray:
    """Labels (count, 2) int64 [hour, minute], sorted from 0:00 to 11:59, spread as evenly as possible."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    minute_of_dial = (np.arange(count, dtype=np.int64) * MINUTES_ON_DIAL) // count
    return np.stack([minute_of_dial // 60, minute_of_dial % 60], axis=1)


def render_clocks(count: int = 18000, size: int = RENDER_SIZE, seed: int = 0,
                  workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The course's format: images (count, size, size) uint8, labels (count, 2) int64 [hour 0-11, minute 0-59],
    sorted by time from 0:00 to 11:59 with count/720 images per minute (when count is not a multiple of 720,
    spread times as evenly as possible, still sorted)."""
    _check_size(size)
    labels = clock_labels(count)
    return render_times(labels[:, 0], labels[:, 1], size=size, seed=seed, workers=workers), labels
