"""Synthetic analog clock images in the style of the Leiden "tell the time" data set, and wider.

The course's images are renders of one wall clock: white dial, thick dark bezel, thin numerals, two dark hands,
photographed lying on wooden planks or mats under full in-plane rotation and perspective tilt, sometimes with a
glare on the glass. The real set cannot be redistributed, so this module imitates it, and randomises every
factor a real clock or camera varies around that look (dial faces, hands, bezels, floors, glare, framing, lens,
noise, tone, JPEG): the families and their ranges are one table, clock_styles.py, and a `style` leaves named
families out, so a model can be trained without some and tested on them alone (`withheld`).

How it stays fast (the course's 18,000 images at 150 px within 90 s on two cores, see
benchmarks/render_clocks.py): every output pixel is a camera ray, and the clock is a stack of planes parallel
to the dial (bezel top, hands, dial, the surface the clock lies on). One 3x3 matrix turns pixel coordinates
into ray directions in the clock's own frame (clock_geometry.py), after which finding where a ray meets any of
the planes costs a handful of array operations. Dial faces and floor textures are drawn once per process and
only sampled per image (clock_textures.py); the hands, bezel, lip, walls, glare and shading are analytic in
dial coordinates; the camera's blur, tone, noise and JPEG come last (clock_photo.py). Because the planes go
through a real pinhole camera, the dial is a true perspective ellipse, the bezel's inner wall shows as a
crescent and the case's side shows on the near side.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import signal
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from models.clock_input import area_downsample
from pipeline.datasets.clock_geometry import (  # noqa: F401  (re-exported: the renderer's public geometry)
    BEZEL_HEIGHT,
    BEZEL_WIDTH,
    CASE_DEPTH,
    HAND_HEIGHT,
    HOUR_HAND,
    LIP_WIDTH,
    MINUTE_HAND,
    RENDER_SIZE,
    SUPPORTED_SIZES,
    Camera,
    Pose,
    camera,
    check_size,
    draw_rotation,
    hand_angles,
    hand_tips,
    pixel_to_dial,
    project_points,
    sample_pose,
)
from pipeline.datasets.clock_photo import photograph
from pipeline.datasets.clock_styles import (  # noqa: F401  (re-exported for callers choosing styles)
    ALL,
    GROUPS,
    Style,
    draw,
    factors,
    family_codes,
    family_names,
    parse_style,
    withheld,
)
from pipeline.datasets.clock_textures import (  # noqa: F401
    FLOOR_TEXELS,
    FLOOR_TEXELS_PER_R,
    NUMERAL_RADIUS,
    dial_textures,
    floor_texture,
)

MINUTES_ON_DIAL = 720
# Bump whenever a change alters the pixels a seed produces: processed splits made by an older renderer are rebuilt.
RENDERER_VERSION = 2


@dataclass(frozen=True)
class Look:
    """Everything about one image but its pose and time: materials, light, glass and camera.

    Positions (glare, light, glint) are in dial coordinates; None switches an effect off. The defaults are the
    centres of the style table's course-like families, with a sharp floor and no glare, blur, tone or noise.
    """

    dial_face: str = "course"
    dial_level: float = 200.0
    dial_gradient: tuple[float, float] = (0.0, 0.0)
    dial_vignette: float = 0.02
    wall_shade: float = 0.04
    lip: float = 0.2
    ink: float = 1.0
    hand_shape: str = "bar"
    hand_level: float = 66.0
    hand_width: float = 1.0
    hand_tail: float = 0.0
    hub_radius: float = 0.045
    hand_softness: float = 1.4
    bezel_level: float = 74.0
    bezel_width: float = BEZEL_WIDTH
    light: tuple[float, float] = (-0.6, -0.8)
    floor: tuple[str, int] = ("wood", 0)
    floor_transform: tuple[float, float, float, float, float, float] = (
        FLOOR_TEXELS_PER_R, 0.0, 0.0, 0.0, FLOOR_TEXELS_PER_R, 0.0)
    floor_mean: float = 100.0
    floor_spread: float = 40.0
    floor_softness: float = 0.0
    glare: tuple[float, float, float, float, float] | None = None  # a, b, radius, strength, halo
    arc: tuple[float, float, float] | None = None  # direction a, b (unit), strength
    glint: tuple[float, float, float] | None = None  # a, b on the bezel, strength
    image_gradient: tuple[float, float] = (0.0, 0.0)
    blur: float = 0.0
    stretch: float = 0.0
    gamma: float = 1.0
    noise_sigma: float = 0.0
    jpeg_quality: int = 0
    families: tuple[str, ...] = ()  # the style families the look was drawn from, one per group but framing


NEUTRAL_LOOK = Look()


# ====================================================================================
# Random looks, one group of the style table at a time
# ====================================================================================

def _unit(angle: float) -> tuple[float, float]:
    return math.cos(angle), math.sin(angle)


def _dial_look(rng: np.random.Generator, table: dict) -> dict:
    return {"dial_face": table["face"], "dial_level": draw(table["dial_level"], rng),
            "dial_gradient": tuple(float(g) for g in rng.normal(0, table["dial_gradient"], 2)),
            "dial_vignette": draw(table["dial_vignette"], rng), "wall_shade": draw(table["wall_shade"], rng),
            "lip": draw(table["lip"], rng), "ink": draw(table["ink"], rng)}


def _hands_look(rng: np.random.Generator, table: dict) -> dict:
    return {"hand_shape": table["shape"], "hand_level": draw(table["hand_level"], rng),
            "hand_width": draw(table["hand_width"], rng), "hand_tail": float(draw(table["hand_tail"], rng)),
            "hub_radius": draw(table["hub_radius"], rng), "hand_softness": draw(table["hand_softness"], rng)}


def _bezel_look(rng: np.random.Generator, table: dict) -> dict:
    return {"bezel_level": draw(table["bezel_level"], rng), "bezel_width": draw(table["bezel_width"], rng)}


def _floor_look(rng: np.random.Generator, table: dict) -> dict:
    kind, variants = table["textures"]
    spin, scale = rng.uniform(0, 2 * math.pi), FLOOR_TEXELS_PER_R * draw(table["grain_scale"], rng)
    aspect = draw(table["grain_aspect"], rng)
    c, s = math.cos(spin) * scale, math.sin(spin) * scale
    transform = (c * aspect, -s * aspect, rng.uniform(0, FLOOR_TEXELS), s / aspect, c / aspect,
                 rng.uniform(0, FLOOR_TEXELS))
    return {"floor": (kind, int(rng.integers(variants))), "floor_transform": transform,
            "floor_mean": draw(table["floor_mean"], rng), "floor_spread": draw(table["floor_spread"], rng),
            "floor_softness": draw(table["floor_softness"], rng)}


def _glare_look(rng: np.random.Generator, table: dict, pose: Pose, bezel_width: float) -> dict:
    glare = None
    radius = draw(table["glare_radius"], rng)
    if radius > 0:
        # A reflection of a lamp: fixed in the image (often upper left), so find where it lands on the glass.
        cam = camera(pose)
        upper_left = rng.uniform() < table["glare_upper_left"]
        angle = rng.normal(-0.75 * math.pi, 0.45) if upper_left else rng.uniform(0, 2 * math.pi)
        reach = rng.uniform(0.1, 0.75) * cam.pixels_per_r
        cx = cam.principal + pose.offset[0] * RENDER_SIZE + reach * math.cos(angle)
        cy = cam.principal + pose.offset[1] * RENDER_SIZE + reach * math.sin(angle)
        ga, gb = pixel_to_dial(cam, cx, cy, BEZEL_HEIGHT)
        glare = (ga, gb, radius, draw(table["glare_strength"], rng), draw(table["glare_halo"], rng))
    arc = None
    if rng.uniform() < table["arc_probability"]:
        arc = (*_unit(rng.uniform(0, 2 * math.pi)), rng.uniform(20, 60))
    glint = None
    if rng.uniform() < table["glint_probability"]:
        ga, gb = _unit(rng.uniform(0, 2 * math.pi))
        reach = 1 + bezel_width * rng.choice([0.08, 0.92])  # on the lip or on the outer rim
        glint = (ga * reach, gb * reach, rng.uniform(120, 220))
    return {"glare": glare, "arc": arc, "glint": glint}


def _camera_look(rng: np.random.Generator, table: dict) -> dict:
    return {"blur": draw(table["blur"], rng), "stretch": draw(table["stretch"], rng),
            "gamma": draw(table["gamma"], rng), "noise_sigma": draw(table["noise"], rng),
            "jpeg_quality": int(round(draw(table["jpeg_quality"], rng))),
            "image_gradient": tuple(float(g) for g in rng.normal(0, table["image_gradient"], 2))}


def sample_look(rng: np.random.Generator, pose: Pose, style: Style = ALL) -> Look:
    """Random materials, light, glass and camera for an image of the clock in `pose`: one of the style's families
    for each group, then each of its factors."""
    chosen = {group: style.choose(rng, group) for group in GROUPS if group != "framing"}
    tables = {group: factors(family) for group, family in chosen.items()}
    fields = {"light": _unit(rng.uniform(0, 2 * math.pi))}
    fields.update(_dial_look(rng, tables["dial"]))
    fields.update(_hands_look(rng, tables["hands"]))
    fields.update(_bezel_look(rng, tables["bezel"]))
    fields.update(_floor_look(rng, tables["floor"]))
    fields.update(_glare_look(rng, tables["glare"], pose, fields["bezel_width"]))
    fields.update(_camera_look(rng, tables["camera"]))
    return Look(**fields, families=tuple(family.name for family in chosen.values()))


# ====================================================================================
# Per-image rendering
# ====================================================================================

@lru_cache(maxsize=2)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column vectors of pixel coordinates; broadcasting keeps the 3x3 transform cheap."""
    coords = np.arange(size, dtype=np.float32)
    return coords[None, :], coords[:, None]


