"""Interactions a live server sends now and then: a command Discord still shows but the bot no
longer has, the same interaction delivered twice, a server-only command from a DM, EvoLink's
refusal text. Each gets a friendly answer and no false alarm in the log."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    FakeDiscord,
    dispatch,
    option,
    slash_command,
    subcommand,
)

EPHEMERAL = 64
MOD_PERMISSIONS = 0x20 | 0x400 | 0x800  # Manage Server, view and send


def private_answer(fake: FakeDiscord, payload: dict[str, Any]) -> str:
    body = fake.interaction_response(int(payload["id"]))
    assert body["data"]["flags"] & EPHEMERAL
    return str(body["data"]["content"])


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "payload",
    [
        slash_command("imagine", [option("prompt", "a fox")]),
        slash_command("videomod", [subcommand("purge")], permissions=MOD_PERMISSIONS),
    ],
    ids=["unknown command", "unknown subcommand"],
)
async def test_a_command_the_bot_no_longer_has_is_answered_kindly(
    fake_discord: FakeDiscord, bot: VideoBot, payload: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    with caplog.at_level(logging.WARNING):
        await dispatch(bot, payload)
    text = private_answer(fake_discord, payload)
    assert "Discord may still be updating its command list" in text
    assert "nothing was charged" in text
    assert errors(caplog) == []


async def test_the_same_interaction_twice_makes_one_video_and_no_false_alarm(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    payload = slash_command("video", [option("prompt", "a red fox")])
    with caplog.at_level(logging.WARNING):
        await dispatch(bot, payload)
        await dispatch(bot, payload)  # the gateway replays it
    assert len(simulator.tasks) == 1
    ledger = await bot.store.fetchall("SELECT kind FROM credit_ledger")
    assert [row[0] for row in ledger] == ["reserve"]
    assert errors(caplog) == []
    assert any("already answered" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("command", ["credits", "videos"])
async def test_a_server_command_from_a_direct_message_is_refused_politely(
    fake_discord: FakeDiscord, bot: VideoBot, command: str
) -> None:
    payload = slash_command(command, guild_id=None)
    await dispatch(bot, payload)
    assert private_answer(fake_discord, payload) == "This command works only in a server."


async def test_evolink_refusal_reads_as_one_sentence(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    simulator.faults.add(route="create", status=400, message="Invalid request.")
    payload = slash_command("video", [option("prompt", "a red fox")])
    await dispatch(bot, payload)
    [status] = [m for m in fake_discord.interaction_messages(int(payload["id"]))]
    text = status["content"] or status["embeds"][0]["description"]
    assert "EvoLink refused this request: Invalid request. You were not charged" in text
    assert ".." not in text
    # the refusal stays with the member: nothing public is left in the channel
    public = [m for m in fake_discord.channel_messages(CHANNEL_ID) if not m["flags"] & EPHEMERAL]
    assert public == []
