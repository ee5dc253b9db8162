"""The credit figures EvoLink reports, checked before a member is charged by them.

EvoLink's `usage.credits_reserved` (create answer) and `usage.credits_used` (final answer) decide
what a member pays, so they are hostile input like any other answer: a negative figure would
give credits away, an absurd one would take a year's allowance. A figure is believed only when
it is above 0 and at most CHARGE_CEILING times the bot's own estimate; otherwise the member is
charged what is already held for the video and the owner and moderators are told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from bot.credits import Prices
from bot.store import Generation

log = logging.getLogger(__name__)

#: EvoLink's figure is believed up to this many times the bot's estimate. The price table is
#: kept at or above EvoLink's prices and billing follows the requested duration, so a true
#: charge is at most the estimate; twice leaves room for a table that lags behind a price rise,
#: while a unit mix-up or another task's figure (10, 100, 1000 times) is stopped, and no member
#: ever pays more than twice the cost they were shown.
CHARGE_CEILING = 2.0

Stage = Literal["reserved", "used"]  # the create answer's reservation, or the final charge


@dataclass(frozen=True)
class ChargeAnomaly:
    """A figure from EvoLink that was not believed, and what the member was charged instead."""

    generation: Generation
    task_id: str
    stage: Stage
    reported: float
    kept: float
    estimate: float
    ceiling: float


@dataclass(frozen=True)
class CheckedCharge:
    charge: float | None  # what to settle and record; None: no figure and nothing held yet
    anomaly: ChargeAnomaly | None = None


def check_reported(
    prices: Prices, generation: Generation, reported: float | None, *, stage: Stage, task_id: str
) -> CheckedCharge:
    """What the member pays for EvoLink's `reported` figure (None: EvoLink gave none).

    A figure out of bounds keeps what is held: EvoLink's accepted reservation, else the bot's
    estimate. 0 counts as out of bounds: a finished video that EvoLink says cost nothing is more
    often a missing figure than a gift, and charging the held amount can be undone with a
    moderator's refund, whereas a video given away unnoticed cannot be recovered.
    """
    estimate = prices.estimate(generation.quality, generation.duration)
    held = generation.credits_reserved if generation.credits_reserved is not None else estimate
    if reported is None:
        return CheckedCharge(held if stage == "used" else None)
    if estimate <= 0:
        return CheckedCharge(0.0)  # the owner gives videos away: nothing to charge or doubt
    ceiling = round(estimate * CHARGE_CEILING, 4)
    if 0 < reported <= ceiling:
        return CheckedCharge(reported)
    log.error(
        "EvoLink reported %s credits %s for generation %s (task %s), outside 0 < x <= %s "
        "(twice the estimate of %s); charging the %s held instead",
        *(_figure(reported), stage, generation.id, task_id),
        *(_figure(ceiling), _figure(estimate), _figure(held)),
    )
    anomaly = ChargeAnomaly(generation, task_id, stage, reported, held, estimate, ceiling)
    return CheckedCharge(held, anomaly)


def _figure(value: float) -> str:
    return format(value, ".10g")  # 5000, -5, 7.5: exact enough for an audit, no float noise
