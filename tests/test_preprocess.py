"""The preprocess step: splits on disk with a manifest, a logged run, reuse, and one clear line for bad input."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys

import mlflow
import numpy as np
import pytest

from pipeline import config
from pipeline.steps.preprocess import main
from scripts.sample_data import write_idx


def finished_run(experiment_id):
    runs = mlflow.search_runs([experiment_id], output_format="list", order_by=["attributes.start_time DESC"])
    assert runs, "no run was logged"
    return runs[0]


def artifact_names(run) -> set[str]:
    return {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}


def test_clock_folder_is_split_80_10_10_and_logged(store, clock_dir):
    main(["--dataset", "clock", "--source", str(clock_dir), "--seed", "4"])
    run = finished_run(store)
    assert run.info.status == "FINISHED"
    assert run.data.params["train_size"] == "48" and run.data.params["test_size"] == "6"
    assert run.data.params["seed"] == "4"
    assert {"samples.png", "label_histogram.png", "manifest.json"} <= artifact_names(run)
    contexts = sorted(i.tags[0].value for i in run.inputs.dataset_inputs)
    assert contexts == ["test", "train", "validation"]
    folder = config.PROCESSED_DIR / "clock" / "clocks-seed4"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == 4 and len(manifest["raw_sha256"]) == 64
    assert {k: v["count"] for k, v in manifest["splits"].items()} == {"train": 48, "validation": 6, "test": 6}
    labels = np.concatenate([np.load(folder / f"{s}_labels.npy") for s in ("train", "validation", "test")])
    assert sorted(map(tuple, labels)) == sorted(map(tuple, np.load(clock_dir / "labels.npy")))


def test_a_second_run_reuses_the_splits(store, clock_dir):
    main(["--dataset", "clock", "--source", str(clock_dir)])
    written = (config.PROCESSED_DIR / "clock" / "clocks-seed0" / "train_images.npy").stat().st_mtime_ns
    main(["--dataset", "clock", "--source", str(clock_dir)])
    assert finished_run(store).data.tags["reused_splits"] == "True"
    assert (config.PROCESSED_DIR / "clock" / "clocks-seed0" / "train_images.npy").stat().st_mtime_ns == written


def test_fashion_mnist_validation_is_a_tenth_of_training(store, fashion_mnist_dir):
    main(["--dataset", "fashion_mnist", "--source", str(fashion_mnist_dir)])
    params = finished_run(store).data.params
    assert (params["train_size"], params["validation_size"], params["test_size"]) == ("180", "20", "50")


def test_cifar10_from_the_archive(store, cifar_tar):
    main(["--dataset", "cifar10", "--source", str(cifar_tar)])
    params = finished_run(store).data.params
    assert (params["train_size"], params["validation_size"], params["test_size"]) == ("90", "10", "20")


# --- bad input: each case is one error line naming the file, exit status 2, nothing under data/processed ---

def fm_remove(folder):
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()


def fm_truncate_gzip(folder):
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])


def fm_truncate_data(folder):
    path = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-500]))


def fm_label_out_of_range(folder):
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(200, 12))


def fm_count_mismatch(folder):
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(199) % 10)


def fm_empty(folder):
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((0, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(0))


def fm_wrong_shape(folder):
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((200, 32, 32)))


def cifar_garbage_batch(folder):
    (folder / "data_batch_2").write_bytes(b"\x80\x03this is not a pickle")


def cifar_missing_batch(folder):
    (folder / "data_batch_4").unlink()


def clock_truncated_npy(folder):
    path = folder / "images.npy"
    path.write_bytes(path.read_bytes()[:2000])


def clock_float_images(folder):
    np.save(folder / "images.npy", np.zeros((60, 32, 32), np.float32))


def clock_colour_images(folder):
    np.save(folder / "images.npy", np.zeros((60, 32, 32, 3), np.uint8))


def clock_minute_60(folder):
    labels = np.load(folder / "labels.npy")
    labels[5, 1] = 60
    np.save(folder / "labels.npy", labels)


def clock_hour_12(folder):
    labels = np.load(folder / "labels.npy")
    labels[7, 0] = 12
    np.save(folder / "labels.npy", labels)


def clock_length_mismatch(folder):
    np.save(folder / "labels.npy", np.load(folder / "labels.npy")[:-1])


def clock_labels_three_columns(folder):
    np.save(folder / "labels.npy", np.zeros((60, 3), np.int64))


def clock_empty(folder):
    np.save(folder / "images.npy", np.zeros((0, 32, 32), np.uint8))
    np.save(folder / "labels.npy", np.zeros((0, 2), np.int64))


def clock_missing_labels(folder):
    (folder / "labels.npy").unlink()


BAD_INPUT = [
    ("fashion_mnist", fm_remove, "t10k-labels-idx1-ubyte.gz", "file not found"),
    ("fashion_mnist", fm_truncate_gzip, "train-images-idx3-ubyte.gz", "not a readable gzip file"),
    ("fashion_mnist", fm_truncate_data, "train-images-idx3-ubyte.gz", "truncated"),
    ("fashion_mnist", fm_label_out_of_range, "train-labels-idx1-ubyte.gz", "labels out of range"),
    ("fashion_mnist", fm_count_mismatch, "train-labels-idx1-ubyte.gz", "200 images but 199 labels"),
    ("fashion_mnist", fm_empty, "t10k-images-idx3-ubyte.gz", "empty"),
    ("fashion_mnist", fm_wrong_shape, "train-images-idx3-ubyte.gz", "must be 28x28"),
    ("cifar10", cifar_garbage_batch, "data_batch_2", "not a readable CIFAR-10 batch"),
    ("cifar10", cifar_missing_batch, "data_batch_4", "file not found"),
    ("clock", clock_truncated_npy, "images.npy", "not a readable .npy array"),
    ("clock", clock_float_images, "images.npy", "must be uint8"),
    ("clock", clock_colour_images, "images.npy", "must have 3 dimensions"),
    ("clock", clock_minute_60, "labels.npy", "labels out of range"),
    ("clock", clock_hour_12, "labels.npy", "labels out of range"),
    ("clock", clock_length_mismatch, "labels.npy", "60 images but 59 labels"),
    ("clock", clock_labels_three_columns, "labels.npy", "shape (N, 2)"),
    ("clock", clock_empty, "images.npy", "empty"),
    ("clock", clock_missing_labels, "labels.npy", "file not found"),
]


@pytest.mark.parametrize("dataset, spoil, file_name, problem", BAD_INPUT, ids=[c[1].__name__ for c in BAD_INPUT])
def test_bad_input_is_one_line_and_leaves_nothing(dataset, spoil, file_name, problem, store, request, capsys):
    folder = request.getfixturevalue({"fashion_mnist": "fashion_mnist_dir", "cifar10": "cifar_dir",
                                      "clock": "clock_dir"}[dataset])
    spoil(folder)
    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", dataset, "--source", str(folder)])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and file_name in lines[0] and problem in lines[0], lines[0]
    processed = config.PROCESSED_DIR
    assert not processed.exists() or not any(processed.rglob("*.npy"))


def test_cifar_truncated_archive(store, cifar_tar, capsys):
    cifar_tar.write_bytes(cifar_tar.read_bytes()[:5000])
    with pytest.raises(SystemExit):
        main(["--dataset", "cifar10", "--source", str(cifar_tar)])
    err = capsys.readouterr().err.strip()
    assert "cifar-10-python.tar.gz" in err and len(err.splitlines()) == 1


def test_clock_source_that_is_not_a_folder(store, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--dataset", "clock", "--source", str(tmp_path / "nowhere")])
    assert "nowhere: not a directory" in capsys.readouterr().err


def test_the_command_line_prints_no_traceback(tracking_uri, clock_dir, tmp_path):
    clock_minute_60(clock_dir)
    env = {**__import__("os").environ, "PIPELINE_DATA_DIR": str(tmp_path / "data"),
           "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_EXPERIMENT_NAME": "cli-errors"}
    done = subprocess.run([sys.executable, "-m", "pipeline.steps.preprocess", "--dataset", "clock",
                           "--source", str(clock_dir)], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [f"error: {clock_dir / 'labels.npy'}: labels out of range: found 0..60, expected 0..59"]
    assert not (tmp_path / "data" / "processed").exists()
