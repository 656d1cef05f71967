"""The clock reader as an MLflow pyfunc model (models-from-code): grey images in, a table of times out.

MLflow copies this file into the logged model and ships the `models` package beside it (code_paths), so the
model loads in any Python with MLflow, TensorFlow and pandas, without this repository. Nothing here may import
`pipeline`.

    predict(images uint8 (N, H, W) or (N, H, W, 1), any size) -> DataFrame: hour (0-11), minute (0-59), time "H:MM"
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

PACKAGE = "models"


def own_modules(*names: str) -> list:
    """Import `names` from the `models` package logged beside this file (its `code` folder), whichever `models`
    the process already holds: another reader's, of other code, or the repository's. The process's own `models`
    stays in place afterwards. Run from the repository (nothing logged beside it), a plain import."""
    code = Path(__file__).resolve().parent / "code"
    if not (code / PACKAGE / "__init__.py").is_file():
        return [importlib.import_module(name) for name in names]
    package = lambda name: name == PACKAGE or name.startswith(PACKAGE + ".")  # noqa: E731
    held = {name: module for name, module in sys.modules.items() if package(name)}
    for name in held:
        del sys.modules[name]
    sys.path.insert(0, str(code))
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        sys.path.remove(str(code))
        if held:
            for name in [name for name in sys.modules if package(name)]:
                del sys.modules[name]
            sys.modules.update(held)


clock_input, polar_reader, quarter_turns, time_heads = own_modules(
    "models.clock_input", "models.polar_reader", "models.quarter_turns", "models.time_heads")
as_grey_batch, resize_to = clock_input.as_grey_batch, clock_input.resize_to
read_outputs = quarter_turns.read_outputs
HeadSpec, decode, to_whole_minutes = time_heads.HeadSpec, time_heads.decode, time_heads.to_whole_minutes

PREDICT_BATCH = 128


def times_table(minutes: np.ndarray) -> pd.DataFrame:
    """Whole minutes past 12 as the reader's answer: hour, minute and the time as H:MM."""
    minutes = np.asarray(minutes).astype(np.int64) % 720
    hours, mins = minutes // 60, minutes % 60
    return pd.DataFrame({"hour": hours, "minute": mins,
                         "time": [f"{h}:{m:02d}" for h, m in zip(hours, mins)]})


class ClockReader(mlflow.pyfunc.PythonModel):
    """A trained clock network with its head's decoding and the image size it was trained at."""

    def load_context(self, context):
        import keras

        with open(context.artifacts["reader_config"]) as f:
            config = json.load(f)
        self.spec = HeadSpec(**config["head"])
        self.image_size = int(config["image_size"])
        # Readers logged before quarter-turn averaging read each image once.
        self.quarter_turns = bool(config.get("quarter_turns", False))
        # The training loss is a closure of the head; inference needs only the layers. The polar reader's own
        # layers are taken from this reader's `models`, whichever copy registered its names last.
        with keras.saving.custom_object_scope(polar_reader.CUSTOM_OBJECTS):
            self.network = keras.saving.load_model(context.artifacts["keras_model"], compile=False)

    def predict(self, context, model_input, params=None):
        try:
            images = as_grey_batch(model_input)
        except ValueError as exc:
            raise MlflowException.invalid_parameter_value(f"clock-reader: {exc}") from None
        batch = resize_to(images, self.image_size)[..., None]
        outputs = read_outputs(self.network, self.spec, batch, PREDICT_BATCH, turned=self.quarter_turns)
        from keras import ops

        return times_table(ops.convert_to_numpy(to_whole_minutes(decode(self.spec, outputs))))


mlflow.models.set_model(ClockReader())
