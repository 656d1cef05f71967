"""The clock reader as an MLflow pyfunc model (models-from-code): grey images in, a table of times out.

MLflow copies this file into the logged model and ships the `models` package beside it (code_paths), so the
model loads in any Python with MLflow, TensorFlow and pandas, without this repository. Nothing here may import
`pipeline`.

    predict(images uint8 (N, H, W) or (N, H, W, 1), any size) -> DataFrame: hour (0-11), minute (0-59), time "H:MM"
"""
from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from models.clock_input import as_grey_batch, resize_to
from models.quarter_turns import read_outputs
from models.time_heads import HeadSpec, decode, to_whole_minutes

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
        # The training loss is a closure of the head; inference needs only the layers.
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
