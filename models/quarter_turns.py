"""Reading each clock four times, turned by a quarter turn each time, and averaging what the network says.

A clock's time does not change when its picture is turned in its plane, and the readers are trained on clocks at
every orientation; a quarter turn moves no pixel off the square and interpolates nothing. Averaging the four
readings cuts the hour misreads (benchmarks/README.md).
"""
from __future__ import annotations

import numpy as np

from models.time_heads import HeadSpec, mean_outputs

TURNS = 4


def quarter_turns(images: np.ndarray) -> list[np.ndarray]:
    """The batch (N, H, W[, C]) as it is, then turned by one, two and three quarter turns."""
    return [np.rot90(images, k, axes=(1, 2)) for k in range(TURNS)]


def outputs_per_turn(network, images: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """The network's head outputs for square images (N, S, S, 1) at each quarter turn, the unturned first."""
    return [network.predict(np.ascontiguousarray(view), batch_size=batch_size, verbose=0)
            for view in quarter_turns(images)]


def read_outputs(network, spec: HeadSpec, images: np.ndarray, batch_size: int, turned: bool = True) -> np.ndarray:
    """The network's head outputs for square images (N, S, S, 1): averaged over the four quarter turns with
    `turned`, else of the images as given."""
    if not turned:
        return network.predict(images, batch_size=batch_size, verbose=0)
    return mean_outputs(spec, outputs_per_turn(network, images, batch_size))
