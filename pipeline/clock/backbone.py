"""The clock readers' shared start: a backbone pretrained to see where the dial's 12 and the hands point.

A clock reader learns nothing until it has found the 12 (the numerals, 3-4 px at 75 px, are the only sign of the
dial's rotation), and finding it takes more training images than a quick comparison can give each representation
(benchmarks/README.md). So the comparison pays it once: a backbone is trained on targets no representation owns
(sin and cos of the dial's rotation and of each hand's direction in the image, known for rendered clocks), and
every representation, the champion too, starts from its weights. Same start, same budget: the comparison stays
fair. The backbone is a registered model of its own (MODEL_NAME), its metadata saying what it was built for, so
any clock reader, on any data, can start from it by its model URI.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.errors import InputError
from pipeline.tracking import registry, runs

MODEL_NAME = "clock-backbone"
ARTIFACT = "backbone"
ARCHITECTURE = ("widths", "blocks_per_stage", "dropout")  # the Backbone fields its metadata records


def pretrain(request, splits, epochs: int) -> str:
    """Train the pretext network on the request's training split (rendered clocks) inside the active run, then log
    and register its backbone; returns the registered version's model URI."""
    import keras

    from models.clock_net import (
        build_pretext_trainer,
        compile_pretext_trainer,
        dial_encoding,
        hands_encoding,
        warmup_cosine,
    )
    from pipeline.clock.data import arrange, dial_rotations, minutes_of
    from pipeline.training import MetricsToRun, PreciseBatchNorm, fit

    train, validation, _ = arrange(splits, dataclasses.replace(request, budget=dataclasses.replace(
        request.budget, train_limit=None)))
    rotations = dial_rotations(request, splits, len(train.y), None)
    if rotations is None:
        raise InputError(splits.folder, "a backbone is pretrained on rendered clocks only (their poses are known)")

    def targets(turns, labels):
        return {"dial": dial_encoding(turns), "hands": hands_encoding(turns, minutes_of(labels))}

    architecture = request.architecture
    runs.log_params({"pretext": "dial and hand directions", "source": "synthetic", "count": request.count,
                     "image_size": request.image_size, "epochs": epochs, "batch_size": request.budget.batch_size,
                     "learning_rate": request.learning_rate, "train_images": len(train.y),
                     "backbone": dataclasses.asdict(architecture), "seed": request.seed})
    keras.utils.set_random_seed(request.seed)
    trainer = build_pretext_trainer(request.image_size, architecture)
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
    model_uri = log_backbone(trainer.get_layer("backbone"), request, x_train[:2])
    runs.set_tags({"step": "clock_backbone", "model_uri": model_uri})
    print(f"backbone pretrained: {fitted.epochs} epochs, {fitted.seconds:.0f} s; registered as {model_uri}", flush=True)
    return model_uri


def log_backbone(backbone, request, images: np.ndarray) -> str:
    """Log the trained backbone (a Keras model on 0-1 grey pixels) with what it was built for as its metadata, and
    register it as a version of MODEL_NAME; returns that version's model URI."""
    metadata = built_for(request.image_size, request.architecture)
    logged = registry.log_keras_model(backbone, ARTIFACT, (images / 255.0).astype(np.float32), metadata)
    version = registry.register(logged, MODEL_NAME, (
        f"clock backbone for {request.image_size} px grey images, pretrained on rendered clocks to find where the "
        f"dial's 12 and each hand point (sin and cos); widths {list(request.architecture.widths)}"))
    return f"models:/{MODEL_NAME}/{version}"


def built_for(image_size: int, architecture) -> dict:
    """The metadata a pretrained backbone carries: the image size and the Backbone fields it was built with."""
    fields = dataclasses.asdict(architecture)
    return {"image_size": image_size, **{name: fields[name] for name in ARCHITECTURE},
            "widths": [int(width) for width in fields["widths"]]}


def resolve(request):
    """The request with its backbone's architecture as the pretrained backbone's metadata gives it, so nobody
    repeats its widths; checked without TensorFlow: a URI with no model behind it, a model that is no clock
    backbone, or one built for another image size is bad input. A request without a backbone, or resolved
    already, is returned as is."""
    if not request.backbone or request.pretrained:
        return request
    metadata = registry.model_metadata(request.backbone, "backbone")
    missing = [name for name in ("image_size", *ARCHITECTURE) if name not in metadata]
    if missing:
        raise InputError(None, f"{request.backbone} is not a pretrained clock backbone (its metadata has no "
                               f"{', '.join(missing)})")
    if int(metadata["image_size"]) != request.image_size:
        raise InputError(None, f"backbone {request.backbone} was pretrained on {metadata['image_size']} px images, "
                               f"this model reads {request.image_size} px")
    pretrained = {"widths": tuple(int(width) for width in metadata["widths"]),
                  "blocks_per_stage": int(metadata["blocks_per_stage"]), "dropout": float(metadata["dropout"])}
    return dataclasses.replace(request, pretrained=pretrained)


def start_from(model_uri: str, model) -> None:
    """Copy the pretrained backbone's weights into `model`'s backbone (built as its metadata says); the head stays
    as it was."""
    pretrained = registry.load_keras_model(model_uri)
    model.get_layer("backbone").set_weights(pretrained.get_weights())
