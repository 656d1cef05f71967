"""Named budgets for the whole study, kept as data: smoke (CI, minutes), quick (half an hour), full (benchmarks)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """How much data and compute each step of the study gets."""
    name: str
    clock_count: int   # rendered clock images (train + validation + test)
    clock_size: int    # 150 or 75 pixels


PROFILES = {
    "smoke": Profile("smoke", clock_count=720, clock_size=75),
    "quick": Profile("quick", clock_count=18000, clock_size=75),
    "full": Profile("full", clock_count=18000, clock_size=150),
}


def get_profile(name: str) -> Profile:
    """The profile called `name`; unknown names list the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
