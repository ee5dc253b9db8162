"""Work shared by several processes over one database (bot/store/work.py, bot/store/shared.py):
each process is a Store with a claimant of its own, on one database, its clock injected. Rows
are claimed once, however many processes claim at the same moment; a lease that runs out hands
the row to another process; what the processes agree on (a notice sent once, the shared request
budget) holds under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.store import Claimant, Generation, NewGeneration, Store, open_store
from tests.backends import Backend
from tests.conftest import FakeClock

LEASE = 30.0
SETTLE = 35.0  # the HTTP timeout and its margin: a cut-off create is repeated after this


def new(key: str, user_id: int = 7) -> NewGeneration:
    return NewGeneration(
        guild_id=1, channel_id=2, user_id=user_id, locale="en-US", prompt="a cat",
        negative_prompt=None, quality="720p", aspect_ratio="16:9", duration=5, seed=None,
        prompt_extend=None, audio_url=None, idempotency_key=key, next_poll_at=0.0,
    )  # fmt: skip


@pytest.fixture
async def processes(backend: Backend, clock: FakeClock) -> AsyncIterator[list[Store]]:
    """Four processes, A to D, on the test's database."""
    stores = [
        await open_store(backend.target, clock=clock, claimant=Claimant(name, LEASE), pool_size=3)
        for name in "ABCD"
    ]
    yield stores
    for store in stores:
        await store.close()


async def running_tasks(store: Store, count: int, clock: FakeClock) -> list[Generation]:
    """`count` tasks running at EvoLink, due for a look now, nobody's."""
    rows = []
    for number in range(count):
        g = await store.generations.add(new(f"key-{number}", user_id=number))
        rows.append(
            await store.generations.mark_submitted(
                g.id, task_id=f"task-{number}", status="processing", progress=10,
                credits_reserved=5.0, estimated_seconds=60, next_poll_at=clock.now,
            )
        )  # fmt: skip
    await store.work.release_all()
    return rows


async def test_processes_claiming_at_once_never_take_the_same_task(
    processes: list[Store], clock: FakeClock
) -> None:
    *claiming, last = processes
    tasks = await running_tasks(last, 120, clock)
    taken = await asyncio.gather(*(s.work.polls(clock.now, 40) for s in claiming))
    taken.append(await last.work.polls(clock.now, 200))  # what the others left
    everything = [g.id for batch in taken for g in batch]
    assert sorted(everything) == sorted(g.id for g in tasks)  # each once, none left out
    for store, batch in zip(processes, taken, strict=True):
        assert {await claimed_by(store, g.id) for g in batch} <= {store.work.claimant.name}


async def test_a_dead_process_leaves_its_tasks_to_another_within_one_lease(
    processes: list[Store], clock: FakeClock
) -> None:
    a, b, *_ = processes
    tasks = await running_tasks(a, 5, clock)
    assert len(await a.work.polls(clock.now, 10)) == 5  # A looks, then dies mid-look
    clock.now += LEASE - 1
    assert await b.work.polls(clock.now, 10) == []  # A's lease still runs: not B's
    assert await b.work.next_poll_at(settle=SETTLE) == pytest.approx(clock.now + 1)
    clock.now += 1
    taken = await b.work.polls(clock.now, 10)
    assert sorted(g.id for g in taken) == [g.id for g in tasks]
    assert {await claimed_by(b, g.id) for g in taken} == {"B"}


async def test_a_live_process_renews_its_leases_and_keeps_its_work(
    processes: list[Store], clock: FakeClock
) -> None:
    a, b, *_ = processes
    await running_tasks(a, 3, clock)
    await a.work.polls(clock.now, 10)
    for _ in range(5):  # a slow look: A renews every third of a lease
        clock.now += LEASE / 3
        assert await a.work.renew() == 3
        assert await b.work.polls(clock.now, 10) == []


async def test_a_task_stays_with_the_process_that_looked_last_until_it_falls_behind(
    processes: list[Store], clock: FakeClock
) -> None:
    a, b, *_ = processes
    [task] = await running_tasks(a, 1, clock)
    [looked] = await a.work.polls(clock.now, 10)
    assert await a.generations.record_progress(
        task.id, status="processing", progress=40, next_poll_at=clock.now + 5
    )
    clock.now += 5  # due: A (its schedule knows the task) takes it, B leaves it a moment
    assert await b.work.polls(clock.now, 10) == []
    clock.now += Claimant("B").grace  # A does not: gone, or behind
    assert [g.id for g in await b.work.polls(clock.now, 10)] == [task.id]
    # the answer to A's late look is dropped: B's look counts
    assert not await a.generations.record_progress(
        task.id, status="processing", progress=50, next_poll_at=clock.now + 5
    )
    row = await b.generations.get(task.id)
    assert row is not None and row.progress == 40 and await claimed_by(b, task.id) == "B"
    assert looked.id == task.id


