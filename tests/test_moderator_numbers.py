"""What moderators read says numbers as people write them, with real plurals: no "amount:
20.0", no Python dictionaries or True/False in the audit trail, ids shown as the member or role
they are, and no "failed (0%)" for a video that will never progress."""

from __future__ import annotations

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import FakeDiscord, dispatch, option, slash_command
from tests.conftest import FakeClock
from tests.test_moderation_cog import ALICE, answer, user_option, videomod

ROLE = 4242


async def audit_lines(bot: VideoBot, fake: FakeDiscord, locale: str = "en-US") -> list[str]:
    data = await answer(bot, fake, videomod("audit", locale=locale))
    return [f["value"] for f in data["embeds"][0]["fields"]]  # newest first


async def test_the_audit_trail_reads_as_people_write(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    member, why = user_option("member", ALICE), option("reason", "r")
    await answer(bot, fake_discord, videomod(
        "grant", [member, option("amount", 20.0), why], group="credits"))  # fmt: skip
    await answer(bot, fake_discord, videomod(
        "take", [member, option("amount", 2.5), why], group="credits"))  # fmt: skip
    role = [option("role", ROLE, type=8), option("amount", "7")]
    await answer(bot, fake_discord, videomod("allowance", role, group="credits"))
    limits = [option("max_running", 3), option("default_credits", "unlimited"),
              option("period", "weekly"), option("cooldown", 30)]  # fmt: skip
    await answer(bot, fake_discord, videomod("limits", limits))
    await dispatch(bot, slash_command("video", [option("prompt", "x")], user_id=ALICE))
    clock.advance(61)
    await bot.tracker.run_once()
    task_id = next(iter(simulator.tasks))
    refund = [option("task_id", task_id), why]
    await answer(bot, fake_discord, videomod("refund", refund, group="credits"))

    refunded, limited, allowance, took, granted = await audit_lines(bot, fake_discord)
    assert "\ncredits: 5 · video: #1\n" in refunded
    assert limited.endswith(
        "\nlimits: cooldown: 30 s, default\\_credits: unlimited, max\\_running: 3, "
        "period: weekly · reset: no"
    )
    assert allowance.endswith(f"\nallowance: role · credits: 7 · target: <@&{ROLE}>")
    assert "\namount: 2.5\n" in took and "\namount: 20\n" in granted
    everything = "\n".join([refunded, limited, allowance, took, granted])
    for odd in (".0", "{", "'", "True", "False", "(s)"):
        assert odd not in everything, odd
    chinese = await audit_lines(bot, fake_discord, locale="zh-CN")
    assert "冷却时间: 30 秒, 默认积分: 不限" in chinese[1] and "· 重置: 否" in chinese[1]


async def test_a_finished_video_shows_no_progress_figure(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, slash_command("video", [option("prompt", "x [[fail:service_error]]")]))
    clock.advance(61)
    await bot.tracker.run_once()
    data = await answer(bot, fake_discord, videomod("show", [option("task_id", "#1")]))
    fields = {f["name"]: f["value"] for f in data["embeds"][0]["fields"]}
    assert fields["Status"] == "❌ failed"  # not "failed (0%)"
