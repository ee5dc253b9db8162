"""Every view, filled with the longest and most escape-heavy data a member, a moderator or EvoLink
can produce, in English and Chinese, stays within Discord's limits.

The fake Discord refuses an over-long payload as Discord does (400, code 50035) and the
`fake_discord` fixture fails a test in which that happened, so these tests only have to drive
each view; the assertions here check what the reader sees: whole links, never half of one."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from bot.simulator import Simulator
from bot.store import Generation, NewGeneration
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    FakeDiscord,
    autocomplete,
    button_press,
    dispatch,
    focused,
    member_payload,
    option,
    slash_command,
    subcommand,
    user_payload,
)
from tests.conftest import FakeClock
from tests.test_moderation_cog import (
    ALICE,
    LOG_CHANNEL,
    MOD_PERMISSIONS,
    MODERATOR,
    user_option,
    videomod,
)

LOCALES = ["en-US", "zh-CN"]
# What markdown escaping doubles, mentions, timestamps, a link, emoji with joiners and skin tones.
NOISE = "_*~|>`\\ <@123456789012345678> <t:1800000000:R> [x](https://e.com/a_b) 猫🐈‍⬛👍🏽 "
PROMPT = (NOISE * 100)[:5000]
NEGATIVE = ("_*" * 250)[:500]
REASON = "_" * 500
AUDIO = "https://cdn.example.com/" + "a_b*" * 505 + ".mp3"  # 2,048 characters
NAME = "_" * 32


EPHEMERAL = 64


def long_link(simulator: Simulator, task_id: str, length: int = 2048) -> str:
    """A link at the simulator's own origin (so the bot accepts plain http), `length` long."""
    start = f"{simulator.base_url}/files/{task_id}.mp4?signature="
    return start + ("Ab1-_.~" * length)[: length - len(start)]


def every_text(message: dict[str, Any]) -> str:
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields") or []]
        parts.append((embed.get("footer") or {}).get("text") or "")
    return "\n".join(parts)


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>()]+", text)


BROKEN_PIECES = re.compile(
    r"<(?:[@#][!&]?|t:|a?:)[^>\s]*…"  # a mention, channel, timestamp or emoji cut short
    r"|(?<!\\)(?:\\\\)*\\…"  # half of an escape: an odd run of backslashes before the cut
    r"|\]\([^)\s]*…"  # a masked link cut inside its address
)


def assert_nothing_cut_badly(fake: FakeDiscord) -> None:
    """What the reader sees: every cut is marked, and none splits a piece Discord renders."""
    for message in [*fake.messages.values(), *fake.deleted_messages.values()]:
        text = every_text(message)
        assert not BROKEN_PIECES.search(text), BROKEN_PIECES.search(text)


async def complete_with(simulator: Simulator, task_id: str, link: str) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url) as control:
        answer = await control.post(f"/_sim/tasks/{task_id}/complete", json={"results": [link]})
    assert answer.status_code == 200


async def set_log_channel(bot: VideoBot, locale: str) -> None:
    payload = videomod(
        "log_channel", [option("channel", LOG_CHANNEL, type=7)], group="config", locale=locale
    )
    await dispatch(bot, payload)


