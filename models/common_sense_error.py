"""The common-sense error: how many minutes apart two times are on a 12-hour dial (11:55 vs 0:05 is 10)."""
from __future__ import annotations

MINUTES_ON_DIAL = 720


def minutes_on_dial(hour, minute):
    """Hour (0-11) and minute (0-59) as minutes past 12 o'clock, 0-719."""
    return hour * 60 + minute


def common_sense_error(predicted_minutes, true_minutes):
    """The circular difference in minutes, in [0, 360], over arrays of minutes past 12.

    Plain arithmetic (no minimum, no library calls), so the same function serves numpy arrays, Python numbers
    and tensors inside a Keras metric: min(d, 720 - d) is 360 - |d - 360| for d in [0, 720).
    """
    d = abs(predicted_minutes - true_minutes) % MINUTES_ON_DIAL
    return MINUTES_ON_DIAL // 2 - abs(d - MINUTES_ON_DIAL // 2)
