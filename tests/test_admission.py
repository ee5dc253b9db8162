"""Admitting a video request, without Discord: /video and the buttons under a result all reach
VideoService.request, which checks bans, then the blocklist, then the limits, and stores,
reserves and asks EvoLink for nothing when it refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.credits import CreditRefused, Credits, Limits, Prices, Requester
from bot.evolink import EvoLinkClient
from bot.generations import VideoService
from bot.moderation import Banned, Blocked, Moderation
from bot.request import VideoRequest
from bot.schedule import PredictedSchedule
from bot.simulator import Simulator
from bot.store import Store, open_store
from tests.conftest import FakeClock, no_sleep

GUILD, ALICE, MOD = 10, 11, 99
ALICE_ASKS = Requester(guild_id=GUILD, channel_id=20, user_id=ALICE)
LIMITS = Limits(default_credits=50.0, period="daily", max_running=2, max_queued=0, cooldown=60.0,
                guild_cap=None, global_cap=None)  # fmt: skip


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    s = await open_store(tmp_path / "bot.db", clock=clock)
    yield s
    await s.close()


@pytest.fixture
def moderation(store: Store) -> Moderation:
    return Moderation(store)


@pytest.fixture
async def service(
    store: Store, moderation: Moderation, simulator: Simulator, clock: FakeClock
) -> AsyncIterator[VideoService]:
    api = EvoLinkClient(simulator.base_url, "sk-sim-test-key-0123456789", sleep=no_sleep)
    credits = Credits(store, LIMITS, Prices({"720p": 1.0, "1080p": 2.0}), clock)
    schedule = PredictedSchedule(10.0, clock=clock)
    yield VideoService(store, api, credits, moderation, schedule=schedule, clock=clock)
    await api.aclose()


async def count(store: Store, table: str) -> int:
    row = await store.fetchone(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def nothing_kept(store: Store, simulator: Simulator) -> bool:
    rows = [await count(store, table) for table in ("generations", "credit_ledger")]
    return rows == [0, 0] and simulator.tasks == {}


async def test_a_banned_member_is_refused_before_anything_is_stored_or_charged(
    service: VideoService, moderation: Moderation, store: Store, simulator: Simulator
) -> None:
    await moderation.ban(GUILD, ALICE, MOD, "spam")
    with pytest.raises(Banned) as refused:
        await service.request(ALICE_ASKS, VideoRequest(prompt="a cat"))
    assert refused.value.message_key == "moderation.banned"
    assert await nothing_kept(store, simulator)


@pytest.mark.parametrize(
    "request_",
    [VideoRequest(prompt="a big GUN"), VideoRequest(prompt="a cat", negative_prompt="no gun")],
)
async def test_a_blocked_prompt_is_refused_with_the_entry_it_hit(
    service: VideoService,
    moderation: Moderation,
    store: Store,
    simulator: Simulator,
    request_: VideoRequest,
) -> None:
    await moderation.blocklist_add(GUILD, "gun", MOD)
    with pytest.raises(Blocked) as refused:
        await service.request(ALICE_ASKS, request_)
    assert refused.value.message_key == "moderation.blocked"
    assert refused.value.pattern == "gun"  # for the mod-log; the member is not told which
    assert await nothing_kept(store, simulator)


async def test_bans_come_first_then_the_blocklist_then_the_limits(
    service: VideoService, moderation: Moderation, store: Store, clock: FakeClock
) -> None:
    await service.request(ALICE_ASKS, VideoRequest(prompt="a cat"))  # started: cooldown runs
    with pytest.raises(CreditRefused):
        await service.request(ALICE_ASKS, VideoRequest(prompt="a dog"))
    await moderation.blocklist_add(GUILD, "gun", MOD)
    with pytest.raises(Blocked):
        await service.request(ALICE_ASKS, VideoRequest(prompt="a gun"))
    await moderation.ban(GUILD, ALICE, MOD, "spam")
    with pytest.raises(Banned):
        await service.request(ALICE_ASKS, VideoRequest(prompt="a gun"))
    await moderation.unban(GUILD, ALICE, MOD)
    clock.advance(61)
    admitted = await service.request(ALICE_ASKS, VideoRequest(prompt="a calm lake"))
    assert admitted.generation.status == "submitted"
    assert await count(store, "generations") == 2
