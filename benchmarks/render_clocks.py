"""Time the synthetic clock renderer end to end on the course's full set.

    python benchmarks/render_clocks.py [--count 18000] [--size 150] [--workers N] [--style=STYLE]

Prints images per second, wall seconds, the machine's core count and its load average
before the run. The requirement is 18,000 images at 150 px in at most 90 s on a 2-core
machine, with every style family on (the default); other load on the machine makes the
figure noisy, so quote it with what else was running.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.datasets.clock_renderer import render_clocks  # noqa: E402


def main() -> None:
    """Render once and report the throughput."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=18000)
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="default: os.cpu_count()")
    parser.add_argument("--style", default="all", help="style families (docs/clock.md); write --style=-name")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    start = time.perf_counter()
    images, labels = render_clocks(count=args.count, size=args.size, seed=args.seed, workers=args.workers,
                                   style=args.style)
    wall = time.perf_counter() - start
    print(f"rendered {images.shape[0]} images of {args.size}x{args.size} px, style {args.style} "
          f"(workers={args.workers or os.cpu_count()}, cores={os.cpu_count()}, load average before {load:.2f})")
    print(f"wall seconds: {wall:.2f}")
    print(f"images/s: {images.shape[0] / wall:.0f}")
    print(f"ms per image per core: {1000 * wall * (os.cpu_count() or 1) / images.shape[0]:.2f}")
    print(f"labels: {labels[0].tolist()} .. {labels[-1].tolist()}, mean grey {images.mean():.1f}")


if __name__ == "__main__":
    main()
