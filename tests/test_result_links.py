"""EvoLink's result link is outside input: a link no library would accept ends as a failed video
(refunded, the member told, moderators told), never as a delivery retried forever; and a
delivery that keeps failing for any reason ends after the bounded retries."""

from __future__ import annotations

from typing import Any

import discord
import httpx
import pytest

from bot import result_link
from bot.simulator import Simulator
from bot.store import Generation
from bot.tracker import DELIVERY_RETRY_DELAYS, NO_RESULT_REPOLLS
from bot.ui.client import VideoBot
from bot.ui.render import inert_link
from discord_double import (
    CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    FakeDiscord,
    dispatch,
    option,
    slash_command,
)
from tests.conftest import FakeClock
from tests.test_moderation_cog import LOG_CHANNEL, videomod
from tests.test_moderation_flow import set_log_channel
from tests.test_video_flow import public

ODD_LINKS = {
    "space": "https://exa mple.com/v.mp4",
    "unclosed bracket": "https://[::1/v.mp4",
    "5,000 characters": "https://cdn.example.com/" + "a" * 5000 + ".mp4",
    "control character": "https://cdn.example.com/v\x07.mp4",
    "NUL": "https://cdn.example.com/v\x00.mp4",
    "javascript": "javascript:alert(1)",
    "ftp": "ftp://cdn.example.com/v.mp4",
    "no host": "https:///v.mp4",
    "bad port": "https://cdn.example.com:99999/v.mp4",
    "relative": "//cdn.example.com/v.mp4",
    "plain http elsewhere": "http://cdn.example.com/v.mp4",
    "right-to-left override": "https://cdn.example.com/v\u202e4pm.exe",
    "newline": "https://cdn.example.com/v.mp4\n@everyone",
}


async def complete_with(simulator: Simulator, task_id: str, link: str) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url) as control:
        answer = await control.post(f"/_sim/tasks/{task_id}/complete", json={"results": [link]})
    assert answer.status_code == 200


async def start_video(bot: VideoBot, simulator: Simulator, fake: FakeDiscord | None = None) -> str:
    payload = slash_command("video", [option("prompt", "a kitten")])
    await dispatch(bot, payload)
    if fake is not None:  # no follow-up through the interaction either
        fake.expire_interaction(int(payload["id"]))
    [task_id] = simulator.tasks
    return task_id


async def balance_change(bot: VideoBot) -> float:
    row = await bot.store.fetchone(
        "SELECT COALESCE(SUM(amount), 0) FROM credit_ledger WHERE guild_id = ? AND user_id = ?",
        GUILD_ID, USER_ID,
    )  # fmt: skip
    assert row is not None
    return float(row[0])


async def row(bot: VideoBot) -> Generation:
    generation = await bot.store.generations.get(1)
    assert generation is not None
    return generation


@pytest.mark.parametrize("link", ODD_LINKS.values(), ids=ODD_LINKS.keys())
async def test_an_unusable_result_link_is_a_refunded_failure_told_to_member_and_moderators(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock, link: str
) -> None:
    await set_log_channel(bot)
    task_id = await start_video(bot, simulator, fake_discord)  # told in the channel, then
    await complete_with(simulator, task_id, link)
    for _ in range(4):  # the poll, the delivery, and later passes that must do nothing more
        clock.advance(30)
        await bot.tracker.run_once()

    generation = await row(bot)
    assert generation.status == "failed" and generation.error_code == "unusable_result"
    assert generation.delivered_via == "channel" and generation.delivery_attempts == 1
    assert await balance_change(bot) == 0  # the reservation was refunded in full
    [told] = public(fake_discord)  # the status message made way for it
    assert told["content"].startswith(f"<@{USER_ID}> your video could not be made.")
    assert "link" in told["content"] and "You were not charged for it." in told["content"]
    assert link not in str(told)
    [outcome] = [m for m in fake_discord.channel_messages(LOG_CHANNEL)
                 if "video not made" in m["embeds"][0]["title"]]  # fmt: skip
    error = {f["name"]: f["value"] for f in outcome["embeds"][0]["fields"]}["Error"]
    assert "unusable_result" in error and task_id in outcome["embeds"][0]["footer"]["text"]
    assert "(EvoLink reported 5 used)" in error  # what EvoLink may still bill the owner for