def warm_up(style: Style | str | None = None) -> None:
    """Build the per-process textures the style can use now (before forking workers, so they inherit them)."""
    style = parse_style(style)
    for family in style.in_group("dial"):
        dial_textures(factors(family)["face"])
    for family in style.in_group("floor"):
        kind, variants = factors(family)["textures"]
        for variant in range(variants):
            floor_texture(kind, variant)
    _pixel_grid(RENDER_SIZE)


def _clip01(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, 0.0, out=x), 1.0, out=x)


def _coverage(signed_distance: np.ndarray, pixels_per_r: float) -> np.ndarray:
    """Fraction of a pixel inside a shape, from the signed distance (R units, positive inside)."""
    return _clip01(signed_distance * pixels_per_r + 0.5)


def _hand_distance(a, b, angle_deg: float, length: float, width: float, tail: float, tapered: bool) -> np.ndarray:
    """Signed distance (positive inside) to a hand pointing at angle_deg from 12: a square-ended bar, or one that
    narrows to a quarter of its width at the tip; `tail` R of it reaches back past the hub."""
    rad = math.radians(angle_deg)
    s, c = math.sin(rad), math.cos(rad)
    along = a * s - b * c
    half = width / 2
    if tapered:
        half = half * (1.0 - 0.75 * np.clip(along * (1.0 / length), 0.0, 1.0))
    dist = np.minimum(half - np.abs(a * c + b * s), length - along)
    return np.minimum(dist, along + tail, out=dist)


