"""A /video that is refused leaves nothing in the channel: the rules that need no one else
(bans, the blocklist, credits, the cooldown, the request's own values) are decided before Discord
is answered, and the refusal is the private answer itself, never a public "thinking…" first.
When deciding takes longer than Discord allows, the "thinking…" shown meanwhile is private."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter

from bot.simulator import Simulator
from bot.ui import private_reply
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    FakeDiscord,
    dispatch,
    option,
    running_bot,
    slash_command,
)
from tests.conftest import BotFactory, FakeClock
from tests.test_moderation_cog import MODERATOR
from tests.test_video_flow import EPHEMERAL, creates, public, status_for, video

FAST_REFUSALS = ("banned", "blocked", "credits", "cooldown", "invalid")


async def refuse_for(reason: str, bot: VideoBot) -> dict[str, Any]:
    """Set up what refuses, and return the /video it refuses."""
    if reason == "banned":
        await bot.moderation.ban(GUILD_ID, USER_ID, MODERATOR, "spam")
    elif reason == "blocked":
        await bot.moderation.blocklist_add(GUILD_ID, "forbidden", MODERATOR)
        return slash_command("video", [option("prompt", "a forbidden lake")])
    elif reason == "credits":
        return slash_command("video", [option("prompt", "a lake"), option("duration", 15)])
    elif reason == "cooldown":
        await dispatch(bot, slash_command("video", [option("prompt", "first")]))
    elif reason == "invalid":
        return slash_command("video", [option("prompt", "a lake"), option("duration", 99)])
    return slash_command("video", [option("prompt", "a lake")])


@pytest.fixture
def limits() -> dict[str, Any]:
    return {"default_user_credits": 12.0, "cooldown_seconds": 60.0}


@pytest.mark.parametrize("reason", FAST_REFUSALS)
async def test_a_refusal_is_the_private_answer_itself(
    reason: str, fake_discord: FakeDiscord, make_bot: BotFactory, limits: dict[str, Any]
) -> None:
    async with running_bot(make_bot(**limits), fake_discord) as bot:
        payload = await refuse_for(reason, bot)
        before = public(fake_discord)
        await dispatch(bot, payload)
    iid = int(payload["id"])
    [callback] = fake_discord.interaction_responses(iid)
    assert callback.json["type"] == 4, "answered at once: no 'thinking…' anyone could see"
    assert callback.json["data"]["flags"] == EPHEMERAL
    assert fake_discord.private_reply(iid)["content"]
    assert public(fake_discord) == before, "nothing public for a request that never started"
    assert fake_discord.followups(iid) == []


async def test_slow_checks_show_a_private_thinking_then_the_refusal_in_its_place(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, monkeypatch: Any
) -> None:
    monkeypatch.setattr(private_reply, "BUDGET", 0.0)  # as if the checks took over 2 s
    await bot.moderation.ban(GUILD_ID, USER_ID, MODERATOR, "spam")
    payload = slash_command("video", [option("prompt", "a lake")])
    await dispatch(bot, payload)
    iid = int(payload["id"])
    assert fake_discord.interaction_response(iid) == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert "can't make videos" in fake_discord.private_reply(iid)["content"]
    assert public(fake_discord) == [] and creates(simulator) == []


async def test_an_interaction_that_reached_the_bot_late_is_deferred_privately_at_once(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    """Discord's 3 seconds run from when it made the interaction (its id says when): one that
    spent them on its way (a gateway replay after a reconnect) gets its private "thinking…"
    first."""
    await bot.moderation.ban(GUILD_ID, USER_ID, MODERATOR, "spam")
    made = discord.utils.utcnow() - dt.timedelta(seconds=2)
    payload = slash_command(
        "video", [option("prompt", "a lake")], interaction_id=discord.utils.time_snowflake(made)
    )
    await dispatch(bot, payload)
    iid = int(payload["id"])
    assert fake_discord.interaction_response(iid) == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert "can't make videos" in fake_discord.private_reply(iid)["content"]


async def test_slow_checks_then_a_start_post_the_status_and_remove_the_thinking(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, monkeypatch: Any
) -> None:
    monkeypatch.setattr(private_reply, "BUDGET", 0.0)
    payload = slash_command("video", [option("prompt", "a lake")])
    await dispatch(bot, payload)
    iid = int(payload["id"])
    assert fake_discord.interaction_response(iid) == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert fake_discord.interaction_messages(iid) == []
    assert public(fake_discord) == [status_for(fake_discord, payload)]
    assert len(creates(simulator)) == 1


async def test_a_request_that_waits_its_turn_gets_a_public_status_without_a_ping(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        await dispatch(bot, slash_command("video", [option("prompt", "first")]))
        waiting = slash_command("video", [option("prompt", "second")])
        await dispatch(bot, waiting)
    status = status_for(fake_discord, waiting)
    assert status is not None and status["mentions"] == []
    assert status["content"] == "Reserved 5 credits."
    assert fake_discord.interaction_messages(int(waiting["id"])) == []
    assert len(creates(simulator)) == 1


@pytest.mark.parametrize("budget", [0.0, 1.5])
async def test_a_thinking_discord_did_not_take_loses_nothing(
    budget: float,
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    monkeypatch: Any,
) -> None:
    """Discord failing the private "thinking…" (an outage, a token that ran out) must not lose
    a request the rules admitted: its credits are held and it starts, with its status in the
    channel, as any other."""
    monkeypatch.setattr(private_reply, "BUDGET", budget)
    fake_discord.fail(method="POST", path_contains="/callback", status=500, times=2)
    payload = slash_command("video", [option("prompt", "a lake")])
    await dispatch(bot, payload)
    assert len(creates(simulator)) == 1
    assert status_for(fake_discord, payload) is not None
    row = await bot.store.generations.get(1)
    assert row is not None and row.task_id and row.status == "submitted"


def _posts_the_status(route: Route) -> bool:
    return route.method == "POST" and route.path.endswith("/messages")


def _shows_thinking(route: Route) -> bool:
    return route.path.endswith("/callback")


def _touches_the_private_answer(route: Route) -> bool:
    return route.path.endswith("/messages/@original")


@pytest.mark.parametrize(
    ("breaks", "status_refused"),
    [
        (_posts_the_status, False),
        (_shows_thinking, False),
        (_touches_the_private_answer, False),  # removing the "thinking…"
        (_touches_the_private_answer, True),  # showing the status there instead
    ],
)
async def test_a_connection_lost_after_the_video_started_loses_nothing_and_says_nothing_false(
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    breaks: Callable[[Route], bool],
    status_refused: bool,
) -> None:
    """The video started (a task at EvoLink, credits held), then the connection to Discord broke
    under one of the command's last steps: the command goes on, and the member is never told
    that nothing happened and nothing was charged; the video comes, once."""
    answered = (HTTPClient.request, AsyncWebhookAdapter.request)  # the fake's, for this test
    dropped: list[str] = []

    def drop(route: Route) -> None:
        if breaks(route) and not dropped:
            dropped.append(route.path)
            raise aiohttp.ServerDisconnectedError()

    async def rest(self: HTTPClient, route: Route, **kwargs: Any) -> Any:
        drop(route)
        return await answered[0](self, route, **kwargs)

    async def webhook(self: AsyncWebhookAdapter, route: Route, *args: Any, **kwargs: Any) -> Any:
        drop(route)
        return await answered[1](self, route, *args, **kwargs)

    if status_refused:
        fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                          status=403, code=50013)  # fmt: skip
    payload = video("a kite over a beach")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HTTPClient, "request", rest)
        mp.setattr(AsyncWebhookAdapter, "request", webhook)
        await dispatch(bot, payload)
    assert dropped, "the connection broke under the command"
    said = [m["content"] for m in fake_discord.followups(int(payload["id"]))]
    assert not [s for s in said if "not charged" in s], said
    clock.advance(61)
    await bot.tracker.run_once()
    [video_message] = public(fake_discord)
    assert "your video is ready" in video_message["content"]