async def test_a_video_completed_without_a_link_is_given_up_after_a_few_looks(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """EvoLink says "completed" with no link in `results`: a few more looks (it may come late),
    then a refunded failure the member is told of plainly, not two hours of "Making your
    video"."""
    await set_log_channel(bot)
    task_id = await start_video(bot, simulator, fake_discord)
    async with httpx.AsyncClient(base_url=simulator.base_url) as control:
        answer = await control.post(f"/_sim/tasks/{task_id}/complete", json={"results": []})
    assert answer.status_code == 200
    for _ in range(NO_RESULT_REPOLLS):  # the first look, and more but the last
        clock.advance(11)
        await bot.tracker.run_once()
        assert (await row(bot)).status == "running"
        assert not [m for m in fake_discord.channel_messages(CHANNEL_ID) if m["mentions"]]
    clock.advance(11)
    await bot.tracker.run_once()

    generation = await row(bot)
    assert generation.status == "failed" and generation.error_code == "no_result"
    assert await balance_change(bot) == 0  # refunded in full
    [told] = public(fake_discord)
    assert told["content"].startswith(f"<@{USER_ID}> your video could not be made.")
    assert "finished but never sent it" in told["content"]
    assert "You were not charged for it." in told["content"]
    [outcome] = [m for m in fake_discord.channel_messages(LOG_CHANNEL)
                 if "video not made" in m["embeds"][0]["title"]]  # fmt: skip
    error = {f["name"]: f["value"] for f in outcome["embeds"][0]["fields"]}["Error"]
    assert "no_result" in error and "sent no video link" in error
    for _ in range(3):  # nothing more: no second note, no more queries
        clock.advance(3600)
        await bot.tracker.run_once()
    notes = [m for m in fake_discord.channel_messages(CHANNEL_ID) if m["kind"] == "channel"]
    assert len(notes) == 1


MARKDOWN_LINK = "https://example.com/v.mp4)**[FREE_NITRO](https://evil.example/steal)**"
INERT = "https://example.com/v.mp4%29%2A%2A%5BFREE_NITRO%5D%28https://evil.example/steal%29%2A%2A"


async def test_markdown_in_a_result_link_is_shown_inert_to_members_and_moderators(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """A link URLs allow but Discord would read as formatting and a second, masked link: shown
    percent-encoded (the same address to any server) in the member's message, the mod-log post,
    /videomod show and /videos."""
    assert result_link.problem(MARKDOWN_LINK) is None  # a valid URL: not a reason to refund
    await set_log_channel(bot)
    task_id = await start_video(bot, simulator)
    await complete_with(simulator, task_id, MARKDOWN_LINK)
    for _ in range(2):
        clock.advance(30)
        await bot.tracker.run_once()
    assert (await row(bot)).status == "completed"

    [ready] = [m for m in fake_discord.channel_messages(CHANNEL_ID) if m["kind"] == "channel"]
    assert INERT in ready["content"] and "[FREE_NITRO](" not in ready["content"]
    [outcome] = [m for m in fake_discord.channel_messages(LOG_CHANNEL)
                 if m["embeds"] and m["embeds"][0]["title"] == "✅ Video ready"]  # fmt: skip
    video_field = {f["name"]: f["value"] for f in outcome["embeds"][0]["fields"]}["Video"]
    assert video_field == INERT
    show = videomod("show", [option("task_id", task_id)])
    await dispatch(bot, show)
    [embed] = fake_discord.interaction_response(int(show["id"]))["data"]["embeds"]
    shown = {f["name"]: f["value"] for f in embed["fields"]}["Video"]
    assert f" · [Open the video]({INERT}) · the link expires <t:" in shown
    history = slash_command("videos")
    await dispatch(bot, history)
    [embed] = fake_discord.interaction_response(int(history["id"]))["data"]["embeds"]
    assert f"[Open the video]({INERT})" in embed["fields"][0]["value"]


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("https://cdn.example.com/a_b/c.mp4?sig=x_y", "https://cdn.example.com/a_b/c.mp4?sig=x_y"),
        ("https://cdn.example.com/(1)/v~*.mp4", "https://cdn.example.com/%281%29/v~%2A.mp4"),
        ("https://[2001:db8::1]:8443/v[1].mp4", "https://[2001:db8::1]:8443/v%5B1%5D.mp4"),
        (
            "https://cdn.example.com/v.mp4#t=[1](2)",
            "https://cdn.example.com/v.mp4#t=%5B1%5D%282%29",
        ),
    ],
)
def test_a_link_is_shown_with_only_markdown_characters_encoded(link: str, shown: str) -> None:
    assert inert_link(link) == shown


