"""The tracker against the simulator: batch queries with a fallback, outages, rate limits."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import pytest

from bot.simulator import SimTask, Simulator
from bot.store import Generation
from bot.tracker import Delivery
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    USER_ID,
    FakeDiscord,
    dispatch,
    option,
    running_bot,
    slash_command,
    wait_until,
)
from tests.conftest import BotFactory, FakeClock


async def submit(bot: VideoBot, count: int) -> None:
    for n in range(count):
        await dispatch(bot, slash_command("video", [option("prompt", f"scene {n}")],
                                          user_id=USER_ID + n))  # fmt: skip


def queries(sim: Simulator) -> tuple[int, int]:
    batch = len([r for r in sim.requests if r.path == "/v1/tasks/batch"])
    single = len([r for r in sim.requests if r.method == "GET" and r.path.startswith("/v1/tasks/")])
    return batch, single


def delivered(fake: FakeDiscord) -> int:
    return len(
        [m for m in fake.channel_messages(CHANNEL_ID) if "your video is ready" in m["content"]]
    )


async def test_sixty_tasks_are_followed_with_two_batch_queries(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await submit(bot, 60)
    clock.advance(30)
    await bot.tracker.run_once()
    assert queries(simulator) == (2, 0)
    clock.advance(31)
    await bot.tracker.run_once()
    assert queries(simulator) == (4, 0)
    assert delivered(fake_discord) == 60


async def test_without_a_batch_route_it_falls_back_to_single_queries(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.batch_enabled = False
    await submit(bot, 3)
    clock.advance(30)
    await bot.tracker.run_once()
    assert queries(simulator) == (1, 3)
    clock.advance(31)
    await bot.tracker.run_once()
    assert queries(simulator) == (1, 6)  # no second try of the batch route for an hour
    assert delivered(fake_discord) == 3


async def test_tasks_due_a_moment_apart_share_one_batch_query(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await submit(bot, 1)
    clock.advance(0.5)
    await submit(bot, 1)
    clock.advance(9.6)  # the first is due, the second 0.4 s later
    await bot.tracker.run_once()
    batches = [r for r in simulator.requests if r.path == "/v1/tasks/batch"]
    assert len(batches) == 1 and len(batches[0].json["task_ids"]) == 2


async def test_an_outage_pauses_polling_instead_of_hammering(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await submit(bot, 2)
    simulator.faults.add(route="batch", status=503, always=True)
    simulator.faults.add(route="query", status=503, always=True)
    sent = len(simulator.requests)
    for _ in range(6):
        clock.advance(10)
        await bot.tracker.run_once()
    calls = len(simulator.requests) - sent
    assert calls <= 3 * 4  # 4 tries per query (client retries), at most three passes that query
    simulator.faults.clear()
    clock.advance(600)
    await bot.tracker.run_once()
    assert delivered(fake_discord) == 2


async def test_rate_limit_retry_after_is_honoured(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await submit(bot, 1)
    simulator.faults.add(route="batch", status=429, retry_after="120", always=True)
    clock.advance(30)
    await bot.tracker.run_once()
    row = await bot.store.generations.get(1)
    assert row is not None and row.next_poll_at is not None
    assert row.next_poll_at >= clock.now + 120
    simulator.faults.clear()
    clock.advance(60)
    before = len(simulator.requests)
    await bot.tracker.run_once()
    assert len(simulator.requests) == before  # still waiting out the Retry-After


async def test_a_refused_key_while_polling_is_reported_once(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    reports: list[str] = []

    async def report(bot: VideoBot, exc: Exception) -> None:
        reports.append(str(exc))

    monkeypatch.setattr(VideoBot, "report_key_refused", report)  # the tracker is given it
    async with running_bot(make_bot(), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await submit(bot, 2)
        simulator.faults.add(route="any", status=401, always=True)
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                clock.advance(61)
                await bot.tracker.run_once()
        assert len(reports) == 1
        assert len([r for r in caplog.records if "refused the API key" in r.getMessage()]) == 1
        rows = [await bot.store.generations.get(n) for n in (1, 2)]
        assert all(r is not None and r.status == "submitted" for r in rows)  # kept, not failed


async def test_a_slow_delivery_does_not_hold_up_polling_or_other_deliveries(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    release = asyncio.Event()
    real_deliver = bot.notifier.deliver

    async def first_upload_hangs(generation: Generation) -> Delivery:
        if generation.id == 1:
            await release.wait()  # e.g. Discord takes its time with a large upload
        return await real_deliver(generation)

    monkeypatch.setattr(bot.notifier, "deliver", first_upload_hangs)
    await submit(bot, 1)
    clock.advance(30)
    await submit(bot, 1)  # a second task, 30 s behind the first
    loop = asyncio.create_task(bot.tracker.run())
    try:
        clock.advance(31)  # the first task is done at the API
        bot.tracker.wake()
        await wait_until(lambda: 1 in bot.tracker._delivering, within=5, what="the first delivery")
        clock.advance(30)  # now the second one too
        bot.tracker.wake()
        await wait_until(lambda: delivered(fake_discord) == 1, within=5, what="one delivery")
        second = await bot.store.generations.get(2)
        assert second is not None and second.delivered_at is not None
        first = await bot.store.generations.get(1)
        assert first is not None and first.delivered_at is None  # still uploading
        release.set()
        await wait_until(lambda: delivered(fake_discord) == 2, within=5, what="both deliveries")
    finally:
        bot.tracker.stop()
        await asyncio.wait_for(loop, 5)
    first = await bot.store.generations.get(1)
    assert first is not None and first.delivered_via == "channel"


async def test_stopping_waits_for_the_deliveries_in_flight(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    release = asyncio.Event()
    real_deliver = bot.notifier.deliver

    async def slow(generation: Generation) -> Delivery:
        await release.wait()
        return await real_deliver(generation)

    monkeypatch.setattr(bot.notifier, "deliver", slow)
    await submit(bot, 1)
    clock.advance(61)
    loop = asyncio.create_task(bot.tracker.run())
    await wait_until(lambda: 1 in bot.tracker._delivering, within=5, what="the first delivery")
    bot.tracker.stop()
    await asyncio.sleep(0.05)
    assert not loop.done()  # the video is still on its way
    release.set()
    await asyncio.wait_for(loop, 5)
    assert delivered(fake_discord) == 1


async def test_one_unreadable_task_does_not_pause_polling_for_the_others(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    simulator.batch_enabled = False
    await submit(bot, 3)
    broken = (await bot.store.generations.get(2)).task_id  # type: ignore[union-attr]
    real_answer = simulator._answer

    def answer(task: SimTask) -> dict[str, Any]:  # one task's answer lacks its status
        data = real_answer(task)
        return {**data, "status": None} if task.id == broken else data

    monkeypatch.setattr(simulator, "_answer", answer)
    for _ in range(14):  # 70 s in 5 s steps: the others finish meanwhile
        clock.advance(5)
        await bot.tracker.run_once()
    assert delivered(fake_discord) == 2
    asked_at = {r.time for r in simulator.requests if r.path == f"/v1/tasks/{broken}"}
    assert len(asked_at) >= 5  # asked every interval, not backed off as if EvoLink were down
    row = await bot.store.generations.get(2)
    assert row is not None and row.status == "submitted"  # kept: it may read well later


async def test_a_missing_batch_route_is_learnt_from_one_probe_not_a_burst(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.batch_enabled = False
    await submit(bot, 120)  # three chunks of 50 at the first look
    clock.advance(30)
    await bot.tracker.run_once()
    assert queries(simulator) == (1, 120)


async def follow_to_delivery(bot: VideoBot, clock: FakeClock, generation_id: int) -> list[float]:
    """Move the clock to each look the tracker planned, until the video is delivered; returns
    the times of the looks."""
    looks: list[float] = []
    while True:
        row = await bot.store.generations.get(generation_id)
        assert row is not None
        if row.delivered_at is not None:
            return looks
        assert row.next_poll_at is not None and len(looks) < 50
        clock.now = max(clock.now, row.next_poll_at)
        looks.append(clock.now)
        await bot.tracker.run_once()


async def test_a_video_longer_than_its_estimate_is_seen_a_moment_after_it_ends(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """EvoLink says 6 s, the video takes 10 s: seen about when it ends, not an interval after
    the estimate (16 s)."""
    simulator.book.task_seconds, simulator.book.pending_seconds = 6.0, 1.0
    started = clock.now
    await dispatch(bot, slash_command("video", [option("prompt", "a kite [[runtime:1.67]]")]))
    looks = await follow_to_delivery(bot, clock, 1)
    ended = started + 6.0 * 1.67
    assert looks[0] == pytest.approx(started + 6.0)  # first at the estimate
    assert len(looks) <= 4
    assert ended <= looks[-1] <= ended + 1.5
    assert delivered(fake_discord) == 1


async def test_a_video_that_reports_no_progress_is_still_looked_at_every_interval(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """EvoLink says 60 s, reports 0 % throughout, and the video takes 120 s."""
    started = clock.now
    prompt = "a kite [[progress:none-until-done]] [[runtime:2]]"
    await dispatch(bot, slash_command("video", [option("prompt", prompt)]))
    looks = await follow_to_delivery(bot, clock, 1)
    gaps = [b - a for a, b in itertools.pairwise([started, *looks])]
    assert all(1.0 <= gap <= 10.0 for gap in gaps)
    assert looks[-1] - (started + 120.0) <= 10.0
    rows = [r for r in simulator.requests if r.path == "/v1/tasks/batch"]
    assert len(rows) == len(looks)  # one query a look, in a batch


async def test_a_look_aimed_at_a_videos_end_is_not_taken_early_to_fill_a_batch(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """Two 4 s videos started half a second apart: the pass at the first one's end does not
    take the second early (it would find it running and cost a second look)."""
    simulator.book.task_seconds, simulator.book.pending_seconds = 4.0, 1.0
    await submit(bot, 1)
    clock.advance(0.5)
    await submit(bot, 1)
    first, second = [(await bot.store.generations.get(n)) for n in (1, 2)]
    assert first is not None and second is not None
    clock.now = first.next_poll_at or 0.0
    await bot.tracker.run_once()
    [batch] = [r for r in simulator.requests if r.path == "/v1/tasks/batch"]
    assert batch.json["task_ids"] == [first.task_id]
    clock.now = second.next_poll_at or 0.0
    await bot.tracker.run_once()
    asked = [r.json["task_ids"] for r in simulator.requests if r.path == "/v1/tasks/batch"]
    assert asked == [[first.task_id], [second.task_id]]  # each looked at once, as it ended
    assert delivered(fake_discord) == 2
