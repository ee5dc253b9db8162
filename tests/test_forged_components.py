"""Button presses a client could forge (ids out of range, other members' videos), buttons that
fail inside, buttons pressed while the bot shuts down: the member always gets an answer, never
"This interaction failed" in Discord."""

from __future__ import annotations

from typing import Any

import pytest

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    FakeDiscord,
    button_press,
    dispatch,
    message_payload,
    option,
    slash_command,
)
from tests.conftest import FakeClock

EPHEMERAL = 64


def message_with_button(custom_id: str) -> dict[str, Any]:
    button = {"type": 2, "style": 2, "label": "x", "custom_id": custom_id}
    return message_payload(channel_id=CHANNEL_ID, components=[{"type": 1, "components": [button]}])


def answer(fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    [call] = fake.interaction_responses(int(payload["id"]))
    assert call.json is not None
    data: dict[str, Any] = call.json["data"]
    return data


@pytest.mark.parametrize(
    ("custom_id", "expected"),
    [
        ("video:again:99999999999999999999999999", "Only the member who asked for this video"),
        ("video:edit:9223372036854775808", "Only the member who asked for this video"),
        ("video:seed:0", "Only the member who asked for this video"),
        ("video:cancel:99999999999999999999999999", "Only the member who asked for this video"),
        ("video:cancel:1", "Only the member who asked for this video can cancel it"),
    ],
)
async def test_a_forged_button_gets_a_private_refusal(
    fake_discord: FakeDiscord, bot: VideoBot, custom_id: str, expected: str
) -> None:
    payload = button_press(custom_id, message=message_with_button(custom_id))
    await dispatch(bot, payload)
    data = answer(fake_discord, payload)
    assert data["content"].startswith(expected)
    assert data["flags"] & EPHEMERAL


async def test_a_button_that_fails_inside_says_so_and_charges_nothing(
    fake_discord: FakeDiscord, bot: VideoBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(generation_id: int) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(bot.store.generations, "get", broken)
    payload = button_press("video:again:1", message=message_with_button("video:again:1"))
    await dispatch(bot, payload)
    data = answer(fake_discord, payload)
    assert "Something went wrong" in data["content"] and "not charged" in data["content"]
    assert data["flags"] & EPHEMERAL


async def test_a_regenerate_press_while_shutting_down_starts_nothing(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, slash_command("video", [option("prompt", "a paper boat")]))
    clock.advance(61)
    await bot.tracker.run_once()
    [delivery] = [
        m
        for m in fake_discord.channel_messages(CHANNEL_ID)
        if "your video is ready" in m["content"]
    ]
    bot.closing = True
    try:
        message = fake_discord.api_message(int(delivery["id"]))
        press = button_press("video:again:1", message=message)
        await dispatch(bot, press)
        data = answer(fake_discord, press)
    finally:
        bot.closing = False  # so that the fixture closes it for real
    assert "restarting" in data["content"] and data["flags"] & EPHEMERAL
    assert len(simulator.tasks) == 1  # only the first video