async def run_through_the_retries(bot: VideoBot, clock: FakeClock) -> None:
    clock.advance(61)
    await bot.tracker.run_once()  # finished, first attempt
    for delay in (*DELIVERY_RETRY_DELAYS, 3600.0, 3600.0):  # and nothing after the last
        clock.advance(delay)
        await bot.tracker.run_once()


def undelivered_posts(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [
        m["embeds"][0]
        for m in fake.channel_messages(LOG_CHANNEL)
        if m["embeds"] and m["embeds"][0].get("title") == "📭 Video not delivered"
    ]


async def test_an_unexpected_error_in_delivery_ends_after_the_bounded_retries(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """A bug while building the message: six attempts, then the outcome as plain text and a
    word to the moderators, instead of a retry every five seconds forever."""
    await set_log_channel(bot)

    def broken_buttons(generation: Generation) -> discord.ui.View | None:
        raise RuntimeError("the result buttons could not be built")

    bot.buttons.supply(result=broken_buttons)
    await start_video(bot, simulator)
    await run_through_the_retries(bot, clock)

    generation = await row(bot)
    assert generation.delivered_via == "undeliverable"
    assert generation.delivery_attempts == len(DELIVERY_RETRY_DELAYS) + 1
    [note] = [m for m in fake_discord.channel_messages(CHANNEL_ID) if m["mentions"]]
    assert note["content"].startswith(f"<@{USER_ID}> your video is ready: {simulator.base_url}")
    assert note["embeds"] == [] and note["components"] == []
    assert note["allowed_mentions"]["users"] == [USER_ID]
    [post] = undelivered_posts(fake_discord)
    assert "after 6 attempts" in post["description"] and "5 credits" in post["description"]
    assert "posted in" in post["description"] and "/videomod credits refund" in post["description"]
    fields = {f["name"]: f["value"] for f in post["fields"]}
    assert "could not be built" in fields["Last error"] and "/files/" in fields["Video"]


async def test_a_member_discord_never_lets_us_reach_is_reported_to_moderators(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await set_log_channel(bot)
    await start_video(bot, simulator, fake_discord)
    fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                      status=403, code=50013, times=100)  # fmt: skip
    fake_discord.fail(method="POST", path_contains="/users/@me/channels",
                      status=403, code=50007, times=100)  # fmt: skip
    await run_through_the_retries(bot, clock)

    generation = await row(bot)
    assert generation.delivered_via == "undeliverable"
    assert generation.delivery_attempts == len(DELIVERY_RETRY_DELAYS) + 1
    [post] = undelivered_posts(fake_discord)
    assert "could not be reached in any way" in post["description"]
    assert generation.task_id in post["footer"]["text"]


@pytest.mark.parametrize(
    "link",
    [
        "https://cdn.example.com/v.mp4?X-Amz-Signature=ab%2Fcd&X-Amz-Expires=86400",
        "https://[2001:db8::1]/v.mp4",
        "https://xn--r8jz45g.jp/v.mp4",
        "https://cdn.example.com/" + "a" * (2048 - 24),
        "http://127.0.0.1:8787/files/task.mp4",  # the API's own origin (the simulator)
    ],
)
def test_ordinary_result_links_are_usable(link: str) -> None:
    assert result_link.problem(link, "http://127.0.0.1:8787") is None


def test_a_link_one_character_over_the_bound_is_not() -> None:
    link = "https://cdn.example.com/" + "a" * (2049 - 24)
    assert result_link.problem(link) == "longer than 2048 characters (2049)"
    assert result_link.problem("http://127.0.0.1:8788/v.mp4", "http://127.0.0.1:8787")
