"""A data set as published: its official train and test sets, where they were read from, and their digest."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OfficialSets:
    """The official train and test sets as uint8 images and int64 labels, with their source and SHA-256."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: str
