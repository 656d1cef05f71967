"""Genuine labelled images read by a trained clock reader: a reference folder in either format, the per-image table,
mean and contact sheet a `clock` run logs for it, the report's figure, and bad folders refused in one line."""
from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.datasets.clock_files import save_clock_folder
from pipeline.datasets.reference_images import read_reference, time_in_name
from tests.conftest import use_store, write_clock_folder

# (file name, hour, minute): named as the shared samples are; hour 12 reads as 0 on the dial.
LABELLED = [("native150_00-00_alice_idx0.png", 0, 0), ("resampled150_02-07_bob.png", 2, 7),
            ("resampled150_09-34_bob.png", 9, 34), ("photo_12-45.jpg", 0, 45)]
UNLABELLED = ("contact-sheet.png", "strip_example_05-33_05-45.png")  # no time; several times


def write_named_images(folder: Path) -> Path:
    """Rendered clocks saved as image files named with their time, of two sizes, plus two files without one time."""
    from pipeline.datasets.clock_renderer import render_times

    folder.mkdir(parents=True)
    hours, minutes = np.array([h for _, h, _ in LABELLED]), np.array([m for _, _, m in LABELLED])
    images = render_times(hours, minutes, size=150, seed=5, workers=1)
    for (name, _, _), image in zip(LABELLED, images):
        # One image at 100 px: the reader resizes it as it resizes any input.
        Image.fromarray(image if "alice" not in name else image[25:125, 25:125]).save(folder / name)
    for name in UNLABELLED:
        Image.fromarray(images[0]).save(folder / name)
    return folder


def run_clock(arguments: list[str]) -> None:
    """The `clock` step in this process: a smoke-budget 24-class reader on 40 training images."""
    from pipeline.steps import clock

    clock.main(["--head", "classification", "--n-classes", "24", "--profile", "smoke", "--epochs", "1",
                "--train-limit", "40", *arguments])


@pytest.fixture(scope="module")
def reference_run(tracking_uri, tmp_path_factory) -> SimpleNamespace:
    """One smoke `clock` run on a tiny course-format folder that reads a folder of named image files afterwards."""
    folder = tmp_path_factory.mktemp("reference")
    photos = write_named_images(folder / "photos")
    clocks = write_clock_folder(folder / "clocks")
    with pytest.MonkeyPatch.context() as monkeypatch:
        experiment_id = use_store(monkeypatch, folder)
        run_clock(["--source", str(clocks), "--reference", str(photos)])
    (run,) = mlflow.MlflowClient().search_runs([experiment_id])
    table = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/reference/per_image.csv")))
    return SimpleNamespace(run=run, photos=photos, table=table, folder=folder)


def test_a_clock_run_logs_one_row_per_labelled_image_with_its_true_time(reference_run):
    table = reference_run.table
    assert list(table.columns) == ["name", "true", "predicted", "cse"]
    assert list(table["name"]) == sorted(name for name, _, _ in LABELLED)
    want = {name: f"{hour}:{minute:02d}" for name, hour, minute in LABELLED}
    assert list(table["true"]) == [want[name] for name in table["name"]]
    assert table["cse"].between(0, 360).all()


def test_the_logged_mean_is_the_mean_of_the_rows_and_the_sheet_and_folder_are_logged(reference_run):
    run, table = reference_run.run, reference_run.table
    assert run.data.metrics["reference_cse_mean"] == pytest.approx(table["cse"].mean())
    assert run.data.metrics["reference_images"] == len(LABELLED)
    assert run.data.params["reference"] == str(reference_run.photos.resolve())
    sheet = mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/reference/contact_sheet.png",
                                                dst_path=str(reference_run.folder / "sheet"))
    with Image.open(sheet) as image:
        assert image.format == "PNG" and min(image.size) > 100


def test_each_cse_is_the_common_sense_error_of_the_predicted_time_that_predict_prints(reference_run, capsys):
    from models.common_sense_error import common_sense_error
    from pipeline.steps import predict

    table, model_uri = reference_run.table, reference_run.run.data.tags["model_uri"]
    printed = {Path(name).name: time for name, time in predict.predict(str(reference_run.photos), model_uri)}
    assert list(table["predicted"]) == [printed[name] for name in table["name"]]

    def minutes(times):
        return np.array([60 * int(t.split(":")[0]) + int(t.split(":")[1]) for t in times])

    np.testing.assert_array_equal(table["cse"], common_sense_error(minutes(table["predicted"]), minutes(table["true"])))


