"""The model registry: models logged with their requirements, registered, their champion alias moved, loaded back."""
from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from pipeline import config
from pipeline.errors import InputError
from pipeline.tracking.runs import configure, environment

# MLflow draws a progress bar on stderr for every download, even of one small file: it would bury the one line
# a user needs on bad input.
QUIET = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def log_keras_model(model, name: str, example: np.ndarray, metadata: Mapping[str, Any] | None = None) -> str:
    """Log a Keras model with a signature inferred from `example` and `metadata` (what it was built for, readable
    without loading it); returns the model's URI."""
    import mlflow.keras
    from mlflow.models import infer_signature

    signature = infer_signature(example, np.asarray(model.predict(example, verbose=0)))
    info = mlflow.keras.log_model(model, name=name, signature=signature, pip_requirements=model_requirements(),
                                  metadata=None if metadata is None else dict(metadata))
    return info.model_uri


def register(model_uri: str, name: str, description: str = "") -> str:
    """Register a logged model as a new version of `name`, described by `description`; returns the version."""
    version = str(mlflow.register_model(model_uri, name).version)
    if description:
        mlflow.MlflowClient().update_model_version(name, version, description=description)
    return version


def model_metadata(model_uri: str, what: str = "model") -> dict:
    """The metadata a logged model records (any model URI: models:/name/version, models:/name@alias, runs:/id/path),
    read from its MLmodel file without loading the model, nor TensorFlow; a missing model is bad input."""
    configure()
    try:
        with environment(QUIET):
            return dict(mlflow.models.get_model_info(model_uri).metadata or {})
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        raise InputError(None, f"cannot read {what} {model_uri}: {str(exc).splitlines()[0]}") from None


def load_keras_model(model_uri: str):
    """Load a model logged with the Keras flavour; a missing one is bad input."""
    import mlflow.keras

    configure()
    try:
        with environment(QUIET):
            return mlflow.keras.load_model(model_uri)
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        raise InputError(None, f"cannot load model {model_uri}: {str(exc).splitlines()[0]}") from None


def model_requirements() -> list[str]:
    """The pinned packages a logged model needs, stated rather than inferred: MLflow's inference re-imports the
    model in a subprocess, which costs several seconds per model and finds nothing the project does not know."""
    import keras
    import pandas
    import tensorflow

    return [f"mlflow=={mlflow.__version__}", f"keras=={keras.__version__}", f"tensorflow=={tensorflow.__version__}",
            f"numpy=={np.__version__}", f"pandas=={pandas.__version__}"]


CHAMPION = "champion"
# Model-version tags the champion decision reads: the validation score and the validation data it was measured on.
VALIDATION_SCORE = "val_cse_mean"
VALIDATION_DIGEST = "validation_data_digest"


def log_clock_reader(network, reader_config: Mapping[str, Any], name: str = "clock_reader") -> str:
    """Log the clock network as the pyfunc clock reader (pipeline/serving/clock_reader.py, with models/ beside it).

    The signature states the output table; the input, grey uint8 images (N, H, W) or (N, H, W, 1) of any size,
    is checked by the reader itself, because MLflow's tensor schemas fix the number of dimensions.
    """
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    signature = ModelSignature(outputs=Schema([ColSpec("long", "hour"), ColSpec("long", "minute"),
                                               ColSpec("string", "time")]))
    with tempfile.TemporaryDirectory() as tmp:
        keras_file = Path(tmp) / "network.keras"
        network.save(keras_file)
        config_file = Path(tmp) / "reader_config.json"
        config_file.write_text(json.dumps(reader_config, indent=2))
        info = mlflow.pyfunc.log_model(
            name=name, python_model=str(config.ROOT / "pipeline" / "serving" / "clock_reader.py"),
            artifacts={"keras_model": str(keras_file), "reader_config": str(config_file)},
            code_paths=[str(config.ROOT / "models")], signature=signature, pip_requirements=model_requirements(),
            metadata={"input": "uint8 grey images, shape (N, H, W) or (N, H, W, 1), any size",
                      "output": "hour 0-11, minute 0-59, time 'H:MM'", **{k: str(v) for k, v in reader_config.items()}})
    return info.model_uri


def register_if_better(model_uri: str, name: str, score: float | None, data_digest: str | None,
                       reported: Mapping[str, str] | None = None, description: str = "") -> tuple[str, bool, str]:
    """Register a model version, described by `description` and tagged with its validation score (lower is
    better), the digest of the validation data it was measured on, and `reported` figures (a test score: recorded,
    never compared). The `champion` alias moves to it only if it beats the current champion's validation score on
    the same validation data; a model with no validation score becomes champion only where there is none.
    Returns (version, moved, why)."""
    client = mlflow.MlflowClient()
    version = register(model_uri, name, description)
    tags = {**(reported or {}), VALIDATION_DIGEST: data_digest or "none"}
    if score is not None:
        tags[VALIDATION_SCORE] = f"{score:.6f}"
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException as exc:
        # Only a missing model or alias means "no champion yet" (the SQLite store answers the latter with
        # INVALID_PARAMETER_VALUE); a server's refusal or failure is not taken for it.
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        current = None
    moved, why = champion_decision(current, score, data_digest)
    if moved:
        client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "champion_decision", why)
    return version, moved, why


def champion_decision(current, score: float | None, data_digest: str | None) -> tuple[bool, str]:
    """Whether a new version with validation `score` on data `data_digest` takes the alias from `current`."""
    if current is None:
        return True, "first version: becomes champion"
    if score is None:
        return False, f"no validation score to compare; champion v{current.version} stays"
    if VALIDATION_SCORE not in current.tags:
        # A champion chosen without a validation score (registered first without one, or by an older rule on test)
        # would otherwise hold the alias for good.
        return True, f"validation CSE {score:.3f} replaces champion v{current.version}, which has no validation score"
    if current.tags.get(VALIDATION_DIGEST) != data_digest:
        return False, (f"champion v{current.version} was validated on other data "
                       f"({current.tags.get(VALIDATION_DIGEST, 'unknown')[:12]}); not comparable, left in place")
    best = float(current.tags[VALIDATION_SCORE])
    if score < best:
        return True, f"validation CSE {score:.3f} beats champion v{current.version} ({best:.3f})"
    return False, f"validation CSE {score:.3f} does not beat champion v{current.version} ({best:.3f}); champion stays"


def load_pyfunc(model_uri: str):
    """Load a pyfunc model (a registered alias, a run's model, a path); a missing one is bad input."""
    configure()
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        raise InputError(None, f"cannot load model {model_uri}: {str(exc).splitlines()[0]}") from None


