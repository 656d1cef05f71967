"""Tell the time: the champion alias moves only on a better model, and the registered reader loads, serves and
predicts outside the repository. Training and logging of each head type are checked on the smoke study."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
from PIL import Image

from pipeline import config
from pipeline.serving.clock_reader import times_table
from pipeline.steps import predict
from pipeline.tracking import registry as model_registry
from pipeline.tracking import runs
from scripts.local_services import free_port, wait_for_http
from tests.conftest import use_store, write_clock_folder


def tiny_reader(image_size: int = 75) -> str:
    """Log an untrained, tiny clock reader in the active run; returns its model URI."""
    from models.clock_net import Backbone, build_clock_model
    from models.time_heads import HeadSpec

    network = build_clock_model(HeadSpec("classification", n_classes=24), image_size, Backbone(widths=(4, 8)))
    return model_registry.log_clock_reader(network, {"head": {"head": "classification", "n_classes": 24},
                                                     "image_size": image_size, "quarter_turns": True})


@pytest.fixture(scope="module")
def registry(tracking_uri, tmp_path_factory):
    """A registered champion clock reader (tiny, untrained) in the temporary store: (model name, folder)."""
    folder = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_store(monkeypatch, folder)
        name = f"clock-reader-{folder.name}"
        with runs.start_run("test"):
            uri = tiny_reader()
        version, moved, _ = model_registry.register_if_better(uri, name, 10.0, "digest-a")
        assert moved and version == "1"
        yield name, folder


def champion_version(name: str) -> str:
    return str(mlflow.MlflowClient().get_model_version_by_alias(name, "champion").version)


def test_champion_moves_only_for_a_better_validation_score_on_the_same_validation_data(registry):
    name, _ = registry
    with runs.start_run("test"):
        uri = tiny_reader()
    worse = model_registry.register_if_better(uri, name, 12.5, "digest-a")
    assert worse[1] is False and "does not beat" in worse[2] and champion_version(name) == "1"
    other_data = model_registry.register_if_better(uri, name, 1.0, "digest-b")
    assert other_data[1] is False and "other data" in other_data[2] and champion_version(name) == "1"
    unvalidated = model_registry.register_if_better(uri, name, None, None)
    assert unvalidated[1] is False and "no validation score" in unvalidated[2] and champion_version(name) == "1"
    better = model_registry.register_if_better(uri, name, 7.0, "digest-a")
    assert better[1] is True and champion_version(name) == better[0]
    decision = mlflow.MlflowClient().get_model_version(name, worse[0]).tags["champion_decision"]
    assert "does not beat" in decision


def test_a_better_test_score_with_a_worse_validation_score_does_not_take_the_champion_alias(registry):
    name, _ = registry
    with runs.start_run("test"):
        uri = tiny_reader()
    champion = champion_version(name)
    champion_val = float(mlflow.MlflowClient().get_model_version(name, champion).tags["val_cse_mean"])
    version, moved, why = model_registry.register_if_better(uri, name, champion_val + 0.5, "digest-a",
                                                            reported={"test_cse_mean": "0.000001"})
    assert not moved and champion_version(name) == champion and "validation CSE" in why
    assert mlflow.MlflowClient().get_model_version(name, version).tags["test_cse_mean"] == "0.000001"


def test_a_validated_version_replaces_a_champion_that_has_no_validation_score(tracking_uri, tmp_path, monkeypatch):
    use_store(monkeypatch, tmp_path)
    name = f"clock-reader-unvalidated-{tmp_path.name}"
    with runs.start_run("test"):
        uri = tiny_reader()
    first = model_registry.register_if_better(uri, name, None, None)  # trained without a validation split
    assert first[1] and champion_version(name) == first[0]
    validated = model_registry.register_if_better(uri, name, 50.0, "digest-a")
    assert validated[1] and champion_version(name) == validated[0] and "no validation score" in validated[2]


def test_the_comparison_winner_is_chosen_on_validation_whatever_the_test_says():
    from pipeline.steps.clock_compare import comparison_table, winner

    rows = [{"representation": "regression-circular", "val_cse_mean": 9.0, "test_cse_mean": 2.0, "run_id": "a"},
            {"representation": "periodic-both-consistent", "val_cse_mean": 4.0, "test_cse_mean": 6.0, "run_id": "b"},
            {"representation": "classification-24", "val_cse_mean": 12.0, "test_cse_mean": 11.0, "run_id": "c"}]
    assert winner(rows)["run_id"] == "b"
    assert list(comparison_table(rows)["run_id"]) == ["b", "a", "c"]


FRESH_PROCESS = """
import sys, importlib.util
# This repository is installed editable in the test environment: take its import hook away, as in a
# Python that has only MLflow, TensorFlow and pandas.
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
assert importlib.util.find_spec("pipeline") is None and importlib.util.find_spec("models") is None
import mlflow, numpy as np
model = mlflow.pyfunc.load_model(sys.argv[1])
images = np.load(sys.argv[2])
out = model.predict(images)
print(out.to_json(orient="records"))
"""


def test_the_champion_loads_in_a_fresh_process_without_the_repository(registry, tmp_path):
    name, _ = registry
    images = np.random.default_rng(0).integers(0, 256, (5, 150, 150), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, f"models:/{name}@champion",
                           str(tmp_path / "images.npy")], check=False, capture_output=True, text=True, cwd=tmp_path,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(rows) == 5
    assert all(0 <= r["hour"] <= 11 and 0 <= r["minute"] <= 59 and r["time"] == f"{r['hour']}:{r['minute']:02d}"
               for r in rows)


TWO_READERS = """
import json, sys
import mlflow, numpy as np
images = np.zeros((2, 75, 75), dtype=np.uint8)
copies = {}
for folder in sys.argv[1:]:
    model = mlflow.pyfunc.load_model(folder)
    model.predict(images)
    reader = type(model.unwrap_python_model())
    copies[folder] = reader.load_context.__globals__["decode"].__globals__["COPY"]
