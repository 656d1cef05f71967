"""Where the rendered clock is and where its parts project: the clock's shape, its pose, and a pinhole camera.

Conventions: dial coordinates (a, b) are in units of the dial radius R, a towards 3 o'clock and b towards
6 o'clock; "height" is towards the viewer. Pixel coordinates (x, y) put pixel centres on integers, x to the
right and y down. Every output pixel is a camera ray; one 3x3 matrix turns pixel coordinates into ray
directions in the clock's own frame (see clock_renderer.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.datasets.clock_styles import ALL, Style, draw, factors

RENDER_SIZE = 150
SUPPORTED_SIZES = (150, 75)

# --- Clock geometry, in units of the dial radius R ---------------------------------
BEZEL_WIDTH = 0.18  # the course's bezel: sets how large a clock of a given `scale` is (a style may vary the bezel)
BEZEL_HEIGHT = 0.10  # bezel top above the dial: gives the inner-wall crescent when tilted
CASE_DEPTH = 0.09  # dial down to the surface the clock lies on: the case's side wall
HAND_HEIGHT = 0.03  # hands float above the dial, so they cast a small shadow
LIP_WIDTH = 0.022  # ring at the inner edge of the bezel
MINUTE_HAND = (0.80, 0.048)  # length, width (a style scales the width)
HOUR_HAND = (0.66, 0.068)  # nearly as long as the minute hand; width is the clearer cue

# Camera distance in R for a clock filling the frame; smaller views are further away (a fixed lens),
# so perspective stays mild, as in the course images (about a 17 degree field of view).
DISTANCE_AT_FULL_FRAME = 7.5


@dataclass(frozen=True)
class Pose:
    """Where the clock sits relative to the camera.

    rotation: in-plane turn of the clock in degrees, clockwise as seen (0 = 12 at top).
    tilt: angle between the dial's normal and the line of sight, in degrees.
    tilt_direction: image direction (degrees, 0 = +x, clockwise since y points down) of
        the axis the dial is tilted about.
    scale: the clock's outer diameter (with the course's bezel) as a fraction of the frame, before tilt.
    offset: (dx, dy) of the dial centre from the frame centre, as fractions of the frame.
    distance: camera distance in dial radii; smaller means stronger perspective.
    framing: the style family the pose was drawn from.
    """

    rotation: float = 0.0
    tilt: float = 0.0
    tilt_direction: float = 0.0
    scale: float = 0.85
    offset: tuple[float, float] = (0.0, 0.0)
    distance: float = 6.0
    framing: str = "course_framing"


def check_size(size: int) -> None:
    """Refuse image sizes the renderer does not make."""
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
class Camera:
    """A pinhole camera looking at the clock in one pose."""
    rotation: np.ndarray  # clock -> camera
    centre: np.ndarray  # dial centre in camera coordinates
    focal: float
    principal: float
    pixels_per_r: float
    ray_matrix: np.ndarray  # pixel (x, y, 1) -> ray direction in the clock frame
    origin: np.ndarray  # camera position in the clock frame


def camera(pose: Pose, size: int = RENDER_SIZE) -> Camera:
    """The camera that shows the clock in `pose` on a size x size image."""
    rot = _rotation(pose)
    pixels_per_r = pose.scale * size / 2 / (1 + BEZEL_WIDTH)
    focal = pixels_per_r * pose.distance
    principal = (size - 1) / 2
    centre = np.array([pose.offset[0] * size * pose.distance / focal,
                       pose.offset[1] * size * pose.distance / focal, pose.distance])
    k_inv = np.array([[1 / focal, 0, -principal / focal], [0, 1 / focal, -principal / focal], [0, 0, 1.0]])
    return Camera(rot, centre, focal, principal, pixels_per_r, rot.T @ k_inv, -rot.T @ centre)


def pixel_to_dial(cam: Camera, x: float, y: float, height: float) -> tuple[float, float]:
    """Dial coordinates where the ray through pixel (x, y) meets the plane `height` R above the dial."""
    d = cam.ray_matrix @ np.array([x, y, 1.0])
    t = (-height - cam.origin[2]) / d[2]
    return float(cam.origin[0] + t * d[0]), float(cam.origin[1] + t * d[1])


def project_points(pose: Pose, a, b, height: float = 0.0, size: int = RENDER_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (x, y) at `size` of dial points (a, b) lying `height` R above the dial.

    Uses the same camera as the renderer; at 75 px it follows the 2x2 area downsampling.
    """
    check_size(size)
    cam = camera(pose, RENDER_SIZE)
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


def draw_rotation(rng: np.random.Generator) -> float:
    """The clock's in-plane turn, uniform over the full circle: always a pose's first draw, so the rotation of a
    seeded image can be recovered without rendering it, whatever the style."""
    return float(rng.uniform(0.0, 360.0))


def sample_pose(rng: np.random.Generator, style: Style = ALL) -> Pose:
    """A pose from one of the style's framing families.

    Rotation is uniform over 360 degrees; the tilt makes the dial's axis ratio follow the family's range, in any
    direction; the centre wanders uniformly over a disc of radius `max_offset`; the scale follows its range, and
    smaller views are further away (a fixed lens), with some jitter in the distance.
    """
    rotation = draw_rotation(rng)
    family = style.choose(rng, "framing")
    table = factors(family)
    tilt = math.degrees(math.acos(min(1.0, draw(table["axis_ratio"], rng))))
    tilt_direction = rng.uniform(0.0, 360.0)
    scale = draw(table["scale"], rng)
    radius, angle = table["max_offset"] * math.sqrt(rng.uniform()), rng.uniform(0.0, 2 * math.pi)
    distance = DISTANCE_AT_FULL_FRAME / scale * draw(table["distance_jitter"], rng)
    return Pose(rotation, tilt, tilt_direction, scale,
                (radius * math.cos(angle), radius * math.sin(angle)), distance, family.name)
