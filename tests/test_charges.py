"""EvoLink's credit figures as members and moderators meet them: a believable figure is settled
(a lower final charge gives the difference back), anything else keeps what is held and is
reported in the log and the mod-log channel. The simulator reports each figure by prompt marker.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import FakeDiscord, dispatch, option, running_bot, settled, slash_command
from tests.conftest import BotFactory, FakeClock
from tests.test_moderation_cog import LOG_CHANNEL, videomod


def video(prompt: str) -> dict[str, Any]:
    return slash_command("video", [option("prompt", prompt)])


async def ledger(bot: VideoBot) -> list[tuple[str, float]]:
    rows = await bot.store.fetchall("SELECT kind, amount FROM credit_ledger ORDER BY id")
    return [(r[0], r[1]) for r in rows]


async def finish(bot: VideoBot, clock: FakeClock) -> None:
    clock.advance(61)
    async with settled():  # the mod-log posts it starts too
        await bot.tracker.run_once()


async def use_log_channel(bot: VideoBot) -> None:
    await dispatch(
        bot, videomod("log_channel", [option("channel", LOG_CHANNEL, type=7)], group="config")
    )


def warnings(fake: FakeDiscord) -> list[str]:
    return [
        str(embed.get("description"))
        for message in fake.channel_messages(LOG_CHANNEL)
        for embed in message.get("embeds", [])
        if "Attention" in str(embed.get("title"))
    ]


@pytest.mark.parametrize(
    ("marker", "settled_at", "after"),
    [
        ("[[used:lower]]", 3.0, [("reserve", -5.0), ("settle", 2.0)]),  # 2 credits back
        ("[[used:higher]]", 7.5, [("reserve", -5.0), ("settle", -2.5)]),  # within twice 5
        ("[[used:10]]", 10.0, [("reserve", -5.0), ("settle", -5.0)]),  # the ceiling itself
    ],
)
async def test_a_believable_final_charge_is_settled(
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    marker: str,
    settled_at: float,
    after: list[tuple[str, float]],
) -> None:
    await use_log_channel(bot)
    await dispatch(bot, video(f"a heron at dusk {marker}"))
    await finish(bot, clock)
    assert await ledger(bot) == after
    row = await bot.store.generations.get(1)
    assert row is not None and row.status == "completed" and row.credits_used == settled_at
    assert warnings(fake_discord) == []


async def test_a_missing_final_charge_settles_to_evolinks_reservation(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.price_per_second["720p"] = 0.8  # EvoLink reserves 4 of the 5 held
    await dispatch(bot, video("a heron at dusk [[used:missing]]"))
    await finish(bot, clock)
    row = await bot.store.generations.get(1)
    assert row is not None and row.task_id is not None
    assert "credits_used" not in simulator.task_answer(row.task_id)["usage"]  # none was given
    assert await ledger(bot) == [("reserve", -5.0), ("settle", 1.0)]
    assert row.status == "completed" and row.credits_used == 4.0


@pytest.mark.parametrize(
    ("marker", "figure", "said"),
    [
        ("[[used:negative]]", "-5", "final charge of `-5` credits"),
        ("[[used:absurd]]", "5000", "final charge of `5,000` credits"),
        ("[[used:0]]", "0", "cost nothing"),
    ],
)
async def test_an_unbelievable_final_charge_keeps_what_is_held_and_is_reported(
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    marker: str,
    figure: str,
    said: str,
) -> None:
    await use_log_channel(bot)
    await dispatch(bot, video(f"a heron at dusk {marker}"))
    with caplog.at_level(logging.ERROR, logger="bot.charges"):
        await finish(bot, clock)
    assert await ledger(bot) == [("reserve", -5.0)]  # charged the 5 held, nothing more or less
    row = await bot.store.generations.get(1)
    assert row is not None and row.status == "completed" and row.credits_used == 5.0
    assert row.task_id is not None
    [error] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"{figure} credits used for generation 1 (task {row.task_id})" in error
    [warning] = warnings(fake_discord)
    assert said in warning and f"video #1 (task `{row.task_id}`)" in warning
    assert "member is charged the 5 credits held" in warning
    assert "/videomod credits refund" in warning
    deliveries = [m for m in fake_discord.channel_messages(row.channel_id)
                  if "your video is ready" in m["content"]]  # fmt: skip
    assert len(deliveries) == 1, "the member still gets the video"


@pytest.mark.parametrize("marker", ["[[reserved:negative]]", "[[reserved:absurd]]"])
async def test_an_unbelievable_reservation_keeps_the_estimate(
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    marker: str,
) -> None:
    await use_log_channel(bot)
    with caplog.at_level(logging.ERROR, logger="bot.charges"):
        await dispatch(bot, video(f"a heron at dusk {marker}"))
    assert await ledger(bot) == [("reserve", -5.0)]
    row = await bot.store.generations.get(1)
    assert row is not None and row.credits_reserved == 5.0  # what the member is shown
    assert any("credits reserved for generation 1" in r.getMessage() for r in caplog.records)
    [warning] = warnings(fake_discord)
    assert "EvoLink said it reserved" in warning and "at most 10" in warning
    await finish(bot, clock)  # the final charge (the real 5) settles as usual
    assert await ledger(bot) == [("reserve", -5.0)]
    assert len(warnings(fake_discord)) == 1


async def test_with_a_price_of_zero_members_pay_nothing_whatever_evolink_reports(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(price_720p=0.0), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await use_log_channel(bot)
        await dispatch(bot, video("a heron at dusk"))
        await finish(bot, clock)
        spent = sum(amount for _, amount in await ledger(bot))
        row = await bot.store.generations.get(1)
    assert spent == 0 and row is not None and row.status == "completed"
    assert warnings(fake_discord) == [], "the owner's choice, not an anomaly"
