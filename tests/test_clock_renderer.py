"""The synthetic clock renderer: course format, determinism, geometry that matches the pixels, pose coverage."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.datasets import clock_renderer as cr
from pipeline.datasets import clock_styles as styles
from pipeline.datasets.clock_photo import photograph
from pipeline.datasets.clock_renderer import (
    MINUTES_ON_DIAL,
    NEUTRAL_LOOK,
    Pose,
    clock_labels,
    downsample,
    hand_tips,
    parse_style,
    project_points,
    render_clock,
    render_clocks,
    render_times,
    sample_look,
    sample_pose,
)
from pipeline.errors import InputError

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
    radius = cr.camera(pose).pixels_per_r
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
        radius = 0.12 * cr.camera(pose).pixels_per_r
        window = image[(xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2]
        # Ink is what is darker than the local paper, which shading makes vary.
        return float(np.sum(np.maximum(0.0, np.percentile(window, 90) - window)))

    assert ink(330) > 1.3 * ink(30)


def test_glare_can_wash_out_a_hand():
    pose = Pose(scale=0.95)
    tip = (cr.HOUR_HAND[0] * 0.85 * math.sin(math.radians(90)), 0.0)  # 3:00, hour hand points at 3
    washed = render_clock(3, 0, pose, cr.Look(glare=(tip[0], tip[1], 0.15, 1.4, 0.4)))
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


@pytest.fixture(scope="module")
def course_poses():
    """Poses of the course-like framing family alone: the course's own ranges."""
    style = parse_style("course_framing")
    return [sample_pose(np.random.default_rng([0, i]), style) for i in range(1500)]


def test_rotation_covers_the_full_circle(poses):
    rotations = np.array([p.rotation for p in poses])
    assert rotations.min() >= 0 and rotations.max() < 360
    counts = np.histogram(rotations, bins=36, range=(0, 360))[0]
    assert counts.min() > 0.5 * counts.mean()


def test_tilt_gives_axis_ratios_down_to_about_0_65_in_every_direction(course_poses, poses):
    ratios = np.array([_axis_ratio(p) for p in course_poses[:400]])
    assert 0.58 < ratios.min() < 0.68
    assert ratios.max() > 0.97
    assert np.mean(ratios < 0.8) > 0.25  # oblique views are common, not rare
    directions = np.array([p.tilt_direction for p in poses])
    assert np.histogram(directions, bins=12, range=(0, 360))[0].min() > 0
    # The wide framing family tilts further still.
    wide = [p for p in poses if p.framing == "wide_framing"][:300]
    assert min(_axis_ratio(p) for p in wide) < 0.56


def test_scale_and_offset_cover_their_ranges(course_poses, poses):
    scales = np.array([p.scale for p in poses])
    assert scales.min() < 0.55 and scales.max() > 1.25
    course = np.array([p.offset for p in course_poses])
    assert np.hypot(course[:, 0], course[:, 1]).max() <= 0.13 + 1e-9
    for axis in (0, 1):
        assert course[:, axis].min() < -0.11 and course[:, axis].max() > 0.11
    offsets = np.array([p.offset for p in poses])
    assert 0.15 < np.hypot(offsets[:, 0], offsets[:, 1]).max() <= 0.2 + 1e-9


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


def test_looks_have_glare_on_nearly_half_from_spots_to_broad_washes():
    rng = np.random.default_rng(5)
    looks = [sample_look(rng, sample_pose(rng)) for _ in range(600)]
    glares = [look.glare for look in looks if look.glare is not None]
    assert 0.35 < len(glares) / len(looks) < 0.55
    radii = np.array([glare[2] for glare in glares])
    assert radii.min() < 0.12 and radii.max() > 0.5


def test_floor_is_darker_than_the_dial_and_brighter_than_the_hands():
    images, _ = render_clocks(count=24, size=150, seed=11, workers=1)
    corners = np.concatenate([images[:, :12, :12], images[:, :12, -12:], images[:, -12:, :12], images[:, -12:, -12:]], axis=1)
    assert 80 < np.median(corners) < 125 and 20 < corners.std() < 50
    centre = images[:, 55:95, 55:95]
    assert np.median(centre) > 180