def _hands_coverage(a, b, hour: float, minute: float, pixels_per_r: float, look: Look) -> np.ndarray:
    hour_angle, minute_angle = hand_angles(hour, minute)
    shape = (look.hand_tail, look.hand_shape == "tapered")
    dist = np.maximum(_hand_distance(a, b, hour_angle, HOUR_HAND[0], HOUR_HAND[1] * look.hand_width, *shape),
                      _hand_distance(a, b, minute_angle, MINUTE_HAND[0], MINUTE_HAND[1] * look.hand_width, *shape))
    dist = np.maximum(dist, look.hub_radius - np.sqrt(a * a + b * b), out=dist)
    return _coverage(dist, pixels_per_r / look.hand_softness)


def _sample_dial(face: str, a, b, pixels_per_r: float) -> np.ndarray:
    """Bilinear lookup in the prefiltered dial texture closest to the on-screen size."""
    per_r, tex = min(dial_textures(face), key=lambda lv: abs(lv[0] - pixels_per_r))
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


def _sample_floor(look: Look, a, b) -> np.ndarray:
    """Nearest-texel lookup (the aliasing is part of the course's look) in a tiling floor texture, blended
    towards its defocused copy by the look's floor softness."""
    t = look.floor_transform
    wrap = FLOOR_TEXELS - 1
    # A large positive bias keeps truncation towards zero equal to floor.
    bias = FLOOR_TEXELS * 64
    tx = (t[0] * a + t[1] * b + (t[2] + bias)).astype(np.int32) & wrap
    ty = (t[3] * a + t[4] * b + (t[5] + bias)).astype(np.int32) & wrap
    idx = ty * FLOOR_TEXELS + tx
    sharp, soft = floor_texture(*look.floor)
    if look.floor_softness < 0.02:
        return sharp.take(idx)
    value = soft.take(idx)
    if look.floor_softness < 0.98:
        value += (1.0 - look.floor_softness) * (sharp.take(idx) - value)
    return value