def test_a_course_format_reference_folder_is_read_with_its_labels_at_the_reader_s_size(reference_run, tmp_path):
    from pipeline.clock.evaluation import read_reference as read_with_reader
    from pipeline.datasets.clock_renderer import render_times

    labels = np.array([[3, 15], [11, 59], [6, 0]])
    save_clock_folder(tmp_path / "course", render_times(labels[:, 0], labels[:, 1], size=150, seed=7, workers=1),
                      labels)
    reference = read_reference(tmp_path / "course", 75)
    assert reference.images.shape == (3, 75, 75) and reference.images.dtype == np.uint8
    np.testing.assert_array_equal(reference.labels, labels)
    assert reference.names == ["images.npy[0]", "images.npy[1]", "images.npy[2]"] and reference.skipped == []
    table = read_with_reader(reference_run.run.data.tags["model_uri"], reference)
    assert list(table["true"]) == ["3:15", "11:59", "6:00"] and len(table["predicted"]) == 3


def test_file_names_carry_one_time_as_hh_mm():
    assert time_in_name("resampled150_02-07_ohgreat.png") == (2, 7)
    assert time_in_name("native150_00-00_andreas_idx0.png") == (0, 0)
    assert time_in_name("kitchen_13-05.jpg") == (1, 5)
    for name in ("contact-sheet.png", "strip_fig_00-49_02-34.png", "clock_10-75.png", "scan_2024-01-02.png"):
        assert time_in_name(name) is None, name


def test_the_named_images_skip_files_without_one_time(reference_run):
    reference = read_reference(reference_run.photos, 75)
    assert reference.images.shape == (len(LABELLED), 75, 75)
    assert reference.skipped == sorted(UNLABELLED)


def test_the_report_shows_the_reference_figure_on_the_model_card(reference_run, tmp_path):
    from pipeline.steps import report

    run = reference_run.run
    document = report.Report(tmp_path)
    report.champion_section(document, run.info.run_id)
    text = document.text()
    mean = f"{run.data.metrics['reference_cse_mean']:.2f} min"
    assert "### Genuine images" in text and f"mean CSE **{mean}**" in text
    assert f"mean CSE {mean} over {len(LABELLED)} images of `{reference_run.photos.resolve()}`" in text
    assert "readings of real photographs are not measured here" not in text
    assert (tmp_path / report.FIGURES / f"{run.info.run_id[:8]}_reference_contact_sheet.png").is_file()
    assert "none read by this run" in report.reference_line({}, {})


def refused(arguments: list[str], capsys, entry="clock") -> list[str]:
    """Run a step that must stop on bad input; returns its stderr lines."""
    from pipeline.steps import main

    with pytest.raises(SystemExit) as stopped:
        run_clock(arguments) if entry == "clock" else main.main(arguments)
    assert stopped.value.code == 2
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("case", ["no labelled images", "empty", "not a folder"])
def test_a_reference_folder_without_labelled_images_stops_the_step_in_one_line_before_any_run(case, store, tmp_path,
                                                                                            clock_dir, capsys):
    folder = tmp_path / "photos"
    if case != "not a folder":
        folder.mkdir()
    if case == "no labelled images":
        Image.new("L", (150, 150), 128).save(folder / "contact-sheet.png")
    error = refused(["--source", str(clock_dir), "--reference", str(folder)], capsys)
    assert len(error) == 1 and error[0].startswith(f"error: {folder}: "), error
    assert mlflow.search_runs([store]).empty
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("case", ["unreadable", "oversized"])
def test_an_unreadable_or_oversized_labelled_image_stops_the_step_in_one_line_naming_it(case, store, tmp_path,
                                                                                       clock_dir, capsys,
                                                                                       monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("L", (100, 100), 128).save(folder / "fine_01-30.png")
    bad = folder / "bad_03-10.png"
    if case == "unreadable":
        bad.write_bytes(b"this is not a png")
    else:
        # Pillow refuses images over twice MAX_IMAGE_PIXELS before decoding; a small limit stands in for the default.
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 12000)
        Image.new("L", (200, 150)).save(bad)
    error = refused(["--source", str(clock_dir), "--reference", str(folder)], capsys)
    problem = "not a readable image" if case == "unreadable" else "image too large to read"
    assert len(error) == 1 and error[0].startswith(f"error: {bad}: {problem}"), error
    assert mlflow.search_runs([store]).empty


def test_main_refuses_a_clock_reference_without_labelled_images_before_any_step(store, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    error = refused(["--profile", "smoke", "--clock-reference", str(folder)], capsys, entry="main")
    assert len(error) == 1 and error[0].startswith(f"error: {folder}: no labelled clock images"), error
    assert mlflow.search_runs([store]).empty
