"""A crash between any two steps of a request's life, then a restart: exactly one task at
EvoLink, one charge, one delivery. The crash is a BaseException raised at the step, so nothing
after it runs, as if the process had been killed there."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.evolink import EvoLinkClient
from bot.generations import IN_FLIGHT_RETRY, VideoService, request_of
from bot.simulator import Simulator
from bot.store import open_store
from bot.store.generations import Generations
from bot.ui.client import VideoBot
from bot.ui.delivery import DiscordNotifier
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
from tests.backends import Backend
from tests.conftest import BotFactory, FakeClock


class Crash(BaseException):
    """The process dies here."""


def crash_before(cls: type, name: str) -> Callable[[pytest.MonkeyPatch], None]:
    def install(mp: pytest.MonkeyPatch) -> None:
        async def crashed(*args: Any, **kwargs: Any) -> Any:
            raise Crash(name)

        mp.setattr(cls, name, crashed)

    return install


def crash_after(cls: type, name: str) -> Callable[[pytest.MonkeyPatch], None]:
    def install(mp: pytest.MonkeyPatch) -> None:
        original: Callable[..., Awaitable[Any]] = getattr(cls, name)

        async def crashed(*args: Any, **kwargs: Any) -> Any:
            await original(*args, **kwargs)
            raise Crash(name)

        mp.setattr(cls, name, crashed)

    return install


STEPS = {
    "stored the request, before calling EvoLink": crash_before(EvoLinkClient, "create_task"),
    "EvoLink made the task, before its id was stored": crash_after(EvoLinkClient, "create_task"),
    # after submit() returns, so the transaction that stored the id has committed
    "task id stored, before the status message": crash_after(VideoService, "submit"),
    "status message posted, before its id was stored": crash_before(
        Generations, "set_status_message"
    ),
    "task finished and recorded, before delivery": crash_before(DiscordNotifier, "deliver"),
    "video posted, before that was recorded": crash_before(Generations, "mark_delivered"),
}


@dataclass(frozen=True)
class Left:
    """What the dead process left behind."""

    status: str
    task_id_stored: bool
    status_message_stored: bool
    delivered: bool
    tasks_at_evolink: int
    videos_posted: int


# Each step's crash must leave exactly the state it names (not roll it back to an earlier one).
LEFT_AT = {
    "stored the request, before calling EvoLink": Left("requested", False, False, False, 0, 0),
    "EvoLink made the task, before its id was stored": Left("requested", False, False, False, 1, 0),
    "task id stored, before the status message": Left("submitted", True, False, False, 1, 0),
    "status message posted, before its id was stored": Left("submitted", True, False, False, 1, 0),
    "task finished and recorded, before delivery": Left("completed", True, True, False, 1, 0),
    "video posted, before that was recorded": Left("completed", True, True, False, 1, 1),
}


async def left_behind(backend: Backend, simulator: Simulator, fake: FakeDiscord) -> Left:
    store = await open_store(backend.target)  # as the next process finds it
    try:
        row = await store.fetchone(
            "SELECT status, task_id, status_message_id, delivered_at FROM generations"
        )
    finally:
        await store.close()
    assert row is not None
    status, task_id, message_id, delivered_at = row
    return Left(
        status,
        task_id is not None,
        message_id is not None,
        delivered_at is not None,
        len(simulator.tasks),
        len(ready_messages(fake, CHANNEL_ID)),
    )


@pytest.mark.parametrize("step", list(STEPS))
async def test_restart_after_a_crash_gives_one_task_one_charge_one_delivery(
    step: str,
    fake_discord: FakeDiscord,
    make_bot: BotFactory,
    simulator: Simulator,
    clock: FakeClock,
    backend: Backend,
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        STEPS[step](mp)
        async with running_bot(make_bot(), fake_discord) as first:
            assert isinstance(first, VideoBot)
            crashed = False
            try:
                await dispatch(first, slash_command("video", [option("prompt", "a red fox")]))
                clock.advance(61)
                await first.tracker.run_once()
            except Crash:
                crashed = True
            assert crashed, "the crash point was reached"
    # the process is gone; what it left is the state the step names
    assert await left_behind(backend, simulator, fake_discord) == LEFT_AT[step]
    # a new one starts on the same database
    async with running_bot(make_bot(), fake_discord) as second:
        assert isinstance(second, VideoBot)
        for _ in range(4):
            clock.advance(61)
            await second.tracker.run_once()
        ledger = await second.store.fetchall(
            "SELECT kind, amount FROM credit_ledger WHERE generation_id = 1"
        )
        rows = await second.store.fetchall("SELECT status, delivered_via FROM generations")

    assert len(simulator.tasks) == 1, "exactly one paid task at EvoLink"
    assert sum(amount for _, amount in ledger) == -5.0, "charged once, 5 credits"
    ready = [m for m in fake_discord.channel_messages(CHANNEL_ID)
             if "your video is ready" in m["content"]]  # fmt: skip
    assert len(ready) == 1, "delivered once"
    assert [tuple(r) for r in rows] == [("completed", "channel")]
    public = [m for m in fake_discord.channel_messages(CHANNEL_ID) if m["kind"] == "channel"]
    assert public == ready, "one message for the video: no status message left behind"


def ready_messages(fake: FakeDiscord, channel_id: int | None) -> list[dict[str, Any]]:
    if channel_id is None:
        return []
    return [m for m in fake.channel_messages(channel_id) if "your video is ready" in m["content"]]


@pytest.mark.parametrize("fallback", ["followup", "dm"])
async def test_a_crash_while_sending_by_a_fallback_does_not_post_twice_after_restart(
    fallback: str,
    fake_discord: FakeDiscord,
    make_bot: BotFactory,
    simulator: Simulator,
    clock: FakeClock,
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        crash_before(Generations, "mark_delivered")(mp)
        async with running_bot(make_bot(), fake_discord) as first:
            assert isinstance(first, VideoBot)
            payload = slash_command("video", [option("prompt", "a red fox")])
            await dispatch(first, payload)
            if fallback == "dm":  # too late for a follow-up: the DM is the last resort
                fake_discord.expire_interaction(int(payload["id"]))
            fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                              status=403, code=50013)  # fmt: skip
            clock.advance(61)
            with pytest.raises(Crash):
                await first.tracker.run_once()  # posted by the fallback, then the process died
    # restarted, and the channel works again
    async with running_bot(make_bot(), fake_discord) as second:
        assert isinstance(second, VideoBot)
        clock.advance(61)
        await second.tracker.run_once()
        row = await second.store.generations.get(1)
    in_channel = ready_messages(fake_discord, CHANNEL_ID)
    in_dm = ready_messages(fake_discord, fake_discord.dm_channel_id(USER_ID))
    assert len(in_channel) + len(in_dm) == 1, "the member has the video once"
    assert len(in_dm if fallback == "dm" else in_channel) == 1
    assert row is not None and row.delivered_via == fallback


async def test_a_database_failure_after_evolink_made_the_task_is_recovered_and_paid_once(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """The task exists at EvoLink but its id could not be stored: the member must hear that it
    started (not "you were not charged, try again"), and it is recovered, charged and delivered
    once. The store is not what is tested here: its method simply raises once."""
    original = Generations.mark_submitted
    failures: list[str] = []

    async def locked_once(self: Generations, *args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append("database is locked")
            raise sqlite3.OperationalError("database is locked")
        return await original(self, *args, **kwargs)

    payload = slash_command("video", [option("prompt", "a red fox")])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Generations, "mark_submitted", locked_once)
        await dispatch(bot, payload)
    assert failures and len(simulator.tasks) == 1
    status = fake_discord.private_reply(int(payload["id"]))  # told privately
    assert "EvoLink has started your video" in status["content"]
    assert "a second video, paid separately" in status["content"]
    said = [status["content"], *(m["content"] for m in fake_discord.followups(int(payload["id"])))]
    assert not any("not charged" in text or "were not charged" in text for text in said)
    row = await bot.store.generations.get(1)
    assert row is not None and row.status == "requested" and row.task_id is None
    assert fake_discord.channel_messages(CHANNEL_ID) == [status]  # nothing public meanwhile

    for _ in range(3):
        clock.advance(61)
        await bot.tracker.run_once()
    ledger = await bot.store.fetchall("SELECT kind, amount FROM credit_ledger")
    assert len(simulator.tasks) == 1, "the same call, the same key: the same task"
    assert sum(amount for _, amount in ledger) == -5.0, "charged once"
    assert len(ready_messages(fake_discord, CHANNEL_ID)) == 1, "delivered once"
    row = await bot.store.generations.get(1)
    assert row is not None and row.status == "completed" and row.task_id in simulator.tasks
    assert fake_discord.original(int(payload["id"])) is None  # it made way for the video


def creates(sim: Simulator) -> int:
    return len([r for r in sim.requests if r.path == "/v1/videos/generations"])


async def crash_during_a_create(fake_discord: FakeDiscord, make_bot: BotFactory) -> None:
    """A /video whose create EvoLink carries out, while the process dies before the answer."""
    with pytest.MonkeyPatch.context() as mp:
        crash_after(EvoLinkClient, "create_task")(mp)  # EvoLink made it; the answer died with us
        async with running_bot(make_bot(), fake_discord) as first:
            with pytest.raises(Crash):
                await dispatch(first, slash_command("video", [option("prompt", "a red fox")]))


async def test_a_create_cut_off_by_a_crash_is_repeated_once_it_cannot_be_in_flight(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    """The dead process's call may still be in EvoLink's hands after a quick restart: the same
    call is repeated once that one can no longer be waiting for its answer (HTTP_TIMEOUT_SECONDS,
    5 s here, and a 5 s margin after it began), not at once, and not after the minute a create
    lost in a running process waits."""
    await crash_during_a_create(fake_discord, make_bot)
    assert len(simulator.tasks) == 1 and creates(simulator) == 1
    async with running_bot(make_bot(), fake_discord) as second:
        assert isinstance(second, VideoBot)
        await second.tracker.run_once()  # the call began just now: it may still be in flight
        waiting = await second.store.generations.get(1)
        assert waiting is not None and waiting.status == "requested" and creates(simulator) == 1
        clock.advance(9.5)
        await second.tracker.run_once()
        assert creates(simulator) == 1, "repeated while the first call could still be waiting"
        clock.advance(0.5)
        await second.tracker.run_once()
        recovered = await second.store.generations.get(1)
        assert recovered is not None and recovered.status in ("submitted", "running")
        assert recovered.task_id in simulator.tasks and creates(simulator) == 2
        # a create lost in this process still waits its turn: the first call may be in progress
        simulator.faults.create_after_fault(status=500)
        await dispatch(second, slash_command("video", [option("prompt", "a grey wolf")]))
        await second.tracker.run_once()
        lost_here = await second.store.generations.get(2)
        assert lost_here is not None and lost_here.status == "requested" and creates(simulator) == 3
        for _ in range(3):
            clock.advance(61)
            await second.tracker.run_once()
    assert len(simulator.tasks) == 2, "one task per request"
    assert len(ready_messages(fake_discord, CHANNEL_ID)) == 2


async def test_a_create_cut_off_long_before_the_restart_is_repeated_at_once(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    await crash_during_a_create(fake_discord, make_bot)
    clock.advance(10)  # the bot was down longer than the call could have waited
    async with running_bot(make_bot(), fake_discord) as second:
        assert isinstance(second, VideoBot)
        await second.tracker.run_once()
        recovered = await second.store.generations.get(1)
        assert recovered is not None and recovered.status in ("submitted", "running")
        assert recovered.task_id in simulator.tasks and creates(simulator) == 2
        clock.advance(61)
        await second.tracker.run_once()
    assert len(simulator.tasks) == 1, "the same task, replayed"
    assert len(ready_messages(fake_discord, CHANNEL_ID)) == 1


async def test_a_repeat_that_meets_the_first_call_still_in_progress_waits_for_it(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    """EvoLink answers a create whose key an earlier call still holds with a conflict: the row
    stays `requested` (no refund, no "failed" note, not one of its 5 attempts) and the same call
    is made again 5 s later, which gets the first call's task back."""
    with pytest.MonkeyPatch.context() as mp:
        crash_before(EvoLinkClient, "create_task")(mp)  # its call is made below, held by EvoLink
        async with running_bot(make_bot(), fake_discord) as first:
            with pytest.raises(Crash):
                await dispatch(first, slash_command("video", [option("prompt", "a red fox")]))
    async with running_bot(make_bot(), fake_discord) as second:
        assert isinstance(second, VideoBot)
        row = await second.store.generations.get(1)
        assert row is not None
        first_call = asyncio.create_task(
            held_create(simulator, row.idempotency_key, request_of(row).to_json())
        )
        await simulator_holds_a_key(simulator)
        clock.advance(10)
        await second.tracker.run_once()
        answers = [r for r in simulator.requests if r.path == "/v1/videos/generations"]
        assert len(answers) == 2  # the dead process's call, still in flight, and the repeat
        waiting = await second.store.generations.get(1)
        assert waiting is not None and waiting.status == "requested"
        assert waiting.poll_count == row.poll_count, "a conflict is not a lost answer"
        assert waiting.next_poll_at == clock() + IN_FLIGHT_RETRY
        ledger = await second.store.fetchall(
            "SELECT kind FROM credit_ledger WHERE generation_id = 1"
        )
        assert [k for (k,) in ledger] == ["reserve"], "nothing refunded"
        first_task = await first_call
        clock.advance(IN_FLIGHT_RETRY)
        await second.tracker.run_once()
        recovered = await second.store.generations.get(1)
        assert recovered is not None and recovered.task_id == first_task
        for _ in range(2):
            clock.advance(61)
            await second.tracker.run_once()
    assert list(simulator.tasks) == [first_task], "one task: the first call's"
    assert len(ready_messages(fake_discord, CHANNEL_ID)) == 1


