"""The synthetic clock renderer: course format, determinism, geometry that matches the pixels, pose coverage."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.datasets import clock_renderer as cr
from pipeline.datasets.clock_renderer import (
    MINUTES_ON_DIAL,
    NEUTRAL_LOOK,
    Pose,
    clock_labels,
    downsample,
    hand_tips,
    project_points,
    render_clock,
    render_clocks,
    render_times,
    sample_look,
    sample_pose,
)

# Poses the hand checks run on: plain, turned, strongly tilted, zoomed and off-centre, all at once.
KNOWN_POSES = [
    Pose(),
    Pose(rotation=137.0),
    Pose(rotation=250.0, tilt=49.0, tilt_direction=30.0),
    Pose(rotation=20.0, tilt=45.0, tilt_direction=115.0, scale=1.05, offset=(0.1, -0.08), distance=6.0),
    Pose(rotation=300.0, tilt=35.0, tilt_direction=250.0, scale=0.68, offset=(-0.12, 0.05)),
]
# Times whose mirrored or reversed hand positions lie far (> 40 degrees) from both real hands.
TIMES = [(4, 10), (8, 35), (2, 16)]


def _neighbourhood_min(image: np.ndarray, x: float, y: float) -> int:
    """Darkest pixel in the 3x3 block around (x, y): robust to the half-pixel rounding of a 2 px wide hand."""
    col, row = int(round(x)), int(round(y))
    return int(image[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2].min())


def _point_on_hand(pose: Pose, angle_deg: float, reach: float, size: int = 150) -> tuple[float, float]:
    rad = math.radians(angle_deg)
    x, y = project_points(pose, reach * math.sin(rad), -reach * math.cos(rad), height=cr.HAND_HEIGHT, size=size)
    return float(x), float(y)


def _signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _axis_ratio(pose: Pose) -> float:
    """Minor over major axis of the projected dial rim, from its narrowest and widest extents."""
    angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    x, y = project_points(pose, np.sin(angles), -np.cos(angles))
    directions = np.linspace(0, np.pi, 360, endpoint=False)
    extent = [np.ptp(x * math.cos(d) + y * math.sin(d)) for d in directions]
    return min(extent) / max(extent)


# ----------------------------------------------------------------------------------------
# Course format
# ----------------------------------------------------------------------------------------

def test_images_and_labels_have_the_course_format():
    images, labels = render_clocks(count=30, size=150, seed=0, workers=1)
    assert images.shape == (30, 150, 150) and images.dtype == np.uint8
    assert labels.shape == (30, 2) and labels.dtype == np.int64
    assert labels[:, 0].min() >= 0 and labels[:, 0].max() <= 11
    assert labels[:, 1].min() >= 0 and labels[:, 1].max() <= 59
    small, small_labels = render_clocks(count=5, size=75, seed=0, workers=1)
    assert small.shape == (5, 75, 75) and small.dtype == np.uint8
    np.testing.assert_array_equal(small_labels, clock_labels(5))
    # A clock, not a blank: bright dial, dark hands and bezel, mid-grey floor.
    assert images.max() > 200 and images.min() < 40


@pytest.mark.parametrize("count", [18000, 1440, 720])
def test_labels_are_sorted_with_count_over_720_per_minute(count):
    labels = clock_labels(count)
    minute_of_dial = labels[:, 0] * 60 + labels[:, 1]
    assert np.all(np.diff(minute_of_dial) >= 0)
    per_minute = np.bincount(minute_of_dial, minlength=MINUTES_ON_DIAL)
    assert per_minute.shape == (MINUTES_ON_DIAL,)
    assert np.all(per_minute == count // MINUTES_ON_DIAL)
    assert labels[0].tolist() == [0, 0] and labels[-1].tolist() == [11, 59]


@pytest.mark.parametrize("count", [1, 7, 1000, 2000])
def test_uneven_counts_spread_times_evenly_and_stay_sorted(count):
    labels = clock_labels(count)
    minute_of_dial = labels[:, 0] * 60 + labels[:, 1]
    assert len(labels) == count and np.all(np.diff(minute_of_dial) >= 0)
    per_minute = np.bincount(minute_of_dial, minlength=MINUTES_ON_DIAL)
    if count >= MINUTES_ON_DIAL:
        assert per_minute.max() - per_minute.min() <= 1
    else:
        assert per_minute.max() == 1
        # Gaps between shown minutes differ by at most one minute.
        gaps = np.diff(np.append(minute_of_dial, minute_of_dial[0] + MINUTES_ON_DIAL))
        assert gaps.max() - gaps.min() <= 1


def test_render_clocks_labels_match_clock_labels():
    _, labels = render_clocks(count=9, size=75, seed=1, workers=1)
    np.testing.assert_array_equal(labels, clock_labels(9))


# ----------------------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------------------

def test_same_seed_same_images_whatever_the_number_of_workers():
    count = cr._SERIAL_BELOW + 6  # enough that two workers really use a pool
    serial, labels_serial = render_clocks(count=count, size=75, seed=3, workers=1)
    pooled, labels_pooled = render_clocks(count=count, size=75, seed=3, workers=2)
    again, _ = render_clocks(count=count, size=75, seed=3, workers=2)
    np.testing.assert_array_equal(serial, pooled)
    np.testing.assert_array_equal(pooled, again)
    np.testing.assert_array_equal(labels_serial, labels_pooled)


def test_different_seeds_give_different_images():
    a, _ = render_clocks(count=6, size=75, seed=0, workers=1)
    b, _ = render_clocks(count=6, size=75, seed=1, workers=1)
    # Every image differs, not just one: each has its own pose and look.
    assert all(np.mean(np.abs(a[i].astype(int) - b[i].astype(int))) > 5 for i in range(6))


def test_images_within_a_set_differ():
    images, _ = render_clocks(count=6, size=75, seed=0, workers=1)
    assert len({img.tobytes() for img in images}) == 6


def test_render_times_renders_the_given_times():
    hours, minutes = np.array([3, 3, 9]), np.array([0, 0, 30])
    images = render_times(hours, minutes, size=150, seed=4, workers=1)
    assert images.shape == (3, 150, 150) and images.dtype == np.uint8
    # Same time, same seed: the index alone still gives each image its own pose.
    assert not np.array_equal(images[0], images[1])
    np.testing.assert_array_equal(images[2], cr.render_random(9, 30, 4, 2))
    with pytest.raises(ValueError):
        render_times(np.array([1, 2]), np.array([3]))


def test_75px_is_the_area_downsampled_150px_render():
    big, _ = render_clocks(count=4, size=150, seed=7, workers=1)
    small, _ = render_clocks(count=4, size=75, seed=7, workers=1)
    mean = big.reshape(4, 75, 2, 75, 2).astype(float).mean(axis=(2, 4))
    np.testing.assert_array_equal(small, np.floor(mean + 0.5).astype(np.uint8))
    np.testing.assert_array_equal(small, downsample(big))


@pytest.mark.parametrize("size", [0, 32, 74, 76, 149, 151, 300])
def test_unsupported_sizes_are_refused(size):
    with pytest.raises(ValueError):
        render_clocks(count=2, size=size)
    with pytest.raises(ValueError):
        render_times(np.array([1]), np.array([2]), size=size)
    with pytest.raises(ValueError):
        render_clock(1, 2, Pose(), size=size)


@pytest.mark.parametrize("count", [0, -5])
def test_counts_below_one_are_refused(count):
    with pytest.raises(ValueError):
        render_clocks(count=count)


# ----------------------------------------------------------------------------------------
# The pixels match the time
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("pose", KNOWN_POSES)
@pytest.mark.parametrize("hour,minute", TIMES)
def test_hands_are_dark_where_the_time_puts_them_and_only_there(pose, hour, minute):
    image = render_clock(hour, minute, pose, NEUTRAL_LOOK)
    tips = hand_tips(hour, minute, pose, fraction=0.85)
    assert _neighbourhood_min(image, *tips["hour"]) < 80
    assert _neighbourhood_min(image, *tips["minute"]) < 80
    hour_angle, minute_angle = cr.hand_angles(hour, minute)
    # Where a mirrored clock, or hands swapped end for end, would put them: plain dial
    # (probed at 0.7 of the length, inside the ring of numerals, which are dark too).
    for angle in (-hour_angle, -minute_angle, hour_angle + 180, minute_angle + 180):
        for length in (cr.HOUR_HAND[0], cr.MINUTE_HAND[0]):
            spot = _point_on_hand(pose, angle, 0.7 * length)
            assert _neighbourhood_min(image, *spot) > 130, (angle, length)


@pytest.mark.parametrize("pose", KNOWN_POSES[2:4])
def test_hands_also_show_at_75px(pose):
    image = render_clock(4, 10, pose, NEUTRAL_LOOK, size=75)
    tips = hand_tips(4, 10, pose, size=75, fraction=0.8)
    assert _neighbourhood_min(image, *tips["hour"]) < 110
    assert _neighbourhood_min(image, *tips["minute"]) < 110
    wrong = _point_on_hand(pose, 240.0, 0.7 * cr.MINUTE_HAND[0], size=75)
    assert _neighbourhood_min(image, *wrong) > 150


def test_hour_hand_creeps_with_the_minutes():
    pose = Pose(scale=1.0)
    assert cr.hand_angles(2, 30) == (75.0, 180.0)
    early, late = render_clock(2, 0, pose), render_clock(2, 50, pose)
    at_two_fifty = hand_tips(2, 50, pose, fraction=0.85)["hour"]
    assert _neighbourhood_min(late, *at_two_fifty) < 80
    assert _neighbourhood_min(early, *at_two_fifty) > 130


def test_hand_tips_are_near_the_tips_and_hands_differ_in_length():
    pose = Pose(scale=1.0)
    tips = hand_tips(3, 0, pose)
    centre = (149 / 2, 149 / 2)
    radius = cr._camera(pose).pixels_per_r
    minute_reach = math.dist(tips["minute"], centre) / radius
    hour_reach = math.dist(tips["hour"], centre) / radius
    assert 0.75 < minute_reach < 0.85 and 0.6 < hour_reach < 0.72
    assert tips["minute"][1] < centre[1] - 30  # 12 o'clock is up in the plain pose
    assert tips["hour"][0] > centre[0] + 30  # 3 o'clock is to the right


@pytest.mark.parametrize("pose", KNOWN_POSES)
def test_numerals_are_not_mirrored(pose):
    """'11' has twice the ink of '1': a mirrored dial would swap which side of 12 is darker."""
    image = render_clock(6, 30, pose, NEUTRAL_LOOK).astype(float)
    yy, xx = np.mgrid[0:150, 0:150]

    def ink(angle: float) -> float:
        rad = math.radians(angle)
        x, y = project_points(pose, cr.NUMERAL_RADIUS * math.sin(rad), -cr.NUMERAL_RADIUS * math.cos(rad))
        radius = 0.12 * cr._camera(pose).pixels_per_r
        window = image[(xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2]
        # Ink is what is darker than the local paper, which shading makes vary.
        return float(np.sum(np.maximum(0.0, np.percentile(window, 90) - window)))

    assert ink(330) > 1.3 * ink(30)


def test_glare_can_wash_out_a_hand():
    pose = Pose(scale=0.95)
    tip = (cr.HOUR_HAND[0] * 0.85 * math.sin(math.radians(90)), 0.0)  # 3:00, hour hand points at 3
    washed = render_clock(3, 0, pose, cr.Look(glare=(tip[0], tip[1], 0.15, 1.4)))
    clean = render_clock(3, 0, pose, NEUTRAL_LOOK)
    spot = hand_tips(3, 0, pose, fraction=0.85)["hour"]
    assert _neighbourhood_min(clean, *spot) < 80
    assert _neighbourhood_min(washed, *spot) > 200


# ----------------------------------------------------------------------------------------
# Poses and looks cover the course's range
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def poses():
    return [sample_pose(np.random.default_rng([0, i])) for i in range(3000)]


def test_rotation_covers_the_full_circle(poses):
    rotations = np.array([p.rotation for p in poses])
    assert rotations.min() >= 0 and rotations.max() < 360
    counts = np.histogram(rotations, bins=36, range=(0, 360))[0]
    assert counts.min() > 0.5 * counts.mean()


def test_tilt_gives_axis_ratios_down_to_about_0_65_in_every_direction(poses):
    ratios = np.array([_axis_ratio(p) for p in poses[:600]])
    assert 0.58 < ratios.min() < 0.68
    assert ratios.max() > 0.97
    assert np.mean(ratios < 0.8) > 0.25  # oblique views are common, not rare
    directions = np.array([p.tilt_direction for p in poses])
    assert np.histogram(directions, bins=12, range=(0, 360))[0].min() > 0


def test_scale_and_offset_cover_their_ranges(poses):
    scales = np.array([p.scale for p in poses])
    assert scales.min() < 0.67 and scales.max() > 1.05
    offsets = np.array([p.offset for p in poses])
    assert np.hypot(offsets[:, 0], offsets[:, 1]).max() <= cr.MAX_OFFSET + 1e-9
    for axis in (0, 1):
        assert offsets[:, axis].min() < -0.11 and offsets[:, axis].max() > 0.11


@settings(max_examples=200, deadline=None)
@given(rotation=st.floats(0, 360), tilt=st.floats(0, 50), tilt_direction=st.floats(0, 360),
       scale=st.floats(0.65, 1.08), dx=st.floats(-0.13, 0.13), dy=st.floats(-0.13, 0.13),
       distance=st.floats(6.0, 10.0))
def test_projection_keeps_time_running_clockwise(rotation, tilt, tilt_direction, scale, dx, dy, distance):
    pose = Pose(rotation, tilt, tilt_direction, scale, (dx, dy), distance)
    a, b = np.array([0.0, 1.0, 0.0, -1.0]), np.array([-1.0, 0.0, 1.0, 0.0])  # 12, 3, 6, 9
    x, y = project_points(pose, a, b)
    x0, y0 = project_points(Pose(), a, b)
    plain = _signed_area(np.stack([x0, y0], axis=1))
    assert plain > 0  # with y pointing down, clockwise on screen has positive area
    assert _signed_area(np.stack([x, y], axis=1)) * plain > 0


def test_sampled_poses_are_never_mirrored(poses):
    a, b = np.array([0.0, 1.0, 0.0]), np.array([-1.0, 0.0, 1.0])
    assert all(_signed_area(np.stack(project_points(p, a, b), axis=1)) > 0 for p in poses[:500])


def test_looks_have_glare_on_about_a_third():
    rng = np.random.default_rng(5)
    looks = [sample_look(rng, sample_pose(rng)) for _ in range(600)]
    share = np.mean([look.glare is not None for look in looks])
    assert 0.25 < share < 0.45


def test_floor_is_darker_than_the_dial_and_brighter_than_the_hands():
    images, _ = render_clocks(count=24, size=150, seed=11, workers=1)
    corners = np.concatenate([images[:, :12, :12], images[:, :12, -12:], images[:, -12:, :12], images[:, -12:, -12:]], axis=1)
    assert 80 < np.median(corners) < 125 and 20 < corners.std() < 50
    centre = images[:, 55:95, 55:95]
    assert np.median(centre) > 180
