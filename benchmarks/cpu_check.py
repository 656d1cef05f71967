"""A fixed CPU check, to tell a slow phase of this virtual machine from a slower change: run it before and after
a timing.

    python benchmarks/cpu_check.py    # prints the seconds of a 5-million-step Python loop and of 20 float32
                                      # 1500x1500 matrix products
"""
from __future__ import annotations

import time

import numpy as np


def python_loop(steps: int = 5_000_000) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(steps):
        total += i * i
    return time.perf_counter() - started


def matrix_products(size: int = 1500, count: int = 20) -> float:
    x = np.random.default_rng(0).random((size, size), dtype=np.float32)
    started = time.perf_counter()
    for _ in range(count):
        x @ x
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"python loop {python_loop():.2f} s, matmul {matrix_products():.2f} s")
