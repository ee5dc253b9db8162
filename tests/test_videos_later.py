"""/videos after EvoLink's one-day link has expired: each video points to the message it was
posted in (and says whether its file is there), keeps EvoLink's link only while it is valid,
and says when neither holds the video any more."""

from __future__ import annotations

from typing import Any

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    GUILD_ID,
    FakeDiscord,
    dispatch,
    option,
    slash_command,
)
from tests.conftest import FakeClock

DAY = 24 * 3600


async def my_videos(bot: VideoBot, fake: FakeDiscord) -> str:
    payload = slash_command("videos")
    await dispatch(bot, payload)
    [embed] = fake.interaction_response(int(payload["id"]))["data"]["embeds"]
    [entry] = embed["fields"]
    return str(entry["value"])


async def made(
    bot: VideoBot, fake: FakeDiscord, clock: FakeClock, **payload: Any
) -> dict[str, Any]:
    await dispatch(bot, slash_command("video", [option("prompt", "a fox")], **payload))
    clock.advance(61)
    await bot.tracker.run_once()
    row = await bot.store.generations.get(1)
    assert row is not None and row.delivery_message_id is not None
    return fake.messages[row.delivery_message_id]


async def test_an_attached_video_is_found_in_its_message_after_the_link_expired(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    message = await made(bot, fake_discord, clock)
    assert message["attachments"] == ["video-1.mp4"]
    jump = f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{message['id']}"
    today = await my_videos(bot, fake_discord)
    assert f"[Posted message, with the file]({jump})" in today
    assert "/files/" in today and "the link expires <t:" in today  # EvoLink's, while valid
    clock.advance(DAY)
    later = await my_videos(bot, fake_discord)
    assert f"[Posted message, with the file]({jump})" in later
    assert "/files/" not in later and "No longer available" not in later


async def test_a_video_posted_as_a_link_says_when_it_is_gone(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    message = await made(bot, fake_discord, clock, attachment_size_limit=100_000)
    assert message["attachments"] == []  # too large: EvoLink's link was posted
    jump = f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{message['id']}"
    today = await my_videos(bot, fake_discord)
    assert f"[Posted message]({jump}) · [Open the video](" in today
    clock.advance(DAY)
    later = await my_videos(bot, fake_discord)
    assert f"[Posted message]({jump})" in later and "/files/" not in later
    assert "No longer available: EvoLink's link expired <t:" in later


async def test_a_video_sent_by_direct_message_says_so(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = slash_command("video", [option("prompt", "a fox")])
    await dispatch(bot, payload)
    fake_discord.expire_interaction(int(payload["id"]))
    fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                      status=403, code=50013)  # fmt: skip
    clock.advance(61)
    await bot.tracker.run_once()
    clock.advance(DAY)
    later = await my_videos(bot, fake_discord)
    assert later.endswith("Sent by direct message, with the file")
