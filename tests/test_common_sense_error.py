"""The common-sense error and the label representations' decodings."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.common_sense_error import common_sense_error, minutes_on_dial
from models.time_heads import (
    HeadSpec,
    cse_metric,
    decode,
    loss_function,
    to_whole_minutes,
)

times = st.integers(min_value=0, max_value=719)


def test_examples_from_the_assignment():
    assert common_sense_error(minutes_on_dial(11, 55), minutes_on_dial(0, 5)) == 10
    assert common_sense_error(minutes_on_dial(0, 0), minutes_on_dial(6, 0)) == 360
    assert common_sense_error(minutes_on_dial(3, 0), minutes_on_dial(3, 1)) == 1


@given(times, times)
def test_symmetric(a, b):
    assert common_sense_error(a, b) == common_sense_error(b, a)


@given(times, times)
def test_between_0_and_360(a, b):
    assert 0 <= common_sense_error(a, b) <= 360


@given(times, times, st.integers(min_value=-5, max_value=5))
def test_adding_12_hours_changes_nothing(a, b, turns):
    assert common_sense_error(a + 720 * turns, b) == common_sense_error(a, b)


@given(times, times)
def test_zero_only_on_equal_times(a, b):
    assert (common_sense_error(a, b) == 0) == (a == b)


@given(st.lists(st.tuples(times, times), min_size=1, max_size=50))
def test_arrays_agree_with_scalars(pairs):
    a, b = map(np.array, zip(*pairs))
    assert list(common_sense_error(a, b)) == [common_sense_error(x, y) for x, y in pairs]


def perfect_output(spec: HeadSpec, minutes: np.ndarray) -> np.ndarray:
    """What a flawless head would output for these true times."""
    hours_fraction, minute_fraction = minutes / 720, (minutes % 60) / 60
    if spec.head == "classification":
        return np.eye(spec.n_classes)[minutes // (720 // spec.n_classes)]
    if spec.head == "regression":
        return (minutes / 60)[:, None]
    if spec.head == "multihead":
        hour = np.eye(12)[minutes // 60]
        if spec.minute_head == "regression":
            return np.concatenate([hour, minute_fraction[:, None]], axis=1)
        angle = 2 * math.pi * minute_fraction
        return np.concatenate([hour, np.sin(angle)[:, None], np.cos(angle)[:, None]], axis=1)
    columns = [np.sin(2 * math.pi * hours_fraction), np.cos(2 * math.pi * hours_fraction)]
    if spec.hands == "both":
        columns += [np.sin(2 * math.pi * minute_fraction), np.cos(2 * math.pi * minute_fraction)]
    return np.stack(columns, axis=1)


SPECS = [HeadSpec("classification", n_classes=n) for n in (24, 72, 144, 360, 720)] + [
    HeadSpec("regression", loss=loss) for loss in ("mae", "mse", "circular")] + [
    HeadSpec("multihead", minute_head=m) for m in ("regression", "periodic")] + [
    HeadSpec("periodic", hands="hour"), HeadSpec("periodic", decoding="consistent"),
    HeadSpec("periodic", decoding="independent")]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label)
def test_a_perfect_output_decodes_to_the_true_time(spec):
    minutes = np.arange(720)
    decoded = np.asarray(decode(spec, perfect_output(spec, minutes).astype("float32")))
    error = common_sense_error(decoded, minutes)
    # Classification can only name its bin's centre; everything else reads the exact minute.
    allowed = 720 / spec.n_classes / 2 if spec.head == "classification" else 1e-3
    assert error.max() <= allowed + 1e-3


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label)
def test_the_loss_is_smallest_at_the_truth(spec):
    minutes = np.array([0, 59, 61, 359, 719], dtype="float32")
    truth = perfect_output(spec, minutes.astype(int)).astype("float32")
    # Clip one-hot rows away from 0 for cross-entropy; shift everything else by a visible amount.
    wrong = perfect_output(spec, ((minutes + 200) % 720).astype(int)).astype("float32")
    loss = loss_function(spec)
    assert float(np.mean(loss(minutes, truth))) < float(np.mean(loss(minutes, wrong)))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label)
def test_the_loss_and_metric_give_the_same_values_traced(spec):
    # Keras traces them into tf.function graphs; the smoke profile trains clock models eagerly, so check here.
    import tensorflow as tf

    minutes = np.array([0, 59, 61, 359, 719], dtype="float32")
    outputs = perfect_output(spec, ((minutes + 37) % 720).astype(int)).astype("float32")
    loss = loss_function(spec)
    traced = tf.function(lambda y, p: loss(y, p))(tf.constant(minutes), tf.constant(outputs))
    np.testing.assert_allclose(np.asarray(traced), np.asarray(loss(minutes, outputs)), rtol=1e-5, atol=1e-6)
    eager, graph = cse_metric(spec), cse_metric(spec)
    eager.update_state(minutes, outputs)

    @tf.function
    def measured(y, p):
        graph.update_state(y, p)
        return graph.result()

    assert float(measured(tf.constant(minutes), tf.constant(outputs))) == pytest.approx(float(eager.result()))
    assert float(eager.result()) > 0


def test_classification_decodes_to_the_centre_of_its_minutes_not_its_start():
    spec = HeadSpec("classification", n_classes=24)
    # Class 3 holds the whole minutes 90..119; their centre is 104.5.
    assert float(decode(spec, np.eye(24)[[3]].astype("float32"))[0]) == pytest.approx(3 * 30 + 14.5)


@pytest.mark.parametrize("n_classes", [24, 72, 144, 360, 720])
def test_a_perfect_classifier_read_to_the_minute_scores_the_least_error_its_classes_allow(n_classes):
    # With one minute per class the reading is exact: a bin centre of k + 0.5 rounded half to even read odd
    # classes as the next minute, and a perfect 720-class classifier scored 0.5 minutes.
    spec, width = HeadSpec("classification", n_classes=n_classes), 720 // n_classes
    minutes = np.arange(720)
    read = np.asarray(to_whole_minutes(decode(spec, perfect_output(spec, minutes).astype("float32"))))
    least = np.mean([abs(m - (width - 1) / 2) for m in range(width)])
    assert float(np.mean(common_sense_error(read, minutes))) == pytest.approx(least)
    if n_classes == 720:
        assert np.array_equal(read, minutes)


def test_the_consistent_decoding_fixes_the_hour_near_the_hour_change():
    # 2:58 with a slightly fast hour hand (it already points past 3:00) and an exact minute hand.
    hour_angle, minute_angle = 2 * math.pi * (181 / 720), 2 * math.pi * (58 / 60)
    output = np.array([[math.sin(hour_angle), math.cos(hour_angle), math.sin(minute_angle),
                        math.cos(minute_angle)]], dtype="float32")
    consistent = float(to_whole_minutes(decode(HeadSpec("periodic", decoding="consistent"), output))[0])
    independent = float(to_whole_minutes(decode(HeadSpec("periodic", decoding="independent"), output))[0])
    assert consistent == 2 * 60 + 58
    assert independent == 3 * 60 + 58


def test_regression_reads_across_twelve_oclock():
    spec = HeadSpec("regression", loss="circular")
    assert float(decode(spec, np.array([[-0.05]], "float32"))[0]) == pytest.approx(717)
    assert float(loss_function(spec)(np.array([719.0]), np.array([[0.05]], "float32"))[0]) == pytest.approx(
        4 / 60, abs=1e-5)


def test_the_keras_metric_is_the_mean_common_sense_error():
    spec = HeadSpec("classification", n_classes=720)
    minutes = np.array([0, 100, 700], dtype="float32")
    predicted = np.eye(720)[[5, 100, 10]].astype("float32")  # read as 0:05, 1:40, 0:10
    metric = cse_metric(spec)
    metric.update_state(minutes, predicted)
    expected = np.mean([5, 0, 30])  # 0:10 against 11:40 is 30 minutes round the dial
    assert float(metric.result()) == pytest.approx(expected)


def test_n_classes_must_divide_720():
    with pytest.raises(ValueError, match="divide 720"):
        HeadSpec("classification", n_classes=7)
