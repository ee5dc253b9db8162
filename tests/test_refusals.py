"""Every refusal of the credit rules, as a member meets it through /video: what the video would
cost, what is left, when it renews (or that it never does), in the member's own language, and
that nothing was charged. Grants and takes count toward what a member may spend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from bot.ui.i18n import t
from discord_double import (
    GUILD_ID,
    USER_ID,
    FakeDiscord,
    dispatch,
    option,
    running_bot,
    slash_command,
)
from tests.conftest import BotFactory, FakeClock
from tests.test_boundaries import creates
from tests.test_moderation_cog import MODERATOR, answer, user_option, videomod

EPHEMERAL = 64


async def refusal(bot: VideoBot, fake: FakeDiscord, locale: str, prompt: str = "a fox") -> str:
    """/video by the member in `locale`; what they read ("" if it was accepted)."""
    payload = slash_command("video", [option("prompt", prompt)], locale=locale)
    await dispatch(bot, payload)
    said = fake.original(int(payload["id"]))
    if said is None:  # accepted: the private "thinking…" made way for the public status
        return ""
    assert said["flags"] & EPHEMERAL
    return str(said["content"])


def renews(clock: FakeClock, period: str) -> str:
    """The Discord timestamp of the next renewal (daily: the next UTC midnight)."""
    assert period == "daily"
    day = dt.datetime.fromtimestamp(clock.now, dt.UTC).date() + dt.timedelta(days=1)
    midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
    return f"<t:{int(midnight.timestamp())}:R>"


# a 3-second video is what 3 credits pay for (the hint's key and values)
SHORTER = ("refusal.hint.shorter", {"seconds": 3, "cost": "3", "count": 3})

# (settings, requests accepted first, the refusal's key, its values; "{when}": the renewal)
SCENARIOS: dict[str, tuple[dict[str, Any], int, str, dict[str, Any]]] = {
    "allowance, renews": (
        {"default_user_credits": 3.0},
        0,
        "refusal.allowance.renews.hint",
        {"cost": "5", "left": "3", "count": 5, "when": "{when}", "hint": SHORTER},
    ),
    "allowance, never renews": (
        {"default_user_credits": 3.0, "credit_period": "once"},
        0,
        "refusal.allowance.no_renewal.hint",
        {"cost": "5", "left": "3", "count": 5, "hint": SHORTER},
    ),
    "allowance, nothing smaller fits": (
        {"default_user_credits": 1.5},
        0,
        "refusal.allowance.renews",
        {"cost": "5", "left": "1.5", "count": 5, "when": "{when}"},
    ),
    "server cap, renews": (
        {"guild_credit_cap": 7.0},
        1,
        "refusal.cap.server.renews",
        {"when": "{when}"},
    ),
    "server cap, never renews": (
        {"guild_credit_cap": 7.0, "credit_period": "once"},
        1,
        "refusal.cap.server",
        {},
    ),
    "bot cap, renews": (
        {"global_credit_cap": 7.0},
        1,
        "refusal.cap.bot.renews",
        {"when": "{when}"},
    ),
    "bot cap, never renews": (
        {"global_credit_cap": 7.0, "credit_period": "once"},
        1,
        "refusal.cap.bot",
        {},
    ),
    "busy": (
        {"max_running_per_user": 1, "max_queued_per_user": 0},
        1,
        "refusal.busy",
        {"count": 1},
    ),
    "busy and waiting": (
        {"max_running_per_user": 1, "max_queued_per_user": 1},
        2,
        "refusal.busy_waiting",
        {"count": 1, "queued": 1},
    ),
    "cooldown": ({"cooldown_seconds": 30.0}, 1, "refusal.cooldown", {"count": 31}),
}


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_each_credit_refusal_in_the_member_s_language(
    fake_discord: FakeDiscord,
    make_bot: BotFactory,
    simulator: Simulator,
    clock: FakeClock,
    scenario: str,
    locale: str,
) -> None:
    settings, accepted, key, values = SCENARIOS[scenario]
    async with running_bot(make_bot(**settings), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        for n in range(accepted):
            assert await refusal(bot, fake_discord, locale, f"scene {n}") == ""
        said = await refusal(bot, fake_discord, locale)
        requests = await bot.store.fetchall("SELECT id FROM generations")
    if values.get("when"):
        values = {**values, "when": renews(clock, "daily")}
    if "hint" in values:
        hint_key, hint_values = values["hint"]
        values = {**values, "hint": t(hint_key, locale, **hint_values)}
    assert said == t(key, locale, **values)
    assert said.endswith(("Nothing was charged.", "本次没有扣除任何积分。"))
    assert len(requests) == accepted  # the refused one left nothing behind
    assert len(creates(simulator)) == min(accepted, 1 if "busy" in scenario else accepted)


@pytest.mark.parametrize(
    ("allowance", "options", "hint"),
    [
        (5.0, {"quality": "1080p"}, "At 720p the same video costs 5 credits."),
        (4.0, {"quality": "1080p", "duration": 3}, "At 720p the same video costs 3 credits."),
        (3.0, {"quality": "1080p"}, "A 3-second video at 720p costs 3 credits."),
        (4.0, {"quality": "1080p", "duration": 5}, "A 2-second video costs 4 credits."),
        (4.0, {}, "A 4-second video costs 4 credits."),
        (2.0, {"duration": 15}, "A 2-second video costs 2 credits."),
        (1.9, {}, None),
        (1.9, {"quality": "1080p"}, None),
    ],
)
async def test_a_credit_refusal_suggests_only_what_would_help(
    fake_discord: FakeDiscord,
    make_bot: BotFactory,
    allowance: float,
    options: dict[str, Any],
    hint: str | None,
) -> None:
    async with running_bot(make_bot(default_user_credits=allowance), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        opts = [option("prompt", "a fox")] + [option(k, v) for k, v in options.items()]
        payload = slash_command("video", opts)
        await dispatch(bot, payload)
    said = fake_discord.private_reply(int(payload["id"]))["content"]
    assert f"you have {allowance:g} left." in said
    assert "shorter or 720p" not in said  # no blanket advice
    if hint is None:
        assert "costs" not in said, "nothing smaller fits: nothing is suggested"
    else:
        assert f"left. {hint} Your credits renew" in said
    if options.get("quality") != "1080p":
        assert "720p" not in said, "a 720p request is not told to try 720p"


# --- grants and takes -------------------------------------------------------------------------


async def adjust(bot: VideoBot, fake: FakeDiscord, command: str, amount: float) -> str:
    data = await answer(
        bot,
        fake,
        videomod(
            command,
            [user_option("member", USER_ID), option("amount", amount), option("reason", "r")],
            group="credits",
        ),
    )
    return str(data["content"])


async def test_a_grant_lets_a_member_spend_beyond_the_allowance(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    async with running_bot(make_bot(default_user_credits=3.0), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        assert "you have 3 left" in await refusal(bot, fake_discord, "en-US")
        await adjust(bot, fake_discord, "grant", 2.0)
        assert await refusal(bot, fake_discord, "en-US") == ""
        await adjust(bot, fake_discord, "take", 0.5)
        assert "you have 0 left" in await refusal(bot, fake_discord, "en-US")
    assert len(creates(simulator)) == 1


async def test_the_server_cap_counts_videos_not_grants_or_takes(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    async with running_bot(make_bot(guild_credit_cap=10.0), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await adjust(bot, fake_discord, "take", 5.0)  # the member's credits, not the server's
        await adjust(bot, fake_discord, "grant", 1000.0)
        assert await refusal(bot, fake_discord, "en-US", "one") == ""
        assert await refusal(bot, fake_discord, "en-US", "two") == ""  # 10 of 10
        assert "This server has used all" in await refusal(bot, fake_discord, "en-US", "three")
    assert len(creates(simulator)) == 2


GRANT_INSIDE = [0.01, 1_000_000.0]
GRANT_OUTSIDE = [0.009, 1_000_000.01, 0.0, -5.0]


@pytest.mark.parametrize("command", ["grant", "take"])
@pytest.mark.parametrize("amount", GRANT_INSIDE)
async def test_grant_and_take_at_the_edge_of_their_range(
    fake_discord: FakeDiscord, bot: VideoBot, command: str, amount: float
) -> None:
    said = await adjust(bot, fake_discord, command, amount)
    assert said.startswith("Gave " if command == "grant" else "Took "), said
    rows = await bot.store.fetchall("SELECT kind, amount, moderator_id FROM credit_ledger")
    sign = 1 if command == "grant" else -1
    assert [tuple(r) for r in rows] == [(command, sign * amount, MODERATOR)]


@pytest.mark.parametrize("command", ["grant", "take"])
@pytest.mark.parametrize("amount", GRANT_OUTSIDE)
async def test_grant_and_take_just_outside_their_range_are_refused(
    fake_discord: FakeDiscord, bot: VideoBot, command: str, amount: float
) -> None:
    said = await adjust(bot, fake_discord, command, amount)
    assert said == "`amount` must be between 0.01 and 1,000,000 credits."
    assert await bot.store.fetchall("SELECT * FROM credit_ledger") == []


# --- /credits shows the limits that apply -----------------------------------------------------


async def credits_fields(bot: VideoBot, fake: FakeDiscord) -> dict[str, str]:
    payload = slash_command("credits")
    await dispatch(bot, payload)
    [embed] = fake.interaction_response(int(payload["id"]))["data"]["embeds"]
    return {f["name"]: f["value"] for f in embed["fields"]}


async def test_credits_shows_the_server_s_own_limits_and_the_member_s_allowance(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    await answer(
        bot,
        fake_discord,
        videomod("limits", [option("default_credits", "0"), option("period", "weekly")]),
    )
    assert (await credits_fields(bot, fake_discord))["Remaining"] == "**0** of 0 per week"
    await answer(
        bot,
        fake_discord,
        videomod(
            "allowance",
            [user_option("member", USER_ID), option("amount", "12")],
            group="credits",
        ),
    )
    assert (await credits_fields(bot, fake_discord))["Remaining"] == "**12** of 12 per week"
    assert await bot.credits.limits(GUILD_ID) != bot.credits._defaults


async def test_credits_lists_the_five_latest_changes(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    for n in range(1, 8):
        await adjust(bot, fake_discord, "grant", float(n))
    recent = (await credits_fields(bot, fake_discord))["Latest videos and changes"].splitlines()
    assert [line.split("`")[1] for line in recent] == ["+7", "+6", "+5", "+4", "+3"]