# ----------------------------------------------------------------------------------------
# Styles: families left out, kept, withheld, recorded
# ----------------------------------------------------------------------------------------

def _drawn_families(style, count: int = 400) -> set[str]:
    """The families `count` seeded images of a style draw, without rendering them."""
    style = parse_style(style)
    seen = set()
    for i in range(count):
        rng = np.random.default_rng([0, i])
        pose = sample_pose(rng, style)
        seen |= {pose.framing, *sample_look(rng, pose, style).families}
    return seen


def test_the_default_style_draws_every_family():
    assert _drawn_families("all") == set(styles.BY_NAME)


def test_a_family_left_out_is_never_drawn_and_the_rest_still_are():
    seen = _drawn_families("-wood,-thin_hands")
    assert "wood" not in seen and "thin_hands" not in seen
    assert seen == set(styles.BY_NAME) - {"wood", "thin_hands"}


def test_a_named_family_is_the_only_one_of_its_group_and_other_groups_keep_all():
    seen = _drawn_families("wood,wash_glare")
    assert {f.name for f in styles.FAMILIES if f.group in ("floor", "glare")} & seen == {"wood", "wash_glare"}
    assert {f.name for f in styles.GROUP_FAMILIES["dial"]} <= seen


def test_withheld_renders_only_what_a_style_leaves_out():
    withheld = cr.withheld("-wood,-thin_hands")
    assert withheld.in_group("floor") == (styles.BY_NAME["wood"],)
    assert withheld.in_group("hands") == (styles.BY_NAME["thin_hands"],)
    assert withheld.in_group("dial") == styles.GROUP_FAMILIES["dial"]
    images, families = cr.render_batch(np.array([1, 2, 3]), np.array([4, 5, 6]), size=75, seed=0, workers=1,
                                       style=withheld)
    assert images.shape == (3, 75, 75)
    assert set(families[:, styles.GROUPS.index("floor")]) == {"wood"}
    assert set(families[:, styles.GROUPS.index("hands")]) == {"thin_hands"}


def test_each_image_records_the_family_it_came_from_in_each_group():
    images, families = cr.render_batch(np.zeros(cr._SERIAL_BELOW + 4), np.zeros(cr._SERIAL_BELOW + 4), size=75,
                                       seed=2, workers=2, style="-mat")
    assert families.shape == (len(images), len(styles.GROUPS))
    for column, group in enumerate(styles.GROUPS):
        assert all(styles.BY_NAME[name].group == group for name in families[:, column])
    assert "mat" not in families
    # The record is the one a single render draws: image 5 re-rendered alone has the same families.
    _, alone = cr._render_indexed(0.0, 0.0, 2, 5, 75, parse_style("-mat"))
    assert tuple(families[5]) == alone


@pytest.mark.parametrize("text, problem", [
    ("woood", "unknown family 'woood'"),
    ("-wood,-mat,-paper,-photo", "leaves no floor family"),
    ("  ,", "style is empty"),
    ("wood,-wood", "leaves no floor family"),
])
def test_bad_styles_are_refused_naming_the_problem(text, problem):
    with pytest.raises(InputError, match=problem):
        parse_style(text)


def test_a_style_has_one_canonical_text():
    assert parse_style("all").text == "all"
    assert parse_style(" -thin_hands , -wood ").text == "-thin_hands,-wood"
    assert parse_style("wood").text == "-mat,-paper,-photo"
    assert parse_style(parse_style("-wood").text) == parse_style("-wood")


