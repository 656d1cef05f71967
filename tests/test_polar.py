"""The polar reader: the image unwrapped around its centre, where a turn of the clock is a shift along the angle;
readings that no turn changes; a perfect reading decoded to the labelled time; the `clock` step trains it from a
folder's labels alone and logs a reader that loads back and reads images."""
from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

ANGLES = 32


def unwrapped(images: np.ndarray, radii: int = 8, angles: int = ANGLES) -> np.ndarray:
    """Grey images (N, S, S) as the Unwrap layer reads them: (N, radii, angles)."""
    from models.polar_reader import Unwrap

    return Unwrap(images.shape[1], radii, angles)(images[..., None].astype(np.float32)).numpy()[..., 0]


def test_angle_zero_points_up_and_the_angles_run_clockwise():
    image = np.zeros((1, 41, 41), np.float32)
    image[0, :20, 20] = 1.0       # a hand from the centre to 12 o'clock
    image[0, 20, 21:] = 0.5       # a fainter one to 3 o'clock
    profile = unwrapped(image).sum(axis=1)[0]
    assert profile.argmax() == 0 and np.argsort(profile)[-2] == ANGLES // 4


def test_a_quarter_turn_of_the_image_shifts_the_unwrapped_image_by_a_quarter_of_the_angles():
    images = np.random.default_rng(0).random((3, 75, 75)).astype(np.float32)
    # np.rot90 turns the picture anticlockwise as seen: what was at angle a + A/4 is now at angle a.
    turned = unwrapped(np.rot90(images, 1, axes=(1, 2)))
    np.testing.assert_allclose(turned, np.roll(unwrapped(images), -ANGLES // 4, axis=2), atol=1e-5)
    assert not np.allclose(turned, unwrapped(images), atol=1e-2)


def perfect_outputs(minutes: np.ndarray, angles: int, seed: int = 0) -> np.ndarray:
    """The reader's output when it sees the 12 at a random angle and each hand exactly where the time puts it from
    there: scores that are the log of those distributions, through the reader's own last layer."""
    from models.polar_reader import AnglesApart, soft_target

    rng = np.random.default_rng(seed)
    twelve = rng.integers(0, angles, len(minutes))
    where = {turns: soft_target((twelve / angles + minutes * turns / 720).astype(np.float32), angles).numpy()
             for turns in (12, 1)}   # the minute hand, the hour hand
    distributions = np.stack([where[12], where[1], np.eye(angles)[twelve]], axis=-1)
    return AnglesApart()(np.log(distributions + 1e-12).astype(np.float32)).numpy()


def test_a_perfect_reading_decodes_to_the_labelled_time_and_has_the_lowest_loss():
    from models.common_sense_error import common_sense_error
    from models.polar_reader import PolarReader
    from models.time_heads import HeadSpec, decode, loss_function, to_whole_minutes

    spec = HeadSpec("polar")
    minutes = np.arange(720, dtype=np.float32)
    outputs = perfect_outputs(minutes, PolarReader().angles)
    read = decode(spec, outputs).numpy()
    assert read.min() >= 0 and read.max() < 720
    assert common_sense_error(to_whole_minutes(read).numpy(), minutes).max() == 0
    loss = loss_function(spec)
    right = loss(minutes, outputs).numpy()
    # A minute moves the minute hand by two of the reader's angle bins: no wrong time shares its bins.
    for wrong in (minutes + 1, minutes + 60, minutes + 359):
        assert (right < loss(np.mod(wrong, 720), outputs).numpy()).all()


def test_the_angles_apart_do_not_change_when_the_three_score_maps_turn_together():
    from models.polar_reader import AnglesApart

    scores = np.random.default_rng(1).normal(size=(4, ANGLES, 3)).astype(np.float32) * 3
    apart = AnglesApart()(scores).numpy()
    np.testing.assert_allclose(AnglesApart()(np.roll(scores, 11, axis=1)).numpy(), apart, atol=1e-6)
    np.testing.assert_allclose(apart.reshape(4, 3, ANGLES).sum(axis=-1), 1.0, atol=1e-5)
    hour_alone = scores.copy()
    hour_alone[..., 1] = np.roll(scores[..., 1], 11, axis=1)   # one hand moved: its angles apart move
    assert not np.allclose(AnglesApart()(hour_alone).numpy(), apart, atol=1e-3)


def test_the_clock_step_trains_a_polar_reader_from_a_folder_s_labels_and_logs_one_that_reads_images(store,
                                                                                                 clock_dir):
    from pipeline.steps import clock

    clock.main(["--head", "polar", "--source", str(clock_dir), "--profile", "smoke", "--register", "true"])
    client = mlflow.MlflowClient()
    (run,) = client.search_runs([store])
    params, tags = run.data.params, run.data.tags
    assert params["head"] == "polar" and params["representation"] == "polar" and params["backbone"] == "none"
    assert params["dial_supervision"] == "false" and params["augment"] == "false"
    assert params["polar.angles"] == "128" and "backbone.widths" not in params
    assert len(client.get_metric_history(run.info.run_id, "val_cse")) == 1  # one per epoch
    assert {"loss", "cse", "val_cse", "test_cse_mean"} <= set(run.data.metrics)
    assert not [name for name in run.data.metrics if "dial" in name]
    assert tags["training_data"].endswith("labels only), from scratch")
    reader = mlflow.pyfunc.load_model(f"models:/clock-reader/{tags['registered_version']}")
    network = reader.unwrap_python_model().network
    assert len(network.outputs) == 1 and tuple(network.output.shape) == (None, 3 * 128)
    assert network.get_layer("polar").get_layer("unwrap").angles == 128
    images = np.load(clock_dir / "images.npy")[:3]
    read = reader.predict(images)
    assert isinstance(read, pd.DataFrame) and list(read.columns) == ["hour", "minute", "time"] and len(read) == 3
    assert read["hour"].between(0, 11).all() and read["minute"].between(0, 59).all()


def test_a_backbone_for_the_polar_reader_stops_the_clock_step_in_one_line_before_data_or_runs(store, tmp_path,
                                                                                          capsys):
    from pipeline import config
    from pipeline.steps import clock

    before = len(mlflow.search_runs(search_all_experiments=True))
    with pytest.raises(SystemExit) as stop:
        clock.main(["--head", "polar", "--profile", "smoke", "--backbone", "models:/clock-backbone/1"])
    assert stop.value.code == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(error) == 1 and error[0].startswith("error: head polar") and "does not apply" in error[0], error
    # Refused unread: the URI names no model in this store, and the check comes before it is looked up.
    assert "models:/clock-backbone/1" in error[0] and "not found" not in error[0]
    assert len(mlflow.search_runs(search_all_experiments=True)) == before
    assert not config.DATA_DIR.exists()