print(json.dumps({"copies": copies, "process_models": sys.modules["models"].__file__}))
"""


def test_two_readers_of_different_code_load_in_one_process(registry, tmp_path):
    """A reader's `models` package is its own, even when another reader's (of other code) is already loaded."""
    name, _ = registry
    folders = []
    for copy in ("a", "b"):
        folder = mlflow.artifacts.download_artifacts(f"models:/{name}@champion", dst_path=str(tmp_path / copy))
        with open(os.path.join(folder, "code", "models", "time_heads.py"), "a") as f:
            f.write(f"\nCOPY = {copy!r}\n")
        folders.append(folder)
    done = subprocess.run([sys.executable, "-c", TWO_READERS, *folders], check=False, capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["copies"] == dict(zip(folders, ("a", "b")))
    # The process keeps the `models` it had: the first reader's.
    assert seen["process_models"].startswith(folders[0])


def test_the_reader_takes_both_shapes_and_refuses_bad_input(registry):
    name, _ = registry
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    images = np.random.default_rng(1).integers(0, 256, (3, 75, 75), dtype=np.uint8)
    flat, channel = model.predict(images), model.predict(images[..., None])
    assert list(flat.columns) == ["hour", "minute", "time"] and flat.equals(channel)
    assert str(flat["hour"].dtype) == "int64" and flat["time"].map(type).eq(str).all()
    for bad, message in ((images.astype(np.float32), "uint8"), (images[0], "shape"),
                         (np.full((1, 75, 75), 300), "0-255")):
        with pytest.raises(mlflow.exceptions.MlflowException, match=message):
            model.predict(bad)


def post(port: int, payload: bytes) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=payload,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_mlflow_models_serve_answers_with_times_and_refuses_malformed_payloads(registry):
    name, _ = registry
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}@champion",
                               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              # MLflow starts the scoring server as `uvicorn ...` from PATH.
                              env={**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"})
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server)
        images = np.random.default_rng(2).integers(0, 256, (2, 75, 75)).tolist()
        status, body = post(port, json.dumps({"inputs": images}).encode())
        assert status == 200, body
        predictions = json.loads(body)["predictions"]
        assert len(predictions) == 2 and {"hour", "minute", "time"} <= set(predictions[0])
        status, body = post(port, json.dumps({"inputs": [[1, 2, 3]]}).encode())
        assert 400 <= status < 500 and "shape" in body
        status, body = post(port, b"{not json")
        assert 400 <= status < 500 and body
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_predict_prints_a_time_per_image_and_names_an_unreadable_one(registry, tmp_path, capsys):
    name, _ = registry
    rng = np.random.default_rng(3)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)).save(tmp_path / f"clock{i}.png")
    lines = predict.predict(str(tmp_path), f"models:/{name}@champion")
    printed = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in printed] == [str(tmp_path / "clock0.png"), str(tmp_path / "clock1.png")]
    assert all(":" in time for _, time in lines)
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--input", str(tmp_path), "--model-uri", f"models:/{name}@champion"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "broken.png: not a readable image" in error[0]


def test_predict_refuses_an_image_over_pillows_size_limit_in_one_line(tmp_path, capsys, monkeypatch):
    # Pillow refuses, before decoding, images of more than twice MAX_IMAGE_PIXELS; a small limit stands in for
    # the 179-megapixel default, so the test writes a small file.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    Image.new("L", (100, 30)).save(tmp_path / "huge.png")
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--input", str(tmp_path / "huge.png"), "--model-uri", "models:/never-loaded@champion"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"error: {tmp_path / 'huge.png'}: image too large to read")


def test_times_table_formats_hours_and_minutes():
    table = times_table(np.array([0, 61, 719, 720 + 5]))
    assert table.to_dict("list") == {"hour": [0, 1, 11, 0], "minute": [0, 1, 59, 5],
                                     "time": ["0:00", "1:01", "11:59", "0:05"]}


def test_views_are_averaged_on_each_head_s_circle():
    from models.time_heads import HeadSpec, mean_outputs

    # Hours 11.9 and 0.1 lie 0.2 apart across 12 o'clock: their mean is 12 (0), not 6.
    hours = mean_outputs(HeadSpec("regression"), [[[11.9]], [[0.1]]])
    assert min(hours[0, 0], 12 - hours[0, 0]) < 1e-4
    # The minute fraction of a multihead model the same way across the full hour; its hour probabilities averaged.
    hour_probabilities = np.eye(12)[[3, 5]]
    views = [np.concatenate([hour_probabilities[:1], [[0.98]]], axis=1),
             np.concatenate([hour_probabilities[1:], [[0.02]]], axis=1)]
    mean = mean_outputs(HeadSpec("multihead"), views)
    assert min(mean[0, 12], 1 - mean[0, 12]) < 1e-4
    np.testing.assert_allclose(mean[0, :12], (hour_probabilities[0] + hour_probabilities[1]) / 2)
    periodic = mean_outputs(HeadSpec("periodic"), [[[1.0, 0.0, 0.0, 1.0]], [[0.0, 1.0, 1.0, 0.0]]])
    np.testing.assert_allclose(periodic, [[0.5, 0.5, 0.5, 0.5]])


def test_a_clock_reads_the_same_whichever_quarter_turn_it_is_shown_at():
    """Averaged over the four quarter turns, a network's reading of an image and of that image turned by a quarter
    are the same, though the network alone reads them differently."""
    import keras

    from models.clock_net import Backbone, build_clock_model
    from models.quarter_turns import read_outputs
    from models.time_heads import HeadSpec

    keras.utils.set_random_seed(0)
    spec = HeadSpec("periodic")
    network = build_clock_model(spec, 32, Backbone(widths=(4, 8)))
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 1), dtype=np.uint8)
    turned = np.rot90(images, 1, axes=(1, 2))
    assert not np.allclose(read_outputs(network, spec, images, 8, turned=False),
                           read_outputs(network, spec, turned, 8, turned=False), atol=1e-4)
    np.testing.assert_allclose(read_outputs(network, spec, images, 8), read_outputs(network, spec, turned, 8),
                               atol=1e-5)


def test_batch_normalization_statistics_catch_up_within_a_short_training():
    """After 60 steps (less than one quick-profile epoch) every batch normalization layer's moving variance
    matches the variance it sees, within a factor of 2; Keras' default momentum leaves it far too large, and the
    reader in inference mode then gives one answer for every image. The clock trainer (time and dial outputs) is
    fitted traced here, as the quick and full profiles fit it."""
    import keras

    from models.clock_net import (
        Backbone,
        build_clock_trainer,
        compile_clock_trainer,
        dial_encoding,
    )
    from models.time_heads import HeadSpec

    keras.utils.set_random_seed(0)
    spec = HeadSpec("regression", loss="mae")
    trainer, reader = build_clock_trainer(spec, 75, Backbone(widths=(4, 8)))
    compile_clock_trainer(trainer, spec, 1e-3, dial_weight=1.0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (960, 75, 75, 1), dtype=np.uint8)
    targets = {"time": rng.integers(0, 720, 960).astype(np.float32), "dial": dial_encoding(rng.uniform(0, 360, 960))}
    history = trainer.fit(images, targets, batch_size=16, epochs=1, verbose=0).history
    assert {"time_cse", "dial_loss"} <= set(history) and not trainer.run_eagerly
    assert reader.predict(images[:4], verbose=0).shape == (4, 1)  # the reader is the time head alone
    backbone = trainer.get_layer("backbone")
    norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms
    for layer in norms:
        seen = keras.Model(backbone.input, layer.input)(images[:256] / 255.0, training=False).numpy()
        variance = seen.reshape(-1, seen.shape[-1]).var(axis=0)
        ratio = layer.moving_variance.numpy() / variance
        assert 0.5 < np.median(ratio) < 2, (layer.name, np.median(ratio))


def test_precise_batch_norm_sets_the_statistics_the_layer_sees_and_validates_with_them():
    """Moving statistics left wrong (as lagging averages leave them) are replaced by the average over training
    batches under the current weights; the callback's val_ metrics are those of the recalibrated model."""
    import keras

    from pipeline.training import PreciseBatchNorm, recalibrate_batch_norm

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    inner = keras.Model(inputs, keras.layers.BatchNormalization(name="norm")(keras.layers.Conv2D(3, 3)(inputs)),
                        name="inner")  # nested, as the clock reader's backbone is
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(inner(inputs))))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    images = rng.normal(2.0, 3.0, (256, 8, 8, 1)).astype(np.float32)
    norm = inner.get_layer("norm")
    norm.moving_mean.assign(np.full(3, 5.0, np.float32))
    norm.moving_variance.assign(np.full(3, 100.0, np.float32))
    recalibrate_batch_norm(model, images, batches=4, batch_size=64)
    seen = keras.Model(inner.input, norm.input)(images).numpy().reshape(-1, 3)
    np.testing.assert_allclose(norm.moving_mean.numpy(), seen.mean(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(norm.moving_variance.numpy(), seen.var(axis=0), rtol=0.05)
    assert norm.momentum == 0.99  # put back

    targets = rng.normal(size=(256, 1)).astype(np.float32)
    history = model.fit(images, targets, epochs=1, batch_size=64, verbose=0,
                        callbacks=[PreciseBatchNorm(images, (images[:64], targets[:64]), 64)]).history
    assert history["val_loss"][0] == pytest.approx(model.evaluate(images[:64], targets[:64], verbose=0), rel=1e-5)


def test_the_dial_target_is_each_rendered_training_clock_s_rotation(store):
    from models.clock_net import dial_encoding
    from pipeline.clock.data import dial_targets, load_clock_data
    from pipeline.clock.request import ClockRequest
    from pipeline.config import ClockBudget
    from pipeline.datasets.clock_renderer import pose_rotations, render_random
    from pipeline.datasets.splits import split_indices

    request = ClockRequest(head={"head": "periodic"}, image_size=75, count=80, seed=3,
                           budget=ClockBudget(epochs=1, patience=1, train_limit=16))
    splits = load_clock_data(request)
    index = split_indices({"train": 64, "validation": 8, "test": 8}, seed=3)
    # The positions split_indices gives are where preprocess took each image from: each re-renders identically.
    for i in range(16):
        hour, minute = splits.train.y[i]
        assert np.array_equal(render_random(float(hour), float(minute), 3, int(index["train"][i]), 75),
                              splits.train.x[i])
    targets = dial_targets(request, splits, 16, None)
    np.testing.assert_allclose(targets["train"], dial_encoding(pose_rotations(3, index["train"][:16])))
    np.testing.assert_allclose(targets["validation"], dial_encoding(pose_rotations(3, index["validation"])))
    assert np.allclose(np.square(targets["train"]).sum(axis=1), 1.0)


def test_without_the_renderer_s_order_there_is_no_dial_target(store, clock_dir):
    from pipeline.clock.data import dial_targets, load_clock_data
    from pipeline.clock.request import ClockRequest
    from pipeline.config import ClockBudget
    from pipeline.datasets.splits import Split, Splits
    from pipeline.errors import InputError

    budget = ClockBudget(epochs=1, patience=1)
    course = ClockRequest(head={"head": "periodic"}, source=str(clock_dir), budget=budget)
    assert dial_targets(course, load_clock_data(course), 8, None) is None
    rendered = ClockRequest(head={"head": "periodic"}, image_size=75, count=80, budget=budget)
    splits = load_clock_data(rendered)
    swapped = Split(splits.train.x[::-1], splits.train.y[::-1])
    with pytest.raises(InputError, match="rotations cannot be recovered"):
        dial_targets(rendered, Splits(swapped, splits.validation, splits.test, splits.manifest, splits.folder), 8, None)


def test_the_hands_target_is_where_each_hand_points_in_the_image():
    from models.clock_net import hands_encoding

    # 3:00 on an upright dial: hour hand right (90 degrees), minute hand up; 0:30 turned a quarter clockwise:
    # hour hand at 90 + 15, minute hand at 90 + 180.
    got = hands_encoding([0.0, 90.0], [180, 30])
    want = [[1, 0, 0, 1], [np.sin(np.radians(105)), np.cos(np.radians(105)), -1, 0]]
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_pretrained_backbone_is_registered_with_what_it_was_built_for_and_a_reader_starts_from_it(store):
    """The backbone pretrained on the dial and the hands is logged and registered once; a reader asking for it by
    its model URI is built as its metadata says (whatever its own budget's widths) and gets its weights."""
    import dataclasses

    from models.clock_net import Backbone, build_clock_model
    from models.time_heads import HeadSpec
    from pipeline.clock.backbone import MODEL_NAME, pretrain, resolve, start_from
    from pipeline.clock.data import load_clock_data
    from pipeline.clock.request import ClockRequest
    from pipeline.config import ClockBudget

    request = ClockRequest(head={"head": "periodic"}, image_size=75, count=80, seed=3,
                           budget=ClockBudget(epochs=1, patience=1, widths=(4, 8), batch_size=16, eager=True))
    with runs.start_run("test", run_name="clock-backbone"):
        uri = pretrain(request, load_clock_data(request), epochs=1)
        run_id = runs.active_run_id()
    run = mlflow.get_run(run_id)
    assert "dial_loss" in run.data.metrics and "val_hands_loss" in run.data.metrics
    assert uri.startswith(f"models:/{MODEL_NAME}/") and run.data.tags["model_uri"] == uri
    assert mlflow.models.get_model_info(uri).metadata == {"image_size": 75, "widths": [4, 8], "blocks_per_stage": 1,
                                                          "dropout": 0.1}
    reader = resolve(dataclasses.replace(request, head={"head": "regression"}, backbone=uri,
                                         budget=dataclasses.replace(request.budget, widths=(16, 32))))
    assert reader.architecture == Backbone(widths=(4, 8))
    model = build_clock_model(HeadSpec("regression"), 75, reader.architecture)
    before = model.get_layer("hours").get_weights()
    start_from(uri, model)
    for got, want in zip(model.get_layer("backbone").get_weights(), mlflow.keras.load_model(uri).get_weights(),
                         strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(model.get_layer("hours").get_weights(), before):  # the head stays fresh
        np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module")
def folder_comparison(tracking_uri, tmp_path_factory) -> SimpleNamespace:
    """clock_compare (smoke, two representations) on a course-format folder: its backbone pretrained on rendered
    clocks and registered, then every representation fine-tuned from it on the folder's labels."""
    from pipeline.steps import clock_compare

    folder = tmp_path_factory.mktemp("folder-comparison")
    clocks = write_clock_folder(folder / "clocks")
    with pytest.MonkeyPatch.context() as monkeypatch:
        experiment_id = use_store(monkeypatch, folder)
        args = clock_compare.build_parser().parse_args(["--profile", "smoke", "--source", str(clocks),
                                                        "--count", "80"])
        clock_compare.compare(args, [{"head": "regression", "loss": "circular"},
                                     {"head": "classification", "n_classes": 24}])
    client = mlflow.MlflowClient()
    compare = client.search_runs([experiment_id], "tags.step = 'clock_compare'")[0]
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{compare.info.run_id}'")
    backbone = [child for child in children if child.data.tags.get("step") == "clock_backbone"]
    return SimpleNamespace(compare=compare, clocks=clocks, uri=compare.data.tags["backbone_model_uri"],
                           backbone=backbone, representations=[c for c in children if c not in backbone])


def test_clock_compare_on_a_folder_registers_a_backbone_pretrained_on_rendered_clocks_and_starts_every_model_from_it(
        folder_comparison):
    from pipeline.clock.backbone import MODEL_NAME

    uri, (backbone,) = folder_comparison.uri, folder_comparison.backbone
    assert uri.startswith(f"models:/{MODEL_NAME}/") and backbone.data.tags["model_uri"] == uri
    metadata = mlflow.models.get_model_info(uri).metadata
    assert metadata == {"image_size": 75, "widths": [8, 16, 32], "blocks_per_stage": 1, "dropout": 0.1}
    # Any model URI of it reads the same metadata, without loading the model.
    assert mlflow.models.get_model_info(f"runs:/{backbone.info.run_id}/backbone").metadata == metadata
    # The folder's poses are unknown: the backbone learned the dial and the hands on rendered clocks.
    assert backbone.data.params["source"] == "synthetic" and "val_dial_loss" in backbone.data.metrics
    assert folder_comparison.compare.data.params["backbone"] == "none"
    assert len(folder_comparison.representations) == 2
    for child in folder_comparison.representations:
        assert child.info.status == "FINISHED" and child.data.params["backbone"] == uri
        assert child.data.params["source"] == str(folder_comparison.clocks)
        assert child.data.params["dial_supervision"] == "false"
        assert not [name for name in child.data.metrics if "dial" in name]
        assert "course-format folder" in child.data.tags["training_data"] and uri in child.data.tags["training_data"]


RUN_CLOCK_STEP = """
import sys
from pipeline.steps import clock
try:
    clock.main(sys.argv[1:])
except SystemExit as stop:
    print("exit", stop.code, "tensorflow loaded:", "tensorflow" in sys.modules)
    raise
print("renderer imported:", "pipeline.datasets.clock_renderer" in sys.modules)
"""


def run_clock_step(arguments: list[str], data: Path) -> subprocess.CompletedProcess:
    """`python -m pipeline.steps.clock` in a fresh interpreter, into the test's experiment and data folder."""
    return subprocess.run([sys.executable, "-c", RUN_CLOCK_STEP, *arguments], check=False, capture_output=True,
                          text=True, cwd=config.ROOT, env={**os.environ, "PIPELINE_DATA_DIR": str(data)}, timeout=600)


def test_a_folder_sourced_clock_run_fine_tunes_a_backbone_by_its_uri_without_renderer_targets(
        folder_comparison, store, clock_dir, tmp_path):
    uri = folder_comparison.uri
    done = run_clock_step(["--head", "regression", "--loss", "circular", "--profile", "smoke", "--source",
                           str(clock_dir), "--backbone", uri, "--register", "true", "--train-limit", "40"],
                          tmp_path / "data")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "renderer imported: False"
    client = mlflow.MlflowClient()
    (run,) = client.search_runs([store])
    params, tags = run.data.params, run.data.tags
    assert params["backbone"] == uri and params["backbone.widths"] == "(8, 16, 32)"
    assert params["dial_supervision"] == "false" and params["source"] == str(clock_dir)
    assert len(client.get_metric_history(run.info.run_id, "val_cse")) == 1  # one per epoch
    # A network with the dial output logs its loss every epoch (dial_loss, val_dial_loss): this one had none.
    assert {"loss", "cse", "val_cse"} <= set(run.data.metrics)
    assert not [name for name in run.data.metrics if "dial" in name]
    assert params["budget.train_limit"] == params["train_images"] == "40"  # of the split's 48
    assert tags["training_data"] == f"course-format folder {clock_dir.resolve()} (40 training images, labels only), " \
                                    f"backbone {uri}"
    version = client.get_model_version("clock-reader", tags["registered_version"])
    assert version.description == tags["training_data"]


@pytest.mark.parametrize("case", ["unknown version", "unknown run", "other image size"])
def test_a_bad_backbone_uri_stops_the_clock_step_in_one_line_before_tensorflow_data_or_runs(case, store, tmp_path,
                                                                                          request):
    from pipeline.clock.backbone import MODEL_NAME

    if case == "other image size":
        uri, size, problem = request.getfixturevalue("folder_comparison").uri, "150", "pretrained on 75 px images"
    else:
        uri, size, problem = {"unknown version": (f"models:/{MODEL_NAME}/999", "75", "not found"),
                              "unknown run": (f"runs:/{uuid.uuid4().hex}/backbone", "75", "not found")}[case]
    before = len(mlflow.search_runs(search_all_experiments=True))
    done = run_clock_step(["--profile", "smoke", "--image-size", size, "--backbone", uri], tmp_path / "data")
    assert done.returncode == 2
    assert done.stdout.strip() == "exit 2 tensorflow loaded: False"
    error = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(error) == 1 and error[0].startswith("error: ") and uri in error[0] and problem in error[0], error
    assert len(mlflow.search_runs(search_all_experiments=True)) == before
    assert not (tmp_path / "data").exists()
