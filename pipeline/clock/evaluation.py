"""Judging a clock reader by common-sense error: its reading chosen on validation, its test summaries, and the error
analysis figures."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import plots
from pipeline.clock.data import minutes_of
from pipeline.datasets.splits import Split
from pipeline.tracking import registry, runs

WORST_SHOWN = 24
HOUR_ERROR = 30  # minutes: an error this large means the hour was misread
SHEET_SHOWN = 48  # reference images on the contact sheet; the per-image table has them all


READINGS = ("once", "quarter_turns")


@dataclass(frozen=True)
class Validation:
    """The reading chosen on the validation split, with the figures it was chosen on."""
    quarter_turns: bool                 # read the mean of each image's four quarter turns (else the image once)
    cse_mean: dict[str, float]          # mean validation CSE of each reading, by READINGS name
    alternative_cse_mean: float | None  # the other decoding's, under the chosen reading (see `other_decoding`)

    @property
    def chosen_cse_mean(self) -> float:
        return self.cse_mean["quarter_turns" if self.quarter_turns else "once"]


@dataclass(frozen=True)
class Evaluation:
    """A reader judged on the test split, read as chosen on validation: what it read, how far off, and the
    summaries logged for it."""
    predicted: np.ndarray           # whole minutes past 12
    errors: np.ndarray              # the common-sense error of each reading
    summary: dict[str, float]       # cse_summary of the errors
    per_hour: dict[str, float]      # mean CSE for each true hour
    single_view: dict[str, float]   # cse_summary of the unturned images read alone
    alternative: tuple | None       # (the other decoding's HeadSpec, its cse_summary), see `other_decoding`


def readings(model, spec, split: Split) -> dict[str, np.ndarray]:
    """A split's head outputs both ways, from one pass over its images: each image once, and the mean over its
    four quarter turns."""
    from models.time_heads import mean_outputs

    views = network_outputs(model, split.x)
    return {"once": np.asarray(views[0]), "quarter_turns": mean_outputs(spec, views)}


def errors_of(spec, outputs: np.ndarray, split: Split) -> np.ndarray:
    """The common-sense error of each reading of `split`."""
    from models.common_sense_error import common_sense_error

    return common_sense_error(read_minutes(spec, outputs), minutes_of(split.y).astype(np.int64))


def validate(model, spec, validation: Split | None) -> Validation | None:
    """Choose how the reader reads (once, or the mean of four quarter turns: the latter only when it reads the
    validation split better) and measure the other decoding there; None without a validation split."""
    if validation is None:
        return None
    outputs = readings(model, spec, validation)
    means = {name: float(errors_of(spec, outputs[name], validation).mean()) for name in READINGS}
    quarter_turns = means["quarter_turns"] < means["once"]
    other = other_decoding(spec)
    chosen = outputs["quarter_turns" if quarter_turns else "once"]
    alternative = None if other is None else float(errors_of(other, chosen, validation).mean())
    return Validation(quarter_turns, means, alternative)


def evaluate(model, spec, test: Split, quarter_turns: bool) -> Evaluation:
    """Read the test split once, the way the logged reader reads (`quarter_turns` as chosen on validation), for
    reporting; the unturned images' reading is summarised beside it."""
    outputs = readings(model, spec, test)
    chosen = outputs["quarter_turns" if quarter_turns else "once"]
    errors = errors_of(spec, chosen, test)
    predicted = read_minutes(spec, chosen)
    other = other_decoding(spec)
    alternative = None if other is None else (other, cse_summary(errors_of(other, chosen, test)))
    true = minutes_of(test.y).astype(np.int64)
    return Evaluation(predicted, errors, cse_summary(errors), per_hour(errors, true),
                      cse_summary(errors_of(spec, outputs["once"], test)), alternative)


def cse_summary(errors: np.ndarray) -> dict[str, float]:
    """Test CSE mean, median, p90 and max, shares within 1/5/10 minutes, and the share of misread hours."""
    return {"test_cse_mean": float(errors.mean()), "test_cse_median": float(np.median(errors)),
            "test_cse_p90": float(np.percentile(errors, 90)), "test_cse_max": float(errors.max()),
            "test_within_1": float(np.mean(errors <= 1)), "test_within_5": float(np.mean(errors <= 5)),
            "test_within_10": float(np.mean(errors <= 10)), "test_hour_error_share": float(np.mean(errors >= HOUR_ERROR))}