async def private(bot: VideoBot, fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    await dispatch(bot, payload)
    body = fake.interaction_response(int(payload["id"]))
    assert body["type"] == 4 and body["data"]["flags"] & 64, body
    return dict(body["data"])


def video(locale: str, **options: Any) -> dict[str, Any]:
    longest = {
        "prompt": PROMPT, "negative_prompt": NEGATIVE, "seed": 2147483647,
        "prompt_extend": True, "audio_url": AUDIO,
    }  # fmt: skip
    return slash_command(
        "video",
        [option(name, value) for name, value in {**longest, **options}.items()],
        locale=locale,
        attachment_size_limit=1000,  # too small for the file: the link is posted
    )


def whole_links_only(message: dict[str, Any], link: str) -> None:
    shown = links_in(every_text(message))
    assert not [s for s in shown if s != link and link.startswith(s)], "never half a link"


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_member_s_videos_with_the_longest_data_fit_everywhere(
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    locale: str,
) -> None:
    """Three of the longest requests (the third waits in the queue), a progress edit, one link
    that fits in the message, one that only fits below it, a failure with EvoLink's longest
    error, a crafted refusal, and what the member can open afterwards."""
    await set_log_channel(bot, locale)
    for _ in range(3):
        await dispatch(bot, video(locale))
    first, second = simulator.tasks  # the third waits in the bot's queue
    clock.advance(30)
    await bot.tracker.run_once()  # progress edits
    links = {first: long_link(simulator, first, 1500), second: long_link(simulator, second)}
    for task_id, link in links.items():
        await complete_with(simulator, task_id, link)
    clock.advance(10)
    await bot.tracker.run_once()
    await bot.tracker.run_once()  # a slot is free: the third starts
    [third] = [t for t in simulator.tasks if t not in links]
    simulator.fail_now(third, "odd_" + "x" * 200, "_*<@1>" * 400)
    clock.advance(10)
    await bot.tracker.run_once()

    delivered = [m for m in fake_discord.channel_messages(CHANNEL_ID) if m["kind"] == "channel"]
    assert len(delivered) == 2 and all(m["content"].startswith(f"<@{USER_ID}>") for m in delivered)
    [failure] = [
        m
        for m in fake_discord.messages.values()
        if m["kind"] == "followup" and "video:edit:3" in str(m["components"])
    ]
    assert failure["flags"] == EPHEMERAL, "the failure is told to the member alone"
    assert all(m["components"] for m in [*delivered, failure]), "the buttons are still there"
    for link in links.values():
        assert sum(links_in(every_text(m)).count(link) for m in delivered) == 1, "whole, once"
    assert [m for m in delivered if links[first] in m["content"]]  # it fits in the text itself
    assert not [m for m in delivered if links[second] in m["content"]]  # it does not
    for link in links.values():
        for message in fake_discord.messages.values():
            whole_links_only(message, link)
    for generation_id, via in ((1, "channel"), (2, "channel"), (3, "ephemeral")):
        generation = await bot.store.generations.get(generation_id)
        assert generation is not None and generation.delivered_via == via

    edit = button_press(
        "video:edit:1", message=fake_discord.api_message(delivered[0]["id"]), locale=locale
    )
    await dispatch(bot, edit)  # the prompt is over the form's 4,000: the member is told
    for view in ("videos", "credits", "videohelp"):
        await private(bot, fake_discord, slash_command(view, locale=locale))
    crafted = slash_command(
        "video",
        [
            option("prompt", "_" * 60_000),
            option("negative_prompt", "*" * 60_000),
            option("quality", "8k" * 1000),
            option("aspect_ratio", "1:1" * 1000),
            option("duration", 10**30),
            option("seed", -(10**30)),
            option("audio_url", "https://" + "a" * 60_000 + ".mp3"),
        ],
        locale=locale,
    )
    refusal = await private(bot, fake_discord, crafted)
    assert "5,000" in refusal["content"] and len(simulator.tasks) == 3
    assert_nothing_cut_badly(fake_discord)


async def add_generation(bot: VideoBot, clock: FakeClock, status: str, link: str) -> Generation:
    clock.advance(60)
    g = await bot.store.generations.add(
        NewGeneration(
            guild_id=GUILD_ID, channel_id=CHANNEL_ID, user_id=ALICE, locale="zh-CN",
            prompt=PROMPT, negative_prompt=NEGATIVE, quality="1080p", aspect_ratio="9:16",
            duration=15, seed=2147483647, prompt_extend=True, audio_url=AUDIO,
            idempotency_key=str(uuid.uuid4()), next_poll_at=0,
        )
    )  # fmt: skip
    await bot.store.execute(
        """UPDATE generations SET status = ?, task_id = ?, credits_reserved = 30,
           credits_used = 30, error_code = ?, error_message = ?, result_url = ?,
           submitted_at = requested_at, finished_at = requested_at + 50,
           delivered_at = requested_at + 51, delivered_via = 'channel' WHERE id = ?""",
        status, f"task-{'x' * 90}-{g.id:04d}", "odd_" + "y" * 200 if status == "failed" else None,
        "_*<@1>" * 400 if status == "failed" else None, link if status == "completed" else None,
        g.id,
    )  # fmt: skip
    got = await bot.store.generations.get(g.id)
    assert got is not None
    return got


def alice_with_a_long_name() -> dict[str, Any]:
    member = member_payload(ALICE, nick=NAME)
    del member["user"]
    return {
        "users": {str(ALICE): user_payload(ALICE, username="a" * 32, global_name=NAME)},
        "members": {str(ALICE): member},
    }


@pytest.mark.parametrize("locale", LOCALES)
async def test_moderator_views_with_the_longest_data_fit(
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    locale: str,
) -> None:
    await set_log_channel(bot, locale)
    link = long_link(simulator, "task", 2048)
    for n in range(8):
        await add_generation(bot, clock, "completed" if n % 2 else "failed", link)
    alice = alice_with_a_long_name()

    def mod(name: str, *options: dict[str, Any], group: str | None = None) -> dict[str, Any]:
        return videomod(name, list(options), group=group, locale=locale, resolved=alice)

    member, reason = user_option("member", ALICE), option("reason", REASON)
    for _ in range(6):
        grant = mod("grant", member, option("amount", 999_999.99), reason, group="credits")
        await private(bot, fake_discord, grant)
    await private(bot, fake_discord, mod("ban", user_option("user", ALICE), reason))
    for n in range(12):
        # 200 characters, the longest; all but the first are literal, within the blocklist's
        # cap on what its regexes read at once
        body = "(a|`_*)" * 28 if n == 0 else ("a`_\\*" * 40)[:196]
        pattern = option("pattern", f"/{n:02d}{body}/")
        await private(bot, fake_discord, mod("add", pattern, reason, group="blocklist"))

    views = [
        mod("log"),
        mod("log", user_option("user", ALICE)),
        mod("show", option("task_id", f"task-{'x' * 90}-0002")),
        mod("show", option("task_id", f"task-{'x' * 90}-0001")),
        mod("audit"),
        mod("bans"),
        mod("list", group="blocklist"),
        mod("show", user_option("member", ALICE), group="credits"),
    ]
    for view in views:
        await private(bot, fake_discord, view)
    blocked = slash_command(
        "video",
        [option("prompt", PROMPT[:4960] + " 00" + "a" * 28), option("negative_prompt", NEGATIVE)],
        user_id=USER_ID,
        locale=locale,
    )
    await dispatch(bot, blocked)  # refused, and posted to the mod-log with the whole rule
    mine = slash_command("credits", user_id=ALICE, locale=locale)
    await private(bot, fake_discord, mine)
    theirs = slash_command("videos", user_id=ALICE, locale=locale)
    await dispatch(bot, theirs)  # banned members still see their own videos

    peek = autocomplete(
        "videomod", [subcommand("show", [focused("task_id", "task")])],
        user_id=MODERATOR, permissions=MOD_PERMISSIONS, locale=locale,
    )  # fmt: skip
    await dispatch(bot, peek)
    choices = fake_discord.interaction_response(int(peek["id"]))["data"]["choices"]
    assert choices and all(len(c["name"]) <= 100 for c in choices)
    posts = fake_discord.channel_messages(LOG_CHANNEL)
    assert len(posts) == 1 + 6 + 1 + 12 + 1  # every action, and the blocked prompt
    assert posts[-1]["embeds"][0]["title"] == "🚫 Prompt blocked"
    assert_nothing_cut_badly(fake_discord)
