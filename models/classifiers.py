"""Image classifiers built from a flat config (the search's answers): the MLP and CNN families, and their optimizers.

Configs are plain dicts with the keys of `pipeline.search.space`; every builder is a pure function of it.
"""
from __future__ import annotations

from typing import Mapping

import keras
from keras import layers

from models.normalization import batch_norm

MAX_FILTERS = 256  # Geron's deepest block; wider ones cost CPU time the budgets cannot spare


def regularizer(config: Mapping) -> keras.regularizers.Regularizer | None:
    """The weight penalty: none, L1 or L2, with its strength."""
    kind = config.get("regularizer", "none")
    if kind == "none":
        return None
    return {"l1": keras.regularizers.L1, "l2": keras.regularizers.L2}[kind](float(config["reg_strength"]))


def activation_layer(name: str) -> layers.Layer:
    """An activation as its own layer, so batch normalization can sit before it."""
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.2)
    return layers.Activation(name)


def augmentation(config: Mapping) -> list[layers.Layer]:
    """Label-preserving augmentation, active only while training: mirror left-right and shift a little."""
    if not config.get("augment", False):
        return []
    return [layers.RandomFlip("horizontal"), layers.RandomTranslation(0.1, 0.1, fill_mode="constant")]


def dense_block(units: int, config: Mapping, name: str) -> list[layers.Layer]:
    """Dense, optional batch normalization, activation, optional dropout."""
    block = [layers.Dense(units, kernel_initializer=config["initializer"], kernel_regularizer=regularizer(config),
                          use_bias=not config.get("batch_norm", False), name=name)]
    if config.get("batch_norm", False):
        block.append(batch_norm())
    block.append(activation_layer(config["activation"]))
    if config.get("dropout", 0) > 0:
        block.append(layers.Dropout(float(config["dropout"])))
    return block


def conv_layer(filters: int, kernel: int, config: Mapping) -> list[layers.Layer]:
    """Conv2D ('same' padding), optional batch normalization, activation."""
    block = [layers.Conv2D(filters, kernel, padding="same", kernel_initializer=config["initializer"],
                           kernel_regularizer=regularizer(config), use_bias=not config.get("batch_norm", False))]
    if config.get("batch_norm", False):
        block.append(batch_norm())
    block.append(activation_layer(config["activation"]))
    return block


def build_mlp(config: Mapping, input_shape: tuple[int, ...], n_classes: int = 10) -> keras.Model:
    """Flatten, `n_layers` dense blocks of `units_1`, `units_2`, ..., softmax."""
    stack = [keras.Input(input_shape, dtype="uint8"), layers.Rescaling(1 / 255), *augmentation(config),
             layers.Flatten()]
    for i in range(1, int(config["n_layers"]) + 1):
        stack += dense_block(int(config[f"units_{i}"]), config, name=f"dense_{i}")
    stack.append(layers.Dense(n_classes, activation="softmax", name="classes"))
    return keras.Sequential(stack, name="mlp")


def build_cnn(config: Mapping, input_shape: tuple[int, ...], n_classes: int = 10) -> keras.Model:
    """A stem conv (`filters`, `first_kernel`) and pool, then blocks of `convs_per_block` convs with twice the filters
    each (at most 256) and a pool, then a flatten or global-average head, `dense_layers` dense blocks, softmax.

    Geron's reference CNN is n_blocks=3, filters=64, first_kernel=7, convs_per_block=2, kernel=3, two dense blocks.
    """
    pool = {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D}[config["pooling"]]
    stack = [keras.Input(input_shape, dtype="uint8"), layers.Rescaling(1 / 255), *augmentation(config)]
    stack += conv_layer(int(config["filters"]), int(config["first_kernel"]), config) + [pool(pool_size=2)]
    for block in range(1, int(config["n_blocks"])):
        filters = min(int(config["filters"]) * 2 ** block, MAX_FILTERS)
        for _ in range(int(config["convs_per_block"])):
            stack += conv_layer(filters, int(config["kernel"]), config)
        stack.append(pool(pool_size=2))
    stack.append(layers.Flatten() if config["head"] == "flatten" else layers.GlobalAveragePooling2D())
    for i in range(1, int(config["dense_layers"]) + 1):
        stack += dense_block(int(config[f"dense_units_{i}"]), config, name=f"dense_{i}")
    stack.append(layers.Dense(n_classes, activation="softmax", name="classes"))
    return keras.Sequential(stack, name="cnn")


BUILDERS = {"mlp": build_mlp, "cnn": build_cnn}


def build_classifier(family: str, config: Mapping, input_shape: tuple[int, ...], n_classes: int = 10) -> keras.Model:
    """The model of `family` ('mlp' or 'cnn') that `config` describes, for images of `input_shape` (H, W, C)."""
    return BUILDERS[family](config, input_shape, n_classes)


def build_optimizer(config: Mapping, decay_steps: int | None = None) -> keras.optimizers.Optimizer:
    """The optimizer a config names, with its learning rate and main hyperparameters.

    With `decay_steps`, the rate follows a cosine from the config's value down to 1% of it over that many steps
    (for long refits; searches compare configs at their constant rate).
    """
    name, rate = config["optimizer"], float(config["learning_rate"])
    if decay_steps:
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=decay_steps, alpha=0.01)
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=float(config.get("momentum", 0.0)),
                                    nesterov=bool(config.get("nesterov", False)))
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rate, rho=float(config.get("rho", 0.9)),
                                        momentum=float(config.get("momentum", 0.0)))
    adam_like = {"adam": keras.optimizers.Adam, "nadam": keras.optimizers.Nadam, "adamax": keras.optimizers.Adamax}
    if name in adam_like:
        return adam_like[name](rate, beta_1=float(config.get("beta_1", 0.9)))
    if name == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=float(config.get("weight_decay", 0.004)),
                                      beta_1=float(config.get("beta_1", 0.9)))
    raise ValueError(f"unknown optimizer {name!r}")
