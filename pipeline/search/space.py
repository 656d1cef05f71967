"""The Task 1 search space, written once as a table, and the points every study starts from (Geron's reference
networks first).

Each row is one choice the objective asks the trial for, in order; `when` makes a row depend on earlier answers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
                "random_normal", "random_uniform", "zeros")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid")
OPTIMIZERS = ("sgd", "adam", "adamw", "nadam", "rmsprop", "adamax")
ADAM_LIKE = ("adam", "adamw", "nadam", "adamax")
MAX_MLP_LAYERS = 4
MAX_DENSE_LAYERS = 2


@dataclass(frozen=True)
class Param:
    """One row of the table: a name, a kind ('choice', 'int', 'float'), its values or range, and when it applies."""
    name: str
    kind: str
    values: tuple
    log: bool = False
    when: Callable[[dict], bool] | None = None
    note: str = ""


def P(name, kind, values, log=False, when=None, note=""):
    """A row of the table, short to write so the table reads as one."""
    return Param(name, kind, tuple(values), log, when, note)


COMMON = [
    P("initializer", "choice", INITIALIZERS),
    P("activation", "choice", ACTIVATIONS),
    P("optimizer", "choice", OPTIMIZERS),
    P("learning_rate", "float", (1e-4, 3e-2), log=True),
    P("momentum", "float", (0.0, 0.99), when=lambda c: c["optimizer"] in ("sgd", "rmsprop"),
      note="sgd, rmsprop"),
    P("nesterov", "choice", (False, True), when=lambda c: c["optimizer"] == "sgd", note="sgd"),
    P("beta_1", "float", (0.8, 0.99), when=lambda c: c["optimizer"] in ADAM_LIKE, note="adam family"),
    P("weight_decay", "float", (1e-5, 1e-1), log=True, when=lambda c: c["optimizer"] == "adamw", note="adamw"),
    P("regularizer", "choice", ("none", "l1", "l2")),
    P("reg_strength", "float", (1e-6, 1e-3), log=True, when=lambda c: c["regularizer"] != "none",
      note="l1, l2"),
    P("dropout", "float", (0.0, 0.5), note="all (after each dense block)"),
    P("batch_norm", "choice", (False, True)),
    P("augment", "choice", (False, True), note="all (left-right flips, shifts up to 10%)"),
    P("batch_size", "choice", (32, 64, 128, 256)),
]

MLP = [P("n_layers", "int", (1, MAX_MLP_LAYERS))] + [
    P(f"units_{i}", "int", (32, 1024), log=True, when=lambda c, i=i: c["n_layers"] >= i, note=f"n_layers >= {i}")
    for i in range(1, MAX_MLP_LAYERS + 1)]

CNN = [
    P("n_blocks", "int", (1, 4), note="all (stem, then blocks of convs; each ends in a pool)"),
    P("filters", "int", (16, 64), log=True, note="stem filters; doubled each block, at most 256"),
    P("first_kernel", "choice", (3, 5, 7)),
    P("kernel", "choice", (3, 5), when=lambda c: c["n_blocks"] > 1, note="n_blocks > 1"),
    P("convs_per_block", "int", (1, 3), when=lambda c: c["n_blocks"] > 1, note="n_blocks > 1"),
    P("pooling", "choice", ("max", "avg")),
    P("head", "choice", ("flatten", "gap"), note="all (flatten or global average pooling)"),
    P("dense_layers", "int", (0, MAX_DENSE_LAYERS)),
] + [P(f"dense_units_{i}", "int", (32, 512), log=True, when=lambda c, i=i: c["dense_layers"] >= i,
       note=f"dense_layers >= {i}") for i in range(1, MAX_DENSE_LAYERS + 1)]

SPACE = {"mlp": COMMON + MLP, "cnn": COMMON + CNN}

# Geron, Hands-on ML (3rd ed.), chapters 10 and 14: the networks every study starts from.
REFERENCE = {
    "mlp": {"initializer": "glorot_uniform", "activation": "relu", "optimizer": "sgd", "learning_rate": 0.01,
            "momentum": 0.0, "nesterov": False, "regularizer": "none", "dropout": 0.0, "batch_norm": False,
            "augment": False, "batch_size": 32, "n_layers": 2, "units_1": 300, "units_2": 100},
    "cnn": {"initializer": "he_normal", "activation": "relu", "optimizer": "nadam", "learning_rate": 0.001,
            "beta_1": 0.9, "regularizer": "none", "dropout": 0.5, "batch_norm": False, "augment": False,
            "batch_size": 32, "n_blocks": 3, "filters": 64, "first_kernel": 7, "kernel": 3, "convs_per_block": 2,
            "pooling": "max", "head": "flatten", "dense_layers": 2, "dense_units_1": 128, "dense_units_2": 64},
}

# Geron's CNN as it is trained today: the same three blocks at half the filters, a 3x3 stem, batch normalization,
# Adam and one dense block of 256. Short trials rank deep networks below shallow ones that learn faster, though this
# one does well once refit with augmentation (benchmarks/README.md). Queued second, it gives the sampler a deep
# network that is known to train.
MODERNISED_CNN = {"initializer": "he_normal", "activation": "relu", "optimizer": "adam", "learning_rate": 0.001,
                  "beta_1": 0.9, "regularizer": "none", "dropout": 0.3, "batch_norm": True, "augment": False,
                  "batch_size": 128, "n_blocks": 3, "filters": 32, "first_kernel": 3, "kernel": 3,
                  "convs_per_block": 2, "pooling": "max", "head": "flatten", "dense_layers": 1,
                  "dense_units_1": 256}

# The configurations every new study tries first, in this order (the reference first), by the short names their refits
# and the search's gain over them carry.
NAMED_STARTING_POINTS = {"mlp": {"reference": REFERENCE["mlp"]},
                         "cnn": {"reference": REFERENCE["cnn"], "modernised": MODERNISED_CNN}}
STARTING_POINTS = {family: list(points.values()) for family, points in NAMED_STARTING_POINTS.items()}


def suggest(trial: optuna.Trial, family: str) -> dict[str, Any]:
    """Ask the trial for every row of the family's table that applies, in order; returns the config."""
    config: dict[str, Any] = {}
    for row in SPACE[family]:
        if row.when is not None and not row.when(config):
            continue
        if row.kind == "choice":
            config[row.name] = trial.suggest_categorical(row.name, list(row.values))
        elif row.kind == "int":
            config[row.name] = trial.suggest_int(row.name, *row.values, log=row.log)
        else:
            config[row.name] = trial.suggest_float(row.name, *row.values, log=row.log)
    return config


def applies(family: str, config: dict[str, Any]) -> bool:
    """True when `config` answers exactly the rows of the table that apply to it, each within its range."""
    expected: dict[str, Any] = {}
    for row in SPACE[family]:
        if row.when is not None and not row.when(expected):
            continue
        if row.name not in config:
            return False
        value = config[row.name]
        inside = value in row.values if row.kind == "choice" else row.values[0] <= value <= row.values[1]
        if not inside:
            return False
        expected[row.name] = value
    return set(expected) == set(config)


def space_table(family: str):
    """The table as a DataFrame, for the README and the search run's artifacts."""
    import pandas as pd

    return pd.DataFrame([{"parameter": r.name, "kind": r.kind + (" (log)" if r.log else ""),
                          "values": ", ".join(map(str, r.values)) if r.kind == "choice"
                          else f"{r.values[0]} .. {r.values[1]}", "applies to": r.note or "all"}
                         for r in SPACE[family]])
