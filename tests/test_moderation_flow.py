"""Moderation as it meets /video: bans, the blocklist, results withheld from a banned member,
and a member's own history with its Regenerate buttons."""

from __future__ import annotations

from typing import Any

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    USER_ID,
    FakeDiscord,
    button_press,
    dispatch,
    option,
    slash_command,
)
from tests.conftest import FakeClock, deadline
from tests.test_moderation_cog import LOG_CHANNEL, answer, user_option, videomod

EPHEMERAL = 64


def creates(sim: Simulator) -> list[dict[str, Any]]:
    return [r.json for r in sim.requests if r.path == "/v1/videos/generations"]


async def ledger_rows(bot: VideoBot) -> int:
    row = await bot.store.fetchone("SELECT COUNT(*) FROM credit_ledger")
    assert row is not None
    return int(row[0])


async def set_log_channel(bot: VideoBot) -> None:
    await dispatch(
        bot, videomod("log_channel", [option("channel", LOG_CHANNEL, type=7)], group="config")
    )


async def test_a_banned_member_is_refused_politely_with_no_call_and_no_charge(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await dispatch(bot, videomod("ban", [user_option("user", USER_ID), option("reason", "spam")]))
    payload = slash_command("video", [option("prompt", "a cat")])
    await dispatch(bot, payload)
    refusal = fake_discord.private_reply(int(payload["id"]))
    assert refusal["flags"] & EPHEMERAL
    assert "can't make videos in this server" in refusal["content"]
    assert "moderator" in refusal["content"] and str(USER_ID + 1000) not in refusal["content"]
    assert creates(simulator) == [] and await ledger_rows(bot) == 0
    await dispatch(bot, videomod("unban", [user_option("user", USER_ID)]))
    await dispatch(bot, slash_command("video", [option("prompt", "a cat")]))
    assert len(creates(simulator)) == 1


async def test_a_newly_banned_members_running_video_goes_only_to_the_mod_log(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await set_log_channel(bot)
    await dispatch(bot, slash_command("video", [option("prompt", "a cat")]))
    await dispatch(bot, videomod("ban", [user_option("user", USER_ID), option("reason", "abuse")]))
    clock.advance(61)
    await bot.tracker.run_once()
    channel = fake_discord.channel_messages(CHANNEL_ID)
    assert not [m for m in channel if "your video is ready" in m["content"]]
    withheld = [m for m in fake_discord.channel_messages(LOG_CHANNEL)
                if "/files/" in str(m["embeds"])]  # fmt: skip
    assert len(withheld) == 1
    row = await bot.store.generations.get(1)
    assert row is not None and row.status == "completed" and row.delivered_via == "withheld"


async def test_a_blocked_prompt_costs_nothing_calls_nothing_and_is_logged(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await set_log_channel(bot)
    await dispatch(bot, videomod("add", [option("pattern", "forbidden")], group="blocklist"))
    payload = slash_command(
        "video", [option("prompt", "a calm lake"), option("negative_prompt", "FORBIDDEN fish")]
    )
    await dispatch(bot, payload)
    refusal = fake_discord.private_reply(int(payload["id"]))
    assert refusal["flags"] & EPHEMERAL and "doesn't allow" in refusal["content"]
    assert creates(simulator) == [] and await ledger_rows(bot) == 0
    assert await bot.store.generations.get(1) is None
    logged = [m for m in fake_discord.channel_messages(LOG_CHANNEL)
              if "forbidden" in str(m["embeds"]).lower()]  # fmt: skip
    assert logged, "the attempt is shown to moderators"


async def test_a_regex_typed_in_full_width_blocks_the_prompt_typed_the_same_way(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    """Chinese input methods type full-width digits, letters and punctuation. Prompts are
    compared in normal form (`１８` is `18`), and so are a regex's characters: the entry blocks
    the prompt however either was typed, and a full-width `＋` stays a plus sign, not syntax."""
    for pattern in ("/１８禁/", "/裸体，/", "/ｇｕｎ＋/"):
        add = videomod("add", [option("pattern", pattern)], group="blocklist", locale="zh-CN")
        assert (await answer(bot, fake_discord, add))["content"].startswith(f"已添加 `{pattern}`")
    for prompt in ("一个 １８禁 场景", "a 18禁 scene", "一个裸体，女人", "a GUN+ show"):
        payload = slash_command("video", [option("prompt", prompt)], locale="zh-CN")
        await dispatch(bot, payload)
        refusal = fake_discord.private_reply(int(payload["id"]))
        assert refusal["flags"] & EPHEMERAL and "不允许" in refusal["content"], prompt
    assert creates(simulator) == [] and await ledger_rows(bot) == 0
    await dispatch(bot, slash_command("video", [option("prompt", "a gunn show")]))
    assert len(creates(simulator)) == 1


async def test_no_blocklist_pattern_can_stall_video_requests(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    """With Python's `re`, `\\w*\\w*\\w*z` ran for hours on this prompt, on the event loop:
    every server and the gateway heartbeat waited. RE2 reads the prompt once (well under a
    millisecond, `python -m bench.blocklist`), and in a worker thread."""
    for pattern in ("/\\w*\\w*\\w*z/", "/(a|a)*b/"):
        add = videomod("add", [option("pattern", pattern)], group="blocklist")
        assert (await answer(bot, fake_discord, add))["content"].startswith(f"Added `{pattern}`")
    negative = option("negative_prompt", "a" * 500)
    allowed = slash_command("video", [option("prompt", "a" * 5000), negative])
    blocked = slash_command("video", [option("prompt", "a" * 4999 + "b")])
    with deadline(5):
        await dispatch(bot, allowed)
        await dispatch(bot, blocked)
    [create] = creates(simulator)
    assert create["prompt"] == "a" * 5000
    refusal = fake_discord.private_reply(int(blocked["id"]))
    assert refusal["flags"] & EPHEMERAL and "doesn't allow" in refusal["content"]
    assert await ledger_rows(bot) == 1  # the allowed video's reservation only


async def test_my_videos_show_seeds_and_offer_regenerate(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, slash_command("video", [option("prompt", "a fox"), option("seed", 31)]))
    clock.advance(61)
    await bot.tracker.run_once()
    mine = slash_command("videos")
    await dispatch(bot, mine)
    answer = fake_discord.interaction_response(int(mine["id"]))
    assert answer["data"]["flags"] & EPHEMERAL
    assert "seed 31" in str(answer["data"]["embeds"])
    buttons = [b for row in answer["data"]["components"] for b in row["components"]]
    assert [b["custom_id"] for b in buttons] == ["video:again:1"]
    [listing] = fake_discord.interaction_messages(int(mine["id"]))
    press = button_press("video:again:1", message=fake_discord.api_message(listing["id"]))
    await dispatch(bot, press)
    _, again = creates(simulator)
    assert again["prompt"] == "a fox" and again["seed"] != 31

    other = slash_command("videos", user_id=USER_ID + 1)
    await dispatch(bot, other)
    theirs = fake_discord.interaction_response(int(other["id"]))
    assert "a fox" not in str(theirs["data"]["embeds"])  # never anyone else's
