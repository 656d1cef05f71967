"""The clock comparison's shared start: a backbone pretrained to see where the dial's 12 and the hands point.

A clock reader learns nothing until it has found the 12 (the numerals, 3-4 px at 75 px, are the only sign of the
dial's rotation), and finding it takes more training images than a quick comparison can give each representation
(benchmarks/README.md). So the comparison pays it once: a backbone is trained on targets no representation owns
(sin and cos of the dial's rotation and of each hand's direction in the image, known for rendered clocks), and
every representation, the champion too, starts from its weights. Same start, same budget: the comparison stays
fair.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from pipeline.errors import InputError
from pipeline.tracking import runs
from pipeline.training import MetricsToRun, PreciseBatchNorm, fit

ARTIFACT = "backbone"
WEIGHTS = "backbone.weights.h5"
CONFIG = "backbone.json"


def pretrain(request, splits, epochs: int) -> None:
    """Train the pretext network on the request's training split inside the active run and log its backbone's
    weights and configuration under `backbone/`."""
    import keras

    from models.clock_net import (
        build_pretext_trainer,
        compile_pretext_trainer,
        dial_encoding,
        hands_encoding,
        warmup_cosine,
    )
    from pipeline.clock.data import arrange, dial_rotations, minutes_of

    train, validation, _ = arrange(splits, dataclasses.replace(request, budget=dataclasses.replace(
        request.budget, train_limit=None)))
    rotations = dial_rotations(request, splits, len(train.y), None)
    if rotations is None:
        raise InputError(splits.folder, "a backbone is pretrained on rendered clocks only (their poses are known)")

    def targets(turns, labels):
        return {"dial": dial_encoding(turns), "hands": hands_encoding(turns, minutes_of(labels))}

    backbone = request.backbone
    runs.log_params({"pretext": "dial and hand directions", "image_size": request.image_size,
                     "epochs": epochs, "batch_size": request.budget.batch_size,
                     "learning_rate": request.learning_rate, "train_images": len(train.y),
                     "backbone": dataclasses.asdict(backbone), "seed": request.seed})
    keras.utils.set_random_seed(request.seed)
    trainer = build_pretext_trainer(request.image_size, backbone)
    steps = int(np.ceil(len(train.y) / request.budget.batch_size)) * epochs
    compile_pretext_trainer(trainer, warmup_cosine(request.learning_rate, steps))
    validation_data = None
    if validation is not None and "validation" in rotations:
        validation_data = (validation.x[..., None], targets(rotations["validation"], validation.y))
    x_train = train.x[..., None]
    fitted = fit(trainer, x_train, targets(rotations["train"], train.y), epochs=epochs,
                 batch_size=request.budget.batch_size, verbose=2, eager=request.budget.eager,
                 callbacks=[PreciseBatchNorm(x_train, validation_data, request.budget.batch_size), MetricsToRun()])
    runs.log_metrics({"train_seconds": fitted.seconds, "images_per_second": fitted.images_per_second})
    with tempfile.TemporaryDirectory() as tmp:
        trainer.get_layer("backbone").save_weights(Path(tmp) / WEIGHTS)
        (Path(tmp) / CONFIG).write_text(json.dumps(config_of(request.image_size, backbone)) + "\n")
        runs.log_artifacts(tmp, ARTIFACT)
    runs.set_tags({"step": "clock_backbone"})
    print(f"backbone pretrained: {fitted.epochs} epochs, {fitted.seconds:.0f} s", flush=True)


def config_of(image_size: int, backbone) -> dict:
    """What a pretrained backbone is for, written beside its weights and checked before they are loaded."""
    return {"image_size": image_size, "backbone": dataclasses.asdict(backbone)}


def fetch(run_id: str, dst: Path) -> Path:
    """The pretrained backbone of run `run_id`, copied to `dst`; returns its folder."""
    try:
        return runs.download_artifact(run_id, ARTIFACT, dst)
    except Exception as exc:  # MLflow raises several kinds for a missing run or artifact
        raise InputError(None, f"run {run_id} has no pretrained backbone ({ARTIFACT}/): {exc}") from None


def start_from(folder: Path, model, image_size: int, backbone) -> None:
    """Load the backbone weights in `folder` into `model`'s backbone; they must be for the same backbone and size."""
    config = json.loads((folder / CONFIG).read_text())
    wanted = json.loads(json.dumps(config_of(image_size, backbone)))  # as read back: tuples become lists
    if config != wanted:
        raise InputError(folder / CONFIG, f"the pretrained backbone is {config}, this model needs {wanted}")
    model.get_layer("backbone").load_weights(folder / WEIGHTS)
