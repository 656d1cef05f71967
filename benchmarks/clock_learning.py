"""How soon does a clock reader start to learn? Validation CSE after every epoch, with images per second.

    python benchmarks/clock_learning.py [--size 75] [--epochs 12] [--train 14400] [--head periodic] [--minutes 15]
        [--pooling average|flatten]

Renders (or reuses) the 18,000 synthetic clocks of the given size under $PIPELINE_DATA_DIR (default data/), trains
the project's clock network (models/clock_net.py, the backbone every comparison uses) with the clock step's
schedule (warm-up, then cosine decay), and prints one JSON line per epoch. Nothing is tracked: the question is
the learning curve and its cost, to size the `quick` and `full` clock budgets. Stops after --minutes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=75, choices=(75, 150))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--train", type=int, default=14400, help="training images used (of 14,400)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--head", default="periodic")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--pooling", default="average", choices=("average", "flatten"))
    parser.add_argument("--orientation-weight", type=float, default=0.0,
                        help="> 0: a second output learns where the dial's 12 points (sin/cos of the rendered "
                             "rotation), with this loss weight; turns rotation augmentation off, which would "
                             "change that angle")
    parser.add_argument("--fine-stem", action="store_true", help="the backbone's fine stem (see models/clock_net.py)")
    parser.add_argument("--aux-target", default="dial", choices=("dial", "minute_hand"),
                        help="what the second output learns: the dial's rotation, or (a check that the network "
                             "can learn any angle) the minute hand's direction in the image")
    args = parser.parse_args()

    import numpy as np

    from pipeline.clock import minutes_of
    from pipeline.preprocess import Request, prepare

    splits, _ = prepare(Request("clock", "synthetic", 0, args.size, 18000))
    import keras

    from models.clock_net import Backbone, build_clock_model, compile_clock_model, warmup_cosine
    from models.time_heads import HeadSpec, cse_metric, loss_function

    spec = HeadSpec(head=args.head)
    x, y = np.asarray(splits.train.x)[:args.train], minutes_of(np.asarray(splits.train.y)[:args.train])
    validation = (np.asarray(splits.validation.x)[..., None], minutes_of(np.asarray(splits.validation.y)))
    keras.utils.set_random_seed(0)
    steps = int(np.ceil(len(y) / args.batch_size)) * args.epochs
    schedule = warmup_cosine(args.learning_rate, steps)
    if args.orientation_weight > 0:
        model = orientation_model(spec, args.size, Backbone(pooling=args.pooling, fine_stem=args.fine_stem))
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss={"time": loss_function(spec), "dial": "mse"},
                      loss_weights={"time": 1.0, "dial": args.orientation_weight},
                      metrics={"time": [cse_metric(spec)]})
        dial = dial_angles(splits, args.size, args.aux_target)
        y = {"time": y, "dial": dial["train"][:args.train]}
        validation = (validation[0], {"time": validation[1], "dial": dial["validation"]})
    else:
        model = build_clock_model(spec, args.size, Backbone(pooling=args.pooling, fine_stem=args.fine_stem), augment=True)
        compile_clock_model(model, spec, schedule)
    started = time.perf_counter()

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.began
            cse = "time_cse" if "time_cse" in logs else "cse"
            print(json.dumps({"size": args.size, "head": args.head, "pooling": args.pooling,
                              "orientation_weight": args.orientation_weight, "aux_target": args.aux_target, "fine_stem": args.fine_stem, "epoch": epoch + 1,
                              "train_cse": round(logs[cse], 1), "val_cse": round(logs["val_" + cse], 1),
                              **({"val_dial_loss": round(logs["val_dial_loss"], 3)} if "val_dial_loss" in logs
                                 else {}),
                              "images_per_second": round(len(x) / seconds),
                              "elapsed_s": round(time.perf_counter() - started)}), flush=True)
            if time.perf_counter() - started > args.minutes * 60:
                self.model.stop_training = True

    model.fit(x[..., None], y, validation_data=validation, epochs=args.epochs, batch_size=args.batch_size,
              verbose=0, callbacks=[Report()])


def orientation_model(spec, image_size: int, backbone):
    """The clock network with a second output: sin and cos of the dial's rotation in the image."""
    import keras
    from keras import layers

    from models.clock_net import backbone_features
    from models.time_heads import output_layer

    inputs = keras.Input((image_size, image_size, 1), dtype="uint8", name="image")
    features = backbone_features(inputs, image_size, backbone)
    time = layers.Identity(name="time")(output_layer(spec, features))
    dial = layers.Dense(2, name="dial")(features)
    return keras.Model(inputs, {"time": time, "dial": dial})


def dial_angles(splits, size: int, target: str = "dial", seed: int = 0) -> dict:
    """Per split, sin and cos of each rendered clock's rotation: the renderer draws image i's pose first from
    default_rng([seed, i]), and preprocess shuffles with default_rng(seed) before splitting 80/10/10."""
    import math

    import numpy as np

    from pipeline.datasets.clock_renderer import render_random, sample_pose
    from pipeline.datasets.splits import fractions_to_sizes
    from pipeline.preprocess import CLOCK_SPLIT

    count = sum(len(splits[name].y) for name in ("train", "validation", "test"))
    order = np.random.default_rng(seed).permutation(count)
    hour, minute = splits.train.y[0]
    if not np.array_equal(render_random(float(hour), float(minute), seed, int(order[0]), size), splits.train.x[0]):
        raise SystemExit("the training images are not the renderer's in the order assumed here")
    turn = np.array([math.radians(sample_pose(np.random.default_rng([seed, int(i)])).rotation) for i in order])
    if target == "minute_hand":
        labels = np.concatenate([splits[name].y for name in ("train", "validation", "test")])
        turn += np.radians(6.0 * labels[:, 1])
    both = np.stack([np.sin(turn), np.cos(turn)], axis=1).astype("float32")
    sizes = fractions_to_sizes(count, CLOCK_SPLIT)
    return {"train": both[:sizes["train"]], "validation": both[sizes["train"]:sizes["train"] + sizes["validation"]]}


if __name__ == "__main__":
    main()
