"""How soon does a clock reader start to learn? Validation CSE after every epoch, with images per second.

    python benchmarks/clock_learning.py [--size 75] [--epochs 12] [--train 14400] [--head periodic] [--minutes 15]
        [--dial-weight 1] [--no-augment]

Renders (or reuses) the 18,000 synthetic clocks of the given size under $PIPELINE_DATA_DIR (default data/), trains
the project's clock network (models/clock_net.py) with the clock step's schedule (warm-up, then cosine decay over
--epochs), and prints one JSON line per epoch. With --dial-weight, the network also learns where the dial's 12
points (the clock step's dial output, built and fed as the step does it); rotation augmentation is then off.
Nothing is tracked: the question is the learning curve and its cost, to size the clock budgets. Stops after
--minutes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args() -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=75, choices=(75, 150))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--train", type=int, default=14400, help="training images used (of 14,400)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--head", default="periodic")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--dial-weight", type=float, default=0.0,
                        help="> 0: train the dial output too, with this loss weight (no rotation augmentation)")
    parser.add_argument("--no-augment", action="store_true", help="no rotation augmentation")
    return parser.parse_args()


def compiled_network(args):
    """The compiled network, its training images, training targets and validation data, and whether it augments:
    built and fed as the clock step does it."""
    import keras
    import numpy as np

    from models.clock_net import (
        Backbone,
        build_clock_model,
        build_clock_trainer,
        compile_clock_model,
        compile_clock_trainer,
        warmup_cosine,
    )
    from models.time_heads import HeadSpec
    from pipeline.clock.data import dial_targets, load_clock_data, minutes_of
    from pipeline.clock.request import ClockRequest
    from pipeline.config import ClockBudget

    spec = HeadSpec(head=args.head)
    request = ClockRequest(head={"head": args.head}, image_size=args.size, count=18000,
                           budget=ClockBudget(epochs=args.epochs, patience=args.epochs, dial_weight=args.dial_weight))
    splits = load_clock_data(request)
    x, y = np.asarray(splits.train.x)[:args.train], minutes_of(np.asarray(splits.train.y)[:args.train])
    validation = (np.asarray(splits.validation.x)[..., None], minutes_of(np.asarray(splits.validation.y)))
    keras.utils.set_random_seed(0)
    schedule = warmup_cosine(args.learning_rate, int(np.ceil(len(y) / args.batch_size)) * args.epochs)
    augment = not (args.no_augment or args.dial_weight > 0)
    if args.dial_weight > 0:
        model, _ = build_clock_trainer(spec, args.size, Backbone())
        compile_clock_trainer(model, spec, schedule, args.dial_weight)
        dial = dial_targets(request, splits, len(y), None)
        y = {"time": y, "dial": dial["train"]}
        validation = (validation[0], {"time": validation[1], "dial": dial["validation"]})
    else:
        model = compile_clock_model(build_clock_model(spec, args.size, Backbone(), augment=augment), spec, schedule)
    return model, x, y, validation, augment


def epoch_report(args, augment: bool, train_images: int):
    """A callback printing one JSON line per epoch and stopping the fit after --minutes."""
    import keras

    started = time.perf_counter()

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.began
            cse = "time_cse" if "time_cse" in logs else "cse"
            print(json.dumps({"size": args.size, "head": args.head,
                              "dial_weight": args.dial_weight, "augment": augment,
                              "epoch": epoch + 1, "train_cse": round(logs[cse], 1),
                              "val_cse": round(logs["val_" + cse], 1),
                              **({"val_dial_loss": round(logs["val_dial_loss"], 3)} if "val_dial_loss" in logs
                                 else {}),
                              "images_per_second": round(train_images / seconds),
                              "elapsed_s": round(time.perf_counter() - started)}), flush=True)
            if time.perf_counter() - started > args.minutes * 60:
                self.model.stop_training = True

    return Report()


def main() -> None:
    """Train the clock network and report every epoch."""
    args = parse_args()
    model, x, y, validation, augment = compiled_network(args)
    model.fit(x[..., None], y, validation_data=validation, epochs=args.epochs, batch_size=args.batch_size,
              verbose=0, callbacks=[epoch_report(args, augment, len(x))])


if __name__ == "__main__":
    main()
