"""/videomod export as a moderator opens it: the columns they review, in their language, the
settings as they took effect, Discord ids kept digit for digit, credits as people write them
(from the ledger: what each video held, cost and gave back), and the link to the posted video."""

from __future__ import annotations

import csv
import io

from bot.simulator import Simulator
from bot.ui.client import VideoBot
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
from tests.test_moderation_cog import export_file, videomod

ENGLISH_HEADER = [
    "Time (UTC)", "Video #", "Server ID", "Channel ID", "Member ID", "Member", "Prompt",
    "Negative prompt", "Quality", "Aspect ratio", "Duration (seconds)", "Prompt extend", "Audio",
    "Seed", "Status", "Error", "Credits held", "Credits charged", "Credits refunded", "Task ID",
    "Posted message",
]  # fmt: skip


async def exported(bot: VideoBot, fake: FakeDiscord, locale: str = "en-US") -> tuple[str, ...]:
    _, _, content = await export_file(bot, fake, videomod("export", locale=locale))
    return tuple(content.decode("utf-8-sig").splitlines())


async def test_the_export_holds_what_a_moderator_reviews(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.price_per_second["720p"] = 0.8  # EvoLink reserves and charges 4 of the 5 held
    await dispatch(bot, slash_command("video", [option("prompt", "a fox")], username="mei"))
    failing = [
        option("prompt", "a storm [[fail:content_policy_violation]]"),
        option("quality", "1080p"),
        option("seed", 7),
        option("prompt_extend", True),
    ]
    await dispatch(bot, slash_command("video", failing, username="mei"))
    clock.advance(61)
    await bot.tracker.run_once()

    lines = await exported(bot, fake_discord)
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    assert rows[0] == ENGLISH_HEADER  # no internal state (idempotency keys, poll counts...)
    failed, made = (dict(zip(ENGLISH_HEADER, row, strict=True)) for row in rows[1:])
    delivered = await bot.store.generations.get(1)
    assert delivered is not None and delivered.delivery_message_id is not None
    assert made == {
        "Time (UTC)": "2027-01-15T08:00:00Z",
        "Video #": "1",
        "Server ID": f'="{GUILD_ID}"',  # shown as the id itself, never 1.1E+18
        "Channel ID": f'="{CHANNEL_ID}"',
        "Member ID": f'="{USER_ID}"',
        "Member": "mei",
        "Prompt": "a fox",
        "Negative prompt": "",
        "Quality": "720p",  # the defaults that applied, not blanks
        "Aspect ratio": "16:9",
        "Duration (seconds)": "5",
        "Prompt extend": "no",
        "Audio": "",
        "Seed": "random",
        "Status": "✅ completed",
        "Error": "",
        "Credits held": "5",
        "Credits charged": "4",
        "Credits refunded": "1",
        "Task ID": delivered.task_id,
        "Posted message": (
            f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{delivered.delivery_message_id}"
        ),
    }
    assert (failed["Quality"], failed["Seed"], failed["Prompt extend"]) == ("1080p", "7", "yes")
    assert failed["Error"].startswith("content_policy_violation: ")
    assert (failed["Credits held"], failed["Credits charged"], failed["Credits refunded"]) == (
        "10", "0", "10",
    )  # fmt: skip
    assert failed["Posted message"] == ""  # told privately: nothing in the channel
    # numbers are bare, as people write them; the ids and texts are quoted
    assert ',"=""' in lines[1] and ",1," not in lines[1] and ",10,0,10," in lines[1]
    assert ",5,4,1," in lines[2] and "5.0" not in "\n".join(lines)


async def test_the_export_speaks_the_moderator_s_language(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    await dispatch(bot, slash_command("video", [option("prompt", "一只猫")]))
    header, row = await exported(bot, fake_discord, locale="zh-CN")
    assert header.startswith('"时间（UTC）","视频编号","服务器 ID","频道 ID","成员 ID","成员"')
    assert '"随机"' in row and '"否"' in row  # a random seed, no prompt extend