async def test_a_finished_video_is_delivered_by_one_process_once(
    processes: list[Store], clock: FakeClock
) -> None:
    a, b, c, _ = processes
    [task] = await running_tasks(a, 1, clock)
    await a.work.polls(clock.now, 10)
    done = await a.generations.record_finished(
        task.id, status="completed", result_url="https://v/x.mp4"
    )
    assert done is not None and await claimed_by(a, task.id) == "A"  # A delivers it at once
    assert await b.work.deliveries(10) == [] and await c.work.deliveries(10) == []
    clock.now += LEASE  # A died before delivering it
    taken = await asyncio.gather(b.work.deliveries(10), c.work.deliveries(10))
    assert sorted(len(t) for t in taken) == [0, 1]
    assert await b.generations.mark_delivered(task.id, via="channel", message_id=5)
    assert not await c.generations.mark_delivered(task.id, via="channel", message_id=6)
    clock.now += LEASE
    assert await b.work.deliveries(10) == [] and await c.work.deliveries(10) == []


async def test_a_process_that_stops_gives_its_work_back_at_once(
    processes: list[Store], clock: FakeClock
) -> None:
    a, b, *_ = processes
    await running_tasks(a, 4, clock)
    await a.work.polls(clock.now, 10)
    assert await a.work.release_all() == 4
    assert len(await b.work.polls(clock.now, 10)) == 4


async def test_a_create_cut_off_by_a_dead_process_is_repeated_once_it_cannot_be_in_flight(
    processes: list[Store], clock: FakeClock
) -> None:
    """A's create call began, then A died: the row waits for A's lease to run out AND for the
    call to be surely over (SETTLE after it began), not for the minute a lost create waits."""
    a, b, *_ = processes
    g = await a.generations.add(new("key-cut"))
    await a.generations.retry_unsubmitted_later(g.id, clock.now + 60, starting=True)
    clock.now += LEASE
    assert await b.work.unsubmitted(clock.now, 10, settle=SETTLE) == []  # may be in flight
    assert await b.work.next_poll_at(settle=SETTLE) == pytest.approx(clock.now + 5 + 2)
    clock.now += 5
    assert [r.id for r in await b.work.unsubmitted(clock.now, 10, settle=SETTLE)] == [g.id]


async def test_a_notice_is_sent_by_one_process_per_period(
    processes: list[Store], clock: FakeClock
) -> None:
    told = await asyncio.gather(*(s.shared.claim_notice("low balance", 3600) for s in processes))
    assert sorted(told) == [False, False, False, True]
    clock.now += 3599
    assert not any([await s.shared.claim_notice("low balance", 3600) for s in processes])
    clock.now += 1
    assert [await s.shared.claim_notice("low balance", 3600) for s in processes].count(True) == 1


async def test_a_pause_is_learned_by_the_processes_running_when_it_was_asked_for(
    processes: list[Store], clock: FakeClock
) -> None:
    a, b, *_ = processes
    started = clock.now
    clock.now += 1
    await a.shared.extend("evolink creates paused", clock.now + 30)
    await b.shared.extend("evolink creates paused", clock.now + 10)  # never shortened
    assert await b.shared.until("evolink creates paused", since=started) == clock.now + 30
    assert await b.shared.until("evolink creates paused", since=clock.now) is None


async def test_the_request_budget_never_grants_more_than_the_limit_to_all_processes(
    processes: list[Store], clock: FakeClock
) -> None:
    """Discord's 50 requests a second for the bot token (RequestBudget: a reserve of 5 and 45
    a second), asked for far more often by four processes together, over ten seconds."""
    rate, burst, step = 45.0, 5.0, 0.05
    granted: list[int] = []
    for _ in range(200):
        asks = [s.shared.take("bot token", rate, burst, clock.now) for s in processes * 3]
        waits = await asyncio.gather(*asks)
        assert all(w == 0.0 or 0 < w <= 1 / rate + 1e-9 for w in waits)
        granted.append(waits.count(0.0))
        clock.now += step
    per_second = [sum(granted[i : i + 20]) for i in range(len(granted) - 19)]
    assert max(per_second) <= rate + burst  # no second sees more than the limit
    assert sum(granted) >= 0.97 * (burst + rate * 10)  # and the budget is spent, not lost


async def test_a_high_limit_is_taken_several_requests_at_a_time_and_still_never_exceeded(
    processes: list[Store], clock: FakeClock
) -> None:
    """Where Discord allows a bot far more, a process takes many requests in one round trip
    to the database; all processes together still get no more than the bucket holds."""
    rate, burst = 9_000.0, 1_000.0
    first, *others = processes
    assert await first.shared.take_some("bot token", rate, burst, clock.now, want=180) == (180, 0)
    taken = [await s.shared.take_some("bot token", rate, burst, clock.now, want=400)
             for s in others]  # fmt: skip
    assert [n for n, _ in taken] == [400, 400, 20][: len(others)]
    granted, wait = await first.shared.take_some("bot token", rate, burst, clock.now, want=5)
    assert granted == 0 and 0 < wait <= 1 / rate
    clock.now += 0.5  # 4,500 refilled, of which the bucket holds its 1,000
    assert (await first.shared.take_some("bot token", rate, burst, clock.now, want=2_000))[
        0
    ] == 1000


async def claimed_by(store: Store, generation_id: int) -> str | None:
    row = await store.fetchone("SELECT claimed_by FROM generations WHERE id = ?", generation_id)
    assert row is not None
    return None if row[0] is None else str(row[0])