class _Rays:
    """Camera rays for every pixel, intersected with planes parallel to the dial."""

    def __init__(self, cam: Camera, size: int):
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
    refl = _sample_dial(look.dial_face, a0, b0, k)
    if look.ink != 1.0:
        refl = refl * look.ink + (1.0 - look.ink)
    lx, ly = look.light
    # The hands float above the dial; their shadow falls away from the light.
    shadow = _hands_coverage(a0 + 0.025 * lx, b0 + 0.025 * ly, hour, minute, k * 0.5, look)
    refl *= 1.0 - 0.2 * shadow
    ah, bh, _ = rays.at_height(HAND_HEIGHT)
    hands = _hands_coverage(ah, bh, hour, minute, k, look)
    refl += (look.hand_level / look.dial_level - refl) * hands
    ga, gb = look.dial_gradient
    illum = look.dial_level * (1.0 + ga * a0 + gb * b0)
    # The bezel's wall shades a crescent of the dial on the side towards the light; the rim may darken.
    sa, sb = a0 - 0.16 * lx, b0 - 0.16 * ly
    rim = _clip01((np.sqrt(sa * sa + sb * sb) - 0.97) * 8.0)
    r2 = r0 * r0
    illum *= 1.0 - look.wall_shade * rim - look.dial_vignette * r2 * r2
    return illum * refl


def _inner_wall(look: Look, r_top, r0, a0, b0) -> np.ndarray:
    """The bezel's inner wall, darkest where it meets the dial; lit on the side away from the light."""
    frac = _clip01((1.0 - r_top) / np.maximum(r0 - r_top, 1e-3))  # 0 at the bezel top, 1 at the dial
    facing = -(a0 * look.light[0] + b0 * look.light[1]) / np.maximum(r0, 1e-3)
    return look.bezel_level * (0.95 - 0.7 * frac) * (1.0 + 0.35 * facing)


def _glass(look: Look, value, a_top, b_top, r_top) -> np.ndarray:
    """Reflections on the glass: a round glare, from a small spot to a broad wash, that can wash out hands, and
    bright arcs at the rim."""
    if look.glare is not None:
        ga, gb, radius, strength, halo = look.glare
        da, db = a_top - ga, b_top - gb
        d2 = da * da + db * db
        glow = strength * np.exp(d2 * (-1.0 / (radius * radius)))
        glow += halo * strength * np.exp(d2 * (-0.16 / (radius * radius)))
        value += (262.0 - value) * _clip01(glow)
    if look.arc is not None:
        ca, cb, strength = look.arc
        along = _clip01((a_top * ca + b_top * cb) / np.maximum(r_top, 1e-3))
        band = _clip01(1.0 - np.abs(r_top - 0.955) * 25.0)
        value += strength * band * along * along * along
    return value


