"""Labels only, from scratch: can the public anchors' kind of network read our rendered clocks from hour and minute?

    python benchmarks/labels_only_towers.py --folder <course-format folder> [--size 75] [--epochs 40]
        [--relative 1] [--minutes 80] [--norm none]

The network the anchors used on the course's data: plain 3x3 convolutions with max pooling, then Flatten (so
position is kept) and a dense tower per output, a 12-way hour softmax and the minute as sin/cos, no rotation
augmentation. With --relative, a third output learns sin/cos of the angle from the hour hand to the minute hand
(5.5 degrees a minute): a target the labels alone give, and that no rotation of the clock changes. The folder is
split by a seeded permutation (seed 0): 14,400 training and 1,800 validation images of 18,000. Prints one JSON
line per epoch with the validation CSE; nothing is tracked: the question is whether the curve leaves chance
(180 minutes).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", required=True, help="images.npy and labels.npy, course format")
    p.add_argument("--size", type=int, default=75)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--widths", default="16,32,64", help="stage widths; each stage ends with a 2x2 max pooling")
    p.add_argument("--convs", default="1,2,2", help="3x3 convolutions per stage")
    p.add_argument("--last", type=int, default=64, help="width of one more convolution before Flatten (0: none)")
    p.add_argument("--dense", type=int, default=256, help="units of each output's dense tower")
    p.add_argument("--relative", type=float, default=0.0, help="loss weight of the hands' relative angle (0: none)")
    p.add_argument("--minutes", type=float, default=80.0, help="stop after this many minutes")
    p.add_argument("--norm", choices=("batch", "none"), default="batch",
                   help="batch normalization after each convolution, or none (as the anchors)")
    return p.parse_args()


def relative_angle(minutes):
    """sin and cos of the angle from the hour hand to the minute hand: 5.5 degrees a minute past 12."""
    import numpy as np

    turn = np.radians((5.5 * minutes) % 360)
    return np.stack([np.sin(turn), np.cos(turn)], axis=1).astype(np.float32)


def network(args):
    """The anchors' network on uint8 images: convolutions, Flatten, one dense tower per output."""
    import keras
    from keras import layers

    from models.normalization import batch_norm

    def convolution(x, width):
        if args.norm == "none":
            return layers.Conv2D(width, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
        return layers.ReLU()(batch_norm()(layers.Conv2D(width, 3, padding="same", use_bias=False)(x)))

    inputs = keras.Input((args.size, args.size, 1), dtype="uint8")
    x = layers.Rescaling(1 / 255)(inputs)
    for width, count in zip(map(int, args.widths.split(",")), map(int, args.convs.split(","))):
        for _ in range(count):
            x = convolution(x, width)
        x = layers.MaxPooling2D()(x)
    if args.last:
        x = convolution(x, args.last)
    x = layers.Dropout(0.3)(layers.Flatten()(x))

    def tower(name):
        return layers.Dropout(0.2)(layers.Dense(args.dense, activation="relu", name=name)(x))

    minute_tower = tower("minute_tower")
    time_output = layers.Concatenate(name="time")([layers.Dense(12, activation="softmax")(tower("hour_tower")),
                                                   layers.Dense(2)(minute_tower)])
    outputs = {"time": time_output}
    if args.relative:
        outputs["relative"] = layers.Dense(2, name="relative")(minute_tower)
    return keras.Model(inputs, outputs)


def compiled(args, model, train_count: int):
    """Adam with the clock step's warm-up and cosine schedule; multihead loss (hour classes, minute sin/cos)."""
    import keras
    import numpy as np

    from models.clock_net import warmup_cosine
    from models.time_heads import HeadSpec, cse_metric, loss_function

    spec = HeadSpec(head="multihead", minute_head="periodic")
    schedule = warmup_cosine(args.learning_rate, int(np.ceil(train_count / 64)) * args.epochs)
    losses, weights = {"time": loss_function(spec)}, {"time": 1.0}
    if args.relative:
        losses["relative"], weights["relative"] = "mse", args.relative
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=losses, loss_weights=weights,
                  metrics={"time": [cse_metric(spec)]})
    return model


def epoch_report(args, train_count: int):
    """One JSON line per epoch; stops the fit after --minutes."""
    import keras

    started = time.perf_counter()

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            cse = "time_cse" if "time_cse" in logs else "cse"
            line = {"size": args.size, "relative": args.relative, "norm": args.norm, "epoch": epoch + 1,
                    "train_cse": round(logs[cse], 1), "val_cse": round(logs["val_" + cse], 1),
                    "images_per_second": round(train_count / (time.perf_counter() - self.began)),
                    "elapsed_s": round(time.perf_counter() - started)}
            if "val_relative_loss" in logs:
                line["val_relative_mse"] = round(logs["val_relative_loss"], 3)
            print(json.dumps(line), flush=True)
            if time.perf_counter() - started > args.minutes * 60:
                self.model.stop_training = True

    return Report()


def main() -> None:
    import keras
    import numpy as np

    from models.clock_input import resize_to

    args = parse_args()
    images, labels = np.load(Path(args.folder) / "images.npy"), np.load(Path(args.folder) / "labels.npy")
    order = np.random.default_rng(0).permutation(len(labels))
    train, validation = order[:14400], order[14400:16200]
    minutes = ((labels[:, 0] % 12) * 60 + labels[:, 1]).astype(np.float32)
    images = resize_to(images, args.size)[..., None]

    def targets(index):
        return {"time": minutes[index], **({"relative": relative_angle(minutes[index])} if args.relative else {})}

    keras.utils.set_random_seed(0)
    model = compiled(args, network(args), len(train))
    model.fit(images[train], targets(train), validation_data=(images[validation], targets(validation)),
              epochs=args.epochs, batch_size=64, verbose=0, callbacks=[epoch_report(args, len(train))])


if __name__ == "__main__":
    main()
