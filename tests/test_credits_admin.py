"""/videomod credits, limits and balance: moderators only, every change in the ledger and the
audit trail, and the limits they set are the ones /video then applies."""

from __future__ import annotations

from typing import Any

import pytest

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    MEMBER_PERMISSIONS,
    USER_ID,
    FakeDiscord,
    dispatch,
    option,
    slash_command,
)
from tests.conftest import FakeClock
from tests.test_moderation_cog import ALICE, LOG_CHANNEL, MODERATOR, answer, user_option, videomod

ROLE = 5555


async def audit_rows(bot: VideoBot) -> list[tuple[Any, ...]]:
    rows = await bot.store.fetchall(
        "SELECT moderator_id, action, target_user_id, reason FROM audit_log ORDER BY id"
    )
    return [tuple(r) for r in rows]


async def ledger(bot: VideoBot, user_id: int = ALICE) -> list[tuple[Any, ...]]:
    rows = await bot.store.fetchall(
        "SELECT kind, amount, moderator_id, reason FROM credit_ledger "
        "WHERE user_id = ? ORDER BY id",
        user_id,
    )
    return [tuple(r) for r in rows]


async def test_members_without_manage_server_are_refused(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    for payload in (
        videomod(
            "grant",
            [user_option("member", ALICE), option("amount", 5.0), option("reason", "x")],
            group="credits",
            permissions=MEMBER_PERMISSIONS,
        ),
        videomod("limits", [option("max_running", 9)], permissions=MEMBER_PERMISSIONS),
        videomod("balance", permissions=MEMBER_PERMISSIONS),
    ):
        data = await answer(bot, fake_discord, payload)
        assert "Manage Server" in data["content"]
    assert await ledger(bot) == [] and await audit_rows(bot) == []


async def test_grant_and_take_are_ledger_and_audit_rows(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    await answer(
        bot,
        fake_discord,
        videomod(
            "grant",
            [
                user_option("member", ALICE),
                option("amount", 20.0),
                option("reason", "won the contest"),
            ],
            group="credits",
        ),
    )
    data = await answer(
        bot,
        fake_discord,
        videomod(
            "take",
            [user_option("member", ALICE), option("amount", 5.0), option("reason", "spam")],
            group="credits",
        ),
    )
    assert data["content"] == f"Took 5 credits from <@{ALICE}> for this period."
    assert await ledger(bot) == [
        ("grant", 20.0, MODERATOR, "won the contest"),
        ("take", -5.0, MODERATOR, "spam"),
    ]
    assert await audit_rows(bot) == [
        (MODERATOR, "grant", ALICE, "won the contest"),
        (MODERATOR, "grant", ALICE, "spam"),
    ]
    audit = await answer(bot, fake_discord, videomod("audit"))
    [took, granted] = [f["value"] for f in audit["embeds"][0]["fields"]]  # newest first
    assert f"➖ took credits from <@{ALICE}>" in took and "granted" not in took
    assert f"🎁 granted credits <@{ALICE}>" in granted
    shown = await answer(
        bot, fake_discord, videomod("show", [user_option("member", ALICE)], group="credits")
    )
    fields = {f["name"]: f["value"] for f in shown["embeds"][0]["fields"]}
    # the period's allowance and the moderators' extra, apart: not "65 of 50"
    assert fields["Remaining"] == "**65** of 50 per day plus 15 credits granted by a moderator"
    assert "won the contest" in fields["Ledger (newest first)"]


async def test_a_member_reads_a_take_apart_from_the_allowance_and_each_video_s_charge(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    take = [user_option("member", USER_ID), option("amount", 10.0), option("reason", "spam")]
    await answer(bot, fake_discord, videomod("take", take, group="credits"))
    await dispatch(bot, slash_command("video", [option("prompt", "x")]))
    clock.advance(61)
    await bot.tracker.run_once()
    payload = slash_command("credits")
    await dispatch(bot, payload)
    [embed] = fake_discord.interaction_response(int(payload["id"]))["data"]["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Remaining"] == "**35** of 50 per day minus 10 credits taken by a moderator"
    video, took = fields["Latest videos and changes"].splitlines()
    assert video.startswith("video #1 · held 5 · cost 5 · <t:")  # nothing came back
    assert took.startswith("`−10` taken · spam · <t:")


async def test_a_crafted_negative_grant_is_refused(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    data = await answer(
        bot,
        fake_discord,
        videomod(
            "grant",
            [user_option("member", ALICE), option("amount", -500.0), option("reason", "x")],
            group="credits",
        ),
    )
    assert "`amount` must be between" in data["content"]
    assert await ledger(bot) == []


async def test_a_role_allowance_applies_to_video_requests(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await answer(
        bot,
        fake_discord,
        videomod(
            "allowance", [option("role", ROLE, type=8), option("amount", "7")], group="credits"
        ),
    )
    video = slash_command(
        "video", [option("prompt", "a"), option("duration", 5)], user_id=ALICE, roles=[ROLE]
    )
    await dispatch(bot, video)
    again = slash_command(
        "video", [option("prompt", "b"), option("duration", 5)], user_id=ALICE, roles=[ROLE]
    )
    await dispatch(bot, again)
    refusal = fake_discord.private_reply(int(again["id"]))
    assert "you have 2 left" in refusal["content"]
    assert (MODERATOR, "limit", None, None) in await audit_rows(bot)


async def test_limits_are_shown_set_and_applied(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    shown = await answer(bot, fake_discord, videomod("limits"))
    fields = {f["name"]: f["value"] for f in shown["embeds"][0]["fields"]}
    assert fields["Credits per member"] == "50" and fields["In progress per member"] == "2"
    data = await answer(
        bot,
        fake_discord,
        videomod(
            "limits",
            [
                option("max_running", 1),
                option("max_queued", 0),
                option("default_credits", "unlimited"),
                option("period", "weekly"),
            ],
        ),
    )
    fields = {f["name"]: f["value"] for f in data["embeds"][0]["fields"]}
    assert fields["Credits per member"] == "unlimited" and fields["Period"] == "weekly"
    await dispatch(bot, slash_command("video", [option("prompt", "one")]))
    busy = slash_command("video", [option("prompt", "two")])
    await dispatch(bot, busy)
    refusal = fake_discord.private_reply(int(busy["id"]))
    assert "You already have 1 video in progress" in refusal["content"]
    reset = await answer(bot, fake_discord, videomod("limits", [option("reset", True)]))
    fields = {f["name"]: f["value"] for f in reset["embeds"][0]["fields"]}
    assert fields["In progress per member"] == "2"


async def test_refund_of_a_finished_video(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, slash_command("video", [option("prompt", "x")], user_id=ALICE))
    clock.advance(61)
    await bot.tracker.run_once()
    task_id = next(iter(simulator.tasks))
    refund = videomod(
        "refund", [option("task_id", task_id), option("reason", "glitchy")], group="credits"
    )
    data = await answer(bot, fake_discord, refund)
    assert data["content"] == f"Gave 5 credits back to <@{ALICE}>."
    again = await answer(
        bot,
        fake_discord,
        videomod(
            "refund", [option("task_id", task_id), option("reason", "again")], group="credits"
        ),
    )
    assert "already given back" in again["content"]
    assert (await ledger(bot))[-1] == ("refund", 5.0, MODERATOR, "glitchy")
    assert (MODERATOR, "refund", ALICE, "glitchy") in await audit_rows(bot)


async def test_balance_and_a_refused_key(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    payload = videomod("balance")
    await dispatch(bot, payload)
    [reply] = fake_discord.followups(int(payload["id"]))
    assert "**10,000** credits left" in reply["content"]
    simulator.faults.add(route="credits", status=401, always=True)
    payload = videomod("balance")
    await dispatch(bot, payload)
    [reply] = fake_discord.followups(int(payload["id"]))
    assert "refused the bot's API key" in reply["content"]


@pytest.mark.parametrize(
    ("reported", "shown"),
    [
        (1e308, "EvoLink reports **1e+308** credits for the account, which cannot be right."),
        (-5, "EvoLink reports **-5** credits for the account, which cannot be right."),
        (123456789012345678901234567890, "EvoLink reports **1.23e+29** credits for the account"),
        (999_999_999_999.5, "The EvoLink account has **999,999,999,999.5** credits left."),
        (0.004, "The EvoLink account has **0** credits left."),
        (1234567.891, "The EvoLink account has **1,234,567.89** credits left."),
    ],
)
async def test_an_odd_balance_is_shown_short_and_marked(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, reported: float, shown: str
) -> None:
    simulator.balance = reported
    payload = videomod("balance")
    await dispatch(bot, payload)
    [reply] = fake_discord.followups(int(payload["id"]))
    assert shown in reply["content"] and len(reply["content"]) < 200


async def test_an_empty_evolink_balance_warns_the_moderators(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await dispatch(
        bot, videomod("log_channel", [option("channel", LOG_CHANNEL, type=7)], group="config")
    )
    simulator.faults.add(route="create", status=402)
    payload = slash_command("video", [option("prompt", "x")], user_id=USER_ID)
    await dispatch(bot, payload)
    member_sees = fake_discord.private_reply(int(payload["id"]))
    assert "out of credits" in member_sees["content"] and "not charged" in member_sees["content"]
    warnings = [
        m
        for m in fake_discord.channel_messages(LOG_CHANNEL)
        if "balance cannot cover" in str(m["embeds"])
    ]
    assert len(warnings) == 1
    # the warning is for the moderators: the member's channel gets nothing public about it
    public = [m for m in fake_discord.channel_messages(CHANNEL_ID) if not m["flags"] & 64]
    assert public == []


async def test_a_refused_key_is_reported_once_in_the_log_and_the_mod_log(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, caplog: Any
) -> None:
    await dispatch(
        bot, videomod("log_channel", [option("channel", LOG_CHANNEL, type=7)], group="config")
    )
    simulator.faults.add(route="create", status=401, always=True)
    for n in range(3):
        payload = slash_command("video", [option("prompt", f"x{n}")], user_id=USER_ID + n)
        await dispatch(bot, payload)
        member_sees = fake_discord.private_reply(int(payload["id"]))
        assert "refused the bot's key" in member_sees["content"]
        # only the owner can fix it: members are not sent to the server's admins
        assert "Only the bot's owner" in member_sees["content"]
        assert "server admin" not in member_sees["content"]
    posts = [m for m in fake_discord.channel_messages(LOG_CHANNEL)
             if "refused the bot's API key" in str(m["embeds"])]  # fmt: skip
    assert len(posts) == 1
    errors = [r for r in caplog.records if "refused EVOLINK_API_KEY" in r.getMessage()]
    assert len(errors) == 1 and "sk-sim" not in errors[0].getMessage()


async def test_a_burst_of_low_balance_refusals_makes_one_warning(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await dispatch(
        bot, videomod("log_channel", [option("channel", LOG_CHANNEL, type=7)], group="config")
    )
    simulator.faults.add(route="create", status=402, always=True)
    for n in range(4):
        await dispatch(bot, slash_command("video", [option("prompt", "x")], user_id=USER_ID + n))
    warnings = [m for m in fake_discord.channel_messages(LOG_CHANNEL)
                if "balance cannot cover" in str(m["embeds"])]  # fmt: skip
    assert len(warnings) == 1