def test_a_style_changes_the_images_but_not_their_rotations_and_a_seed_repeats_them():
    hours, minutes = np.array([1, 5, 9]), np.array([0, 20, 40])
    plain = render_times(hours, minutes, size=75, seed=4, workers=1)
    styled = render_times(hours, minutes, size=75, seed=4, workers=1, style="photo,noisy_camera")
    again = render_times(hours, minutes, size=75, seed=4, workers=1, style="photo,noisy_camera")
    np.testing.assert_array_equal(styled, again)
    assert all(np.mean(np.abs(plain[i].astype(int) - styled[i].astype(int))) > 3 for i in range(3))
    for style in ("all", "wide_framing", "-course_framing,-wood"):
        rotations = [sample_pose(np.random.default_rng([4, i]), parse_style(style)).rotation for i in range(3)]
        np.testing.assert_allclose(rotations, cr.pose_rotations(4, range(3)))


def test_every_family_renders():
    for family in styles.FAMILIES:
        image = cr.render_random(2, 50, 0, 1, style=styles.keep_only("all", family.name))
        assert image.shape == (150, 150) and image.max() > 150 and image.std() > 20, family.name


def test_the_command_line_refuses_a_bad_style_with_one_line_and_exit_2(capsys, tmp_path):
    from pipeline.steps import render_clocks as step

    for style in ("woood", "-wood,-mat,-paper,-photo"):
        with pytest.raises(SystemExit) as stopped:
            step.main(["--count", "3", "--out-dir", str(tmp_path / "out"), f"--style={style}"])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: style")
    assert not (tmp_path / "out").exists()


def test_the_step_writes_the_family_record_and_logs_the_style(store, tmp_path):
    import mlflow

    from pipeline.steps.render_clocks import FAMILIES_FILE, render_to_folder

    folder = render_to_folder(12, 150, 0, tmp_path / "out", style="-wood,-thin_hands")
    families = np.load(folder / FAMILIES_FILE)
    assert families.shape == (12, len(styles.GROUPS)) and "wood" not in families and "thin_hands" not in families
    run = mlflow.search_runs(experiment_ids=[store], output_format="list")[0]
    assert run.data.params["style"] == "-thin_hands,-wood"
    assert sum(v for k, v in run.data.metrics.items() if k in {"family.mat", "family.paper", "family.photo"}) == 12


# ----------------------------------------------------------------------------------------
# Camera effects and realism statistics
# ----------------------------------------------------------------------------------------

def test_the_camera_blurs_stretches_and_adds_noise_and_jpeg():
    scene = np.full((150, 150), 100.0, dtype=np.float32)
    scene[:, 75:] = 150.0
    sharp = photograph(scene, 0.0, 0.0, 1.0, 0.0, 0, None)
    assert set(np.unique(sharp)) == {100, 150}
    blurred = photograph(scene, 2.0, 0.0, 1.0, 0.0, 0, None)
    assert len(np.unique(blurred[75])) > 4  # the step became a ramp
    stretched = photograph(scene, 0.0, 1.0, 1.0, 0.0, 0, None)
    assert stretched.min() == 0 and stretched.max() == 255
    noisy = photograph(scene, 0.0, 0.0, 1.0, 5.0, 0, np.random.default_rng(0))
    assert 4 < float(np.std(noisy[:, :75])) < 6
    assert not np.array_equal(photograph(scene + np.arange(150) % 7 * 9, 0.0, 0.0, 1.0, 0.0, 20, None),
                              photograph(scene + np.arange(150) % 7 * 9, 0.0, 0.0, 1.0, 0.0, 0, None))


def test_realism_statistics_measure_what_they_name():
    from pipeline.datasets.clock_realism import image_statistics

    flat = np.full((150, 150), 200, dtype=np.uint8)
    hands = flat.copy()
    hands[70:80, 40:110] = 30  # a dark bar across the hub
    floor = flat.copy()
    floor[:16, :16] = 100  # one corner differs from the other three
    stats = image_statistics(np.stack([flat, hands, floor]))
    assert stats["hand_darkness"][0] == 200 and stats["hand_darkness"][1] == 30
    assert stats["edge_density"][0] == 0 and stats["edge_density"][1] > 0
    assert stats["floor_contrast"][0] == 0 and stats["floor_contrast"][2] > 40
    assert stats["mean"][1] < stats["mean"][0] and stats["contrast"][0] == 0