def _bezel_top(look: Look, a, b, r, k: float) -> np.ndarray:
    """The bezel's rounded top face, the lip at its inner edge and an occasional glint."""
    lx, ly = look.light
    facing = (a * lx + b * ly) / np.maximum(r, 1e-3)
    slope = (r - (1 + look.bezel_width / 2)) * (2 / look.bezel_width)  # -1 at the inner edge, +1 at the outer
    shade = slope * facing
    value = look.bezel_level * (1.0 + 0.2 * shade)
    value += 35.0 * _clip01(shade - 0.6)
    lip = _coverage(1.0 + LIP_WIDTH - r, k)
    value += (look.dial_level * (0.62 + 0.15 * facing) - value) * (look.lip * lip)
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
    value = look.floor_mean + look.floor_spread * _sample_floor(look, a, b)
    contact = _clip01((1 + look.bezel_width + 0.14 - r) * 7.0)
    value *= 1.0 - 0.3 * contact
    return value


def _render_float(hour: float, minute: float, pose: Pose, look: Look) -> np.ndarray:
    """The scene in float grey levels, before the camera's blur, tone and noise."""
    cam = camera(pose)
    k = cam.pixels_per_r
    rays = _Rays(cam, RENDER_SIZE)
    outer = 1.0 + look.bezel_width
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
    return value


def downsample(image150: np.ndarray) -> np.ndarray:
    """150x150 -> 75x75 by 2x2 area mean, rounding halves up, as the course's 75 px set was made."""
    return area_downsample(image150, 2)


