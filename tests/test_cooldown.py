"""The cooldown counts only requests that cost something: a video made, or one still waiting or
in progress. A request refused (by a limit, a ban, the blocklist, the cooldown itself or EvoLink),
cancelled, or whose video failed, cost nothing and does not make the member wait."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import GUILD_ID, USER_ID, FakeDiscord, button_press, dispatch, running_bot
from tests.conftest import BotFactory, FakeClock
from tests.test_boundaries import creates, video
from tests.test_moderation_cog import MODERATOR

COOLDOWN = 120.0
WAIT = "Please wait"


@pytest.fixture
async def bot(fake_discord: FakeDiscord, make_bot: BotFactory) -> AsyncIterator[VideoBot]:
    made = make_bot(cooldown_seconds=COOLDOWN, default_user_credits=12.0, max_running_per_user=1)
    async with running_bot(made, fake_discord) as running:
        assert isinstance(running, VideoBot)
        yield running


async def test_a_video_made_starts_the_cooldown(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    assert await video(bot, fake_discord) == ""
    clock.advance(COOLDOWN - 1)
    assert "Please wait 2 more seconds" in await video(bot, fake_discord)
    clock.advance(1)
    assert await video(bot, fake_discord) == ""  # waits in the queue behind the first


async def test_a_request_refused_for_credits_does_not_start_it(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    assert "would cost 15 credits" in await video(bot, fake_discord, duration=15)
    assert await video(bot, fake_discord, duration=5) == ""
    assert len(creates(simulator)) == 1


async def test_a_request_refused_by_a_ban_does_not_start_it(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await bot.moderation.ban(GUILD_ID, USER_ID, MODERATOR, "spam")
    assert "can't make videos" in await video(bot, fake_discord)
    await bot.moderation.unban(GUILD_ID, USER_ID, MODERATOR)
    assert await video(bot, fake_discord) == ""
    assert len(creates(simulator)) == 1


async def test_a_prompt_refused_by_the_blocklist_does_not_start_it(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await bot.moderation.blocklist_add(GUILD_ID, "gun", MODERATOR)
    assert "doesn't allow" in await video(bot, fake_discord, prompt="a gun on a table")
    assert await video(bot, fake_discord, prompt="a vase on a table") == ""
    assert len(creates(simulator)) == 1


async def test_a_request_refused_by_the_cooldown_does_not_restart_it(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    assert await video(bot, fake_discord) == ""
    clock.advance(COOLDOWN / 2)
    assert WAIT in await video(bot, fake_discord)
    clock.advance(COOLDOWN / 2)  # a full cooldown after the first, half after the refusal
    assert await video(bot, fake_discord) == ""


@pytest.mark.parametrize("status", [400, 402, 403])
async def test_a_request_evolink_refused_does_not_start_it(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, status: int
) -> None:
    simulator.faults.add(route="create", status=status)
    assert "not charged" in await video(bot, fake_discord)
    assert await video(bot, fake_discord) == ""
    rows = await bot.store.fetchall("SELECT status FROM generations ORDER BY id")
    assert [r[0] for r in rows] == ["failed", "submitted"]


async def test_a_video_that_failed_does_not_hold_back_the_next_one(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    assert await video(bot, fake_discord, prompt="a fox [[fail:content_policy_violation]]") == ""
    clock.advance(61)  # longer than the simulator's 60 s task, shorter than the cooldown
    await bot.tracker.run_once()
    failed = await bot.store.generations.get(1)
    assert failed is not None and failed.status == "failed"
    assert await video(bot, fake_discord, prompt="a fox in the snow") == ""
    assert len(creates(simulator)) == 2


async def test_a_cancelled_request_does_not_start_it(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    assert await video(bot, fake_discord, prompt="first", duration=2) == ""
    clock.advance(COOLDOWN)
    assert await video(bot, fake_discord, prompt="second", duration=2) == ""  # waits in the queue
    waiting = await bot.store.generations.get(2)
    assert waiting is not None and waiting.status == "queued"
    assert waiting.status_message_id is not None
    message = fake_discord.api_message(waiting.status_message_id)
    press = button_press("video:cancel:2", message=message)
    await dispatch(bot, press)
    [note] = fake_discord.followups(int(press["id"]))
    assert "given back" in note["content"]
    clock.advance(1)
    assert await video(bot, fake_discord, prompt="third", duration=2) == ""
