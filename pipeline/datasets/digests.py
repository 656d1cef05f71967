"""SHA-256 digests of raw files and of arrays, so a split can be traced to exactly what it was made from."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from pipeline.errors import InputError


def files_sha256(paths: list[Path]) -> str:
    """One digest over several files, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except FileNotFoundError:
            raise InputError(path, "file not found") from None
    return digest.hexdigest()


def array_sha256(array: np.ndarray) -> str:
    """Digest of an array's dtype, shape and bytes."""
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()