def per_hour(errors: np.ndarray, true_minutes: np.ndarray) -> dict[str, float]:
    """Mean CSE for each true hour, as test_cse_hour_00 ... test_cse_hour_11 (where troubles at 12 show)."""
    hours = true_minutes // 60
    return {f"test_cse_hour_{h:02d}": float(errors[hours == h].mean()) for h in range(12) if np.any(hours == h)}


def network_outputs(model, images: np.ndarray) -> list[np.ndarray]:
    """The network's raw head outputs for a batch of (N, H, W) images at each quarter turn, the unturned first."""
    from models.quarter_turns import outputs_per_turn

    return outputs_per_turn(model, images[..., None], batch_size=128)


def read_minutes(spec, outputs: np.ndarray) -> np.ndarray:
    """Whole minutes past 12 that a head's outputs say."""
    from keras import ops

    from models.time_heads import decode, to_whole_minutes

    return ops.convert_to_numpy(to_whole_minutes(decode(spec, outputs))).astype(np.int64)


def other_decoding(spec):
    """For a periodic model of both hands, the decoding it was not logged with; else None."""
    if spec.head != "periodic" or spec.hands != "both":
        return None
    return dataclasses.replace(spec, decoding="independent" if spec.decoding == "consistent" else "consistent")


def log_error_analysis(label: str, test: Split, predicted: np.ndarray, errors: np.ndarray) -> None:
    """The CSE histogram, CSE against the true time, the hour confusion matrix and the worst test images."""
    true = minutes_of(test.y)
    runs.log_figure(plots.cse_histogram(errors, f"{label}: test common-sense error"), "cse_histogram.png")
    runs.log_figure(plots.cse_against_time(true, errors, f"{label}: error against the true time"),
                    "cse_against_time.png")
    runs.log_figure(plots.hour_confusion(test.y[:, 0], predicted // 60, f"{label}: hours, true vs predicted"),
                    "hour_confusion.png")
    worst = np.argsort(-errors, kind="stable")[:WORST_SHOWN]
    captions = [f"true {h}:{m:02d} read {p // 60}:{p % 60:02d}" for (h, m), p in zip(test.y[worst], predicted[worst])]
    runs.log_figure(plots.image_grid(test.x[worst], captions, columns=6, title=f"{label}: the 24 worst test images"),
                    "worst_24.png")


def read_reference(model_uri: str, reference) -> pd.DataFrame:
    """Read the genuine images of a reference folder (pipeline.datasets.reference_images) with the logged reader,
    as `predict` reads images; one row per image: its name, true and predicted time, and common-sense error."""
    from models.common_sense_error import common_sense_error, minutes_on_dial

    with runs.environment(registry.QUIET):  # MLflow's download progress bars would bury the step's own lines
        reader = registry.load_pyfunc(model_uri)
    read = reader.predict(reference.images)
    predicted = minutes_on_dial(read["hour"].to_numpy(), read["minute"].to_numpy()).astype(np.int64)
    true = minutes_of(reference.labels).astype(np.int64)
    return pd.DataFrame({"name": reference.names, "true": [f"{h}:{m:02d}" for h, m in reference.labels],
                         "predicted": list(read["time"]), "cse": common_sense_error(predicted, true)})


def log_reference(model_uri: str, reference) -> dict[str, float]:
    """Read the reference folder with the logged reader, and log what it read: the folder (param `reference`), the
    mean CSE and the image count, the per-image table and a contact sheet of true and predicted times. Nothing here
    feeds back into training or the champion decision. Returns the two metrics."""
    table = read_reference(model_uri, reference)
    metrics = {"reference_cse_mean": float(table["cse"].mean()), "reference_images": len(table)}
    runs.log_params({"reference": str(reference.folder.resolve())})
    runs.log_metrics(metrics)
    runs.log_table(table, "reference/per_image.csv")
    shown = table.head(SHEET_SHOWN)
    captions = [f"true {true} read {predicted}" for true, predicted in zip(shown["true"], shown["predicted"])]
    title = (f"{len(table)} genuine images" + (f" (the first {len(shown)} shown)" if len(shown) < len(table) else "")
             + f": mean CSE {metrics['reference_cse_mean']:.1f} min")
    runs.log_figure(plots.image_grid(reference.images[:len(shown)], captions, columns=min(6, len(shown)),
                                     title=title), "reference/contact_sheet.png")
    return metrics
