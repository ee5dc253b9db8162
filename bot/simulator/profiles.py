"""How a task reports its progress while it runs, and how far its real run time strays from the
estimate it was given.

EvoLink publishes neither: ``progress`` is "0 to 100" and ``estimated_time`` is "seconds". A bot
that predicts when a task ends from them must stay honest when they mislead, so each task follows
one of these progress profiles, and its real run time may be its estimate times a factor:

  linear            1 % to 99 % evenly over the processing time (the simulator's default)
  s-curve           slow to start, fast in the middle, slow to finish
  stepwise          jumps: 1 %, then 25, 50 and 75 % at each quarter
  none-until-done   0 % until the task ends
  stuck-then-done   linear to 99 % by 60 % of the time, then stuck at 99 % until the end

A task always reads 0 % while pending and 100 % once completed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Final

PROGRESS_PROFILES: Final = ("linear", "s-curve", "stepwise", "none-until-done", "stuck-then-done")
STUCK_FROM: Final = 0.6  # stuck-then-done reaches 99 % at this fraction of its processing time


def _linear(fraction: float) -> int:
    return 1 + int(98 * fraction)


def _s_curve(fraction: float) -> int:
    return 1 + int(98 * fraction * fraction * (3 - 2 * fraction))  # smoothstep


def _stepwise(fraction: float) -> int:
    return max(1, 25 * int(4 * fraction))


def _none_until_done(fraction: float) -> int:
    return 0


def _stuck_then_done(fraction: float) -> int:
    return 1 + int(98 * min(1.0, fraction / STUCK_FROM))


_PROFILES: Final[Mapping[str, Callable[[float], int]]] = {
    "linear": _linear,
    "s-curve": _s_curve,
    "stepwise": _stepwise,
    "none-until-done": _none_until_done,
    "stuck-then-done": _stuck_then_done,
}


def progress_profile(value: str) -> str:
    """A checked profile name (ValueError otherwise)."""
    if value not in _PROFILES:
        raise ValueError(f"progress profile must be one of {', '.join(PROGRESS_PROFILES)}")
    return value


def processing_progress(profile: str, fraction: float) -> int:
    """The progress a processing task reports, `fraction` (0 to 1) into its processing time;
    never 100 (only a completed task says 100)."""
    return min(99, max(0, _PROFILES[profile](min(1.0, max(0.0, fraction)))))


def run_time_factors(value: object) -> tuple[float, float]:
    """A checked (low, high) range of run-time factors: one number, or two, low <= high, each
    above 0 (ValueError otherwise)."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not 1 <= len(items) <= 2:
        raise ValueError("run_time_factors must be one factor or a [low, high] pair")
    numbers: list[float] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ValueError("run_time_factors must be numbers")
        if not (math.isfinite(item) and item > 0):
            raise ValueError("run-time factors must be finite numbers above 0")
        numbers.append(float(item))
    low, high = numbers[0], numbers[-1]
    if low > high:
        raise ValueError("run_time_factors must be [low, high] with low <= high")
    return low, high


def run_time_factor(value: str) -> float:
    """One checked factor (a prompt's ``[[runtime:X]]``)."""
    return run_time_factors(float(value))[0]


def draw_factor(factors: tuple[float, float], rng: random.Random) -> float:
    """A factor between low and high, log-uniformly: 0.5 and 2 are equally likely."""
    low, high = factors
    if low == high:
        return low
    return math.exp(rng.uniform(math.log(low), math.log(high)))
