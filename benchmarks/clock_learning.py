"""How soon does a clock reader start to learn? Validation CSE after every epoch, with images per second.

    python benchmarks/clock_learning.py [--size 75] [--epochs 12] [--train 14400] [--head periodic] [--minutes 15]

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
    args = parser.parse_args()

    import numpy as np

    from pipeline.clock import minutes_of
    from pipeline.preprocess import Request, prepare

    splits, _ = prepare(Request("clock", "synthetic", 0, args.size, 18000))
    import keras

    from models.clock_net import build_clock_model, compile_clock_model, warmup_cosine
    from models.time_heads import HeadSpec

    spec = HeadSpec(head=args.head)
    x, y = np.asarray(splits.train.x)[:args.train], minutes_of(np.asarray(splits.train.y)[:args.train])
    validation = (np.asarray(splits.validation.x)[..., None], minutes_of(np.asarray(splits.validation.y)))
    keras.utils.set_random_seed(0)
    model = build_clock_model(spec, args.size, augment=True)
    steps = int(np.ceil(len(y) / args.batch_size)) * args.epochs
    compile_clock_model(model, spec, warmup_cosine(args.learning_rate, steps))
    started = time.perf_counter()

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.began
            print(json.dumps({"size": args.size, "head": args.head, "epoch": epoch + 1,
                              "train_cse": round(logs["cse"], 1), "val_cse": round(logs["val_cse"], 1),
                              "images_per_second": round(len(y) / seconds),
                              "elapsed_s": round(time.perf_counter() - started)}), flush=True)
            if time.perf_counter() - started > args.minutes * 60:
                self.model.stop_training = True

    model.fit(x[..., None], y, validation_data=validation, epochs=args.epochs, batch_size=args.batch_size,
              verbose=0, callbacks=[Report()])


if __name__ == "__main__":
    main()