async def held_create(simulator: Simulator, key: str, body: dict[str, Any]) -> str:
    """The dead process's create as EvoLink still handles it: its answer takes a while."""
    simulator.faults.add(route="create", delay=0.5)
    headers = {"Authorization": "Bearer sk-sim-test-key-0123456789", "Idempotency-Key": key}
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        answer = await http.post("/v1/videos/generations", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    task_id: str = answer.json()["id"]
    return task_id


async def simulator_holds_a_key(simulator: Simulator) -> None:
    before = len(simulator.requests)
    await wait_until(lambda: len(simulator.requests) > before, within=5, what="the held create")


async def test_a_database_still_failing_for_the_status_message_adds_no_not_charged_note(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    async def locked(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")

    payload = slash_command("video", [option("prompt", "a red fox")])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Generations, "mark_submitted", locked)
        mp.setattr(Generations, "set_status_message", locked)
        await dispatch(bot, payload)
    status = fake_discord.original(int(payload["id"]))
    assert status is not None and "EvoLink has started your video" in status["content"]
    assert fake_discord.followups(int(payload["id"])) == [], "no contradicting error note"
    for _ in range(3):
        clock.advance(61)
        await bot.tracker.run_once()
    assert len(simulator.tasks) == 1 and len(ready_messages(fake_discord, CHANNEL_ID)) == 1


async def test_a_status_message_the_database_did_not_record_still_goes_when_the_video_comes(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """The status is posted but the database fails to note its id: the video runs all the
    same, the member's private "thinking…" goes, and the channel ends with one message."""

    async def locked(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")

    payload = slash_command("video", [option("prompt", "a red fox")])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Generations, "set_status_message", locked)
        await dispatch(bot, payload)
    assert fake_discord.original(int(payload["id"])) is None, "no 'thinking…' left behind"
    [status] = fake_discord.channel_messages(CHANNEL_ID)
    clock.advance(61)
    await bot.tracker.run_once()
    assert status["id"] in fake_discord.deleted_messages
    assert fake_discord.channel_messages(CHANNEL_ID) == ready_messages(fake_discord, CHANNEL_ID)
    assert len(ready_messages(fake_discord, CHANNEL_ID)) == 1
