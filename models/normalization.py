"""Batch normalization for networks trained for a few hundred steps, as the smoke and quick budgets do.

Keras' default momentum, 0.99, leaves the moving variance near its initial 1.0 for the first ~700 steps, while the
true variances after a first convolution on 0-1 pixels are ~0.01: until then a network in inference mode (validation,
test, prediction) squashes every image towards one output (benchmarks/README.md). 0.9 forgets the initial statistics
within ~70 steps.
"""
from __future__ import annotations

from keras import layers

MOMENTUM = 0.9


def batch_norm(**kwargs) -> layers.BatchNormalization:
    """A BatchNormalization layer whose moving statistics catch up within a short run."""
    return layers.BatchNormalization(momentum=MOMENTUM, **kwargs)
