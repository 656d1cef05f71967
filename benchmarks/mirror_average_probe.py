"""Mirror-average probe: how much reading each image and its left-right mirror, averaged, adds to a classifier
trained on flips, epoch by epoch.

    python benchmarks/mirror_average_probe.py --top-configs benchmarks/results/full-cnn-fifth-top-trials.json \\
        [--rank 3] [--epochs 6]

Trains the configuration with flips and shifts on the whole processed Fashion-MNIST training split, its learning
rate cosine-decayed over `--epochs` as a refit's is, and after every epoch prints the validation and test accuracy
of the classifier alone and averaged with its mirror reading (`models/mirror_average.py`). The test figures are
printed for this study of the method only; the pipeline chooses on validation and tests once.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_parser() -> argparse.ArgumentParser:
    from pipeline import cli

    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--top-configs", required=True, help="a top_configs.json (or a file in its format)")
    parser.add_argument("--rank", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=6)
    return parser


def probe(args) -> None:
    from pipeline.errors import InputError
    from pipeline.steps.transfer import read_json

    entries = {e["rank"]: e for e in read_json(args.top_configs)}
    if args.rank not in entries:
        raise InputError(args.top_configs, f"no rank {args.rank} (ranks {sorted(entries)})")
    entry = entries[args.rank]
    config = {**entry["config"], "augment": True}

    import keras

    from models.mirror_average import mirror_averaged
    from pipeline.datasets.splits import processed_dir, read_splits
    from pipeline.search.trials import INPUT_SHAPE, compile_classifier, steps_for
    from pipeline.training import fit, start_fresh

    data = read_splits(processed_dir("fashion_mnist", "seed0"))
    start_fresh(0)
    model = compile_classifier(entry["family"], config, INPUT_SHAPE,
                               decay_steps=steps_for(len(data.train.y), config["batch_size"], args.epochs))
    averaged = mirror_averaged(model, INPUT_SHAPE)

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1}
            for name, split in (("val", data.validation), ("test", data.test)):
                plain = (model.predict(split.x, batch_size=512, verbose=0).argmax(1) == split.y).mean()
                both = (averaged.predict(split.x, batch_size=512, verbose=0).argmax(1) == split.y).mean()
                row.update({f"{name}_plain": round(float(plain), 4), f"{name}_mirror_averaged": round(float(both), 4)})
            print(json.dumps(row), flush=True)

    fit(model, data.train.x, data.train.y, epochs=args.epochs, batch_size=config["batch_size"], callbacks=[Probe()])


def main() -> None:
    from pipeline import cli

    cli.main_with(build_parser, probe)


if __name__ == "__main__":
    main()
