"""The bot token's share of Discord's global rate limit (bot/request_budget.py), on a virtual
clock: however the requests fall, no second sees more than the limit, and none waits longer than
it must."""

from __future__ import annotations

import asyncio

from bot.request_budget import RequestBudget
from tests.conftest import FakeClock, deadline


def budget(limit: float, clock: FakeClock, slept: list[float]) -> RequestBudget:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        await asyncio.sleep(0)

    return RequestBudget(limit, monotonic=clock, sleep=sleep)


async def test_a_flood_of_requests_gets_at_most_the_limit_in_any_second() -> None:
    clock, slept = FakeClock(0.0), []
    limit = budget(50, clock, slept)
    granted: list[float] = []
    with deadline(10):  # a token short by a rounding error once made it wait for ever
        for _ in range(500):
            await limit.acquire()
            granted.append(clock.now)
    windows = [sum(1 for t in granted if start <= t < start + 1) for start in granted]
    assert max(windows) <= 50
    assert granted[-1] <= (500 - limit.burst) / limit.rate + 1e-6  # and no longer than needed


async def test_requests_that_fit_never_wait() -> None:
    clock, slept = FakeClock(0.0), []
    limit = budget(50, clock, slept)
    for _ in range(100):  # 40 a second, spread out
        await limit.acquire()
        clock.now += 1 / 40
    assert slept == []


async def test_the_budget_says_when_requests_are_waiting_for_it() -> None:
    clock, gate = FakeClock(0.0), asyncio.Event()

    async def until_the_gate_opens(_: float) -> None:
        await gate.wait()
        clock.now += 1.0

    limit = RequestBudget(1.0, monotonic=clock, sleep=until_the_gate_opens)
    await limit.acquire()
    assert not limit.congested
    waiting = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    assert limit.congested
    gate.set()
    await waiting
    assert not limit.congested