def render_clock(hour: float, minute: float, pose: Pose, look: Look | None = None, size: int = RENDER_SIZE,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """One clock image (size x size uint8) for a given time, pose and look.

    look=None uses NEUTRAL_LOOK (no glare, no blur, no noise). Sensor noise is drawn from `rng` when the look
    asks for it (a fixed generator if rng is None).
    """
    check_size(size)
    look = NEUTRAL_LOOK if look is None else look
    scene = _render_float(hour, minute, pose, look)
    image = photograph(scene, look.blur, look.stretch, look.gamma, look.noise_sigma, look.jpeg_quality, rng)
    return image if size == RENDER_SIZE else downsample(image)


def pose_rotations(seed: int, indices) -> np.ndarray:
    """The in-plane rotation (degrees, clockwise, 0 = 12 at the top) of images `indices` of a seeded set, whatever
    its style, without rendering them: each image's rotation is the first draw of its own generator."""
    return np.array([draw_rotation(np.random.default_rng([seed, int(i)])) for i in np.ravel(indices)])


def _render_indexed(hour: float, minute: float, seed: int, index: int, size: int,
                    style: Style) -> tuple[np.ndarray, tuple[str, ...]]:
    rng = np.random.default_rng([seed, index])
    pose = sample_pose(rng, style)
    look = sample_look(rng, pose, style)
    return render_clock(hour, minute, pose, look, size=size, rng=rng), (pose.framing, *look.families)


def render_random(hour: float, minute: float, seed: int, index: int, size: int = RENDER_SIZE,
                  style: Style | str | None = None) -> np.ndarray:
    """The image number `index` of a seeded set: pose, look and noise all come from (seed, index) and the style."""
    return _render_indexed(hour, minute, seed, index, size, parse_style(style))[0]


# ====================================================================================
# Batches
# ====================================================================================

_SERIAL_BELOW = 64  # a pool costs more than it saves on a handful of images


def _render_chunk(job: tuple[np.ndarray, np.ndarray, np.ndarray, int, int, Style]) -> tuple[np.ndarray, np.ndarray]:
    hours, minutes, indices, size, seed, style = job
    out = np.empty((len(indices), size, size), dtype=np.uint8)
    codes = np.empty((len(indices), len(GROUPS)), dtype=np.uint8)
    for i, (h, m, idx) in enumerate(zip(hours, minutes, indices)):
        out[i], names = _render_indexed(float(h), float(m), seed, int(idx), size, style)
        codes[i] = family_codes(names)
    return out, codes


def _pool_context():
    # fork lets workers inherit the textures built in the parent; elsewhere they build their own.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _default_signals() -> None:
    # The pool stops its workers with SIGTERM when it closes; a handler inherited from the parent (the command
    # line's, which turns SIGTERM into KeyboardInterrupt) would make each print a traceback.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def render_batch(hours: np.ndarray, minutes: np.ndarray, size: int = RENDER_SIZE, seed: int = 0,
                 workers: int | None = None, style: Style | str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, size, size) uint8 for the given times, and the style family each came from in each group
    (N, len(GROUPS)) as names, in GROUPS' order.

    Image i depends only on (seed, i, hours[i], minutes[i], style), never on `workers`.
    """
    check_size(size)
    style = parse_style(style)
    hours, minutes = np.asarray(hours).ravel(), np.asarray(minutes).ravel()
    if hours.shape != minutes.shape:
        raise ValueError(f"hours and minutes differ in length: {hours.shape[0]} vs {minutes.shape[0]}")
    count = hours.shape[0]
    indices = np.arange(count)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    warm_up(style)
    # A daemonic process (say, a data-loader worker) may not start a pool of its own.
    if workers == 1 or count < _SERIAL_BELOW or multiprocessing.current_process().daemon:
        images, codes = _render_chunk((hours, minutes, indices, size, seed, style))
        return images, family_names(codes)
    chunk = int(min(400, max(16, math.ceil(count / (workers * 6)))))
    jobs = [(hours[s:s + chunk], minutes[s:s + chunk], indices[s:s + chunk], size, seed, style)
            for s in range(0, count, chunk)]
    images = np.empty((count, size, size), dtype=np.uint8)
    codes = np.empty((count, len(GROUPS)), dtype=np.uint8)
    with _pool_context().Pool(min(workers, len(jobs)), initializer=_default_signals) as pool:
        for start, (block, block_codes) in zip(range(0, count, chunk), pool.imap(_render_chunk, jobs)):
            images[start:start + len(block)] = block
            codes[start:start + len(block)] = block_codes
    return images, family_names(codes)


def render_times(hours: np.ndarray, minutes: np.ndarray, size: int = RENDER_SIZE, seed: int = 0,
                 workers: int | None = None, style: Style | str | None = None) -> np.ndarray:
    """Images (N, size, size) uint8 for arbitrary given times (e.g. extra training data on the fly).

    Image i depends only on (seed, i, hours[i], minutes[i], style), never on `workers`.
    """
    return render_batch(hours, minutes, size=size, seed=seed, workers=workers, style=style)[0]


def clock_labels(count: int = 18000) -> np.ndarray:
    """Labels (count, 2) int64 [hour, minute], sorted from 0:00 to 11:59, spread as evenly as possible."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    minute_of_dial = (np.arange(count, dtype=np.int64) * MINUTES_ON_DIAL) // count
    return np.stack([minute_of_dial // 60, minute_of_dial % 60], axis=1)


def render_clocks(count: int = 18000, size: int = RENDER_SIZE, seed: int = 0, workers: int | None = None,
                  style: Style | str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The course's format: images (count, size, size) uint8, labels (count, 2) int64 [hour 0-11, minute 0-59],
    sorted by time from 0:00 to 11:59 with count/720 images per minute (when count is not a multiple of 720,
    spread times as evenly as possible, still sorted).

    `style` keeps or leaves out families of looks (clock_styles.py); `style=withheld(s)` renders only what the
    style `s` leaves out, a test set for a model trained on `s`."""
    check_size(size)
    labels = clock_labels(count)
    return render_times(labels[:, 0], labels[:, 1], size=size, seed=seed, workers=workers, style=style), labels
