"""Credits as members meet them: /credits, refusals, settlement, refunds, the queue and Cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    FakeDiscord,
    button_press,
    dispatch,
    option,
    running_bot,
    settled,
    slash_command,
    subcommand,
    wait_until,
)
from tests.conftest import BotFactory, FakeClock
from tests.test_video_flow import public, status_for

EPHEMERAL = 64
MOD_PERMISSIONS = 0x20 | 0x400 | 0x800  # Manage Server, view and send


def video(
    prompt: str = "a lighthouse at dawn", user_id: int = USER_ID, **opts: Any
) -> dict[str, Any]:
    options = [option("prompt", prompt)] + [option(k, v) for k, v in opts.items()]
    return slash_command("video", options, user_id=user_id)


def creates(sim: Simulator) -> int:
    return len([r for r in sim.requests if r.path == "/v1/videos/generations"])


async def ledger(bot: VideoBot) -> list[tuple[str, float]]:
    rows = await bot.store.fetchall("SELECT kind, amount FROM credit_ledger ORDER BY id")
    return [(r[0], r[1]) for r in rows]


async def credits_embed(bot: VideoBot, fake: FakeDiscord, user_id: int = USER_ID) -> dict[str, Any]:
    payload = slash_command("credits", user_id=user_id)
    await dispatch(bot, payload)
    answer = fake.interaction_response(int(payload["id"]))
    assert answer["type"] == 4 and answer["data"]["flags"] == EPHEMERAL
    [embed] = answer["data"]["embeds"]
    return {f["name"]: f["value"] for f in embed["fields"]}


async def test_credits_shows_remaining_held_renewal_and_recent_charges(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    await dispatch(bot, video(duration=10, quality="1080p"))
    fields = await credits_embed(bot, fake_discord)
    assert fields["Remaining"].startswith("**30** of 50 per day")
    assert fields["Held by videos in progress"] == "20"
    assert fields["Renews"].startswith("<t:")
    [line] = fields["Latest videos and changes"].splitlines()
    assert line.startswith("video #1 · holding 20 while it is made · <t:")


async def test_a_refusal_for_credits_costs_nothing_and_calls_nothing(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    async with running_bot(make_bot(default_user_credits=12.0), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await dispatch(bot, video(duration=10))
        payload = video(duration=5)
        await dispatch(bot, payload)
    refusal = fake_discord.private_reply(int(payload["id"]))
    assert fake_discord.interaction_response(int(payload["id"]))["type"] == 4  # not deferred
    assert "would cost 5 credits and you have 2 left" in refusal["content"]
    assert "renew <t:" in refusal["content"]
    assert len(public(fake_discord)) == 1  # the first request's status; none for the refused
    assert creates(simulator) == 1


async def test_settled_to_the_api_figure_when_it_charges_less(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.price_per_second["720p"] = 0.8  # EvoLink reserves 4 for a 5 s video; we held 5
    await dispatch(bot, video())
    assert await ledger(bot) == [("reserve", -5.0), ("settle", 1.0)]
    clock.advance(61)
    await bot.tracker.run_once()
    assert await ledger(bot) == [("reserve", -5.0), ("settle", 1.0)]  # credits_used = 4 too
    fields = await credits_embed(bot, fake_discord)
    assert fields["Remaining"].startswith("**46** of 50 per day")
    assert fields["Held by videos in progress"] == "0"
    # what the video held, what it finally cost and what came back: no "reserved · estimate"
    [line] = fields["Latest videos and changes"].splitlines()
    assert line.startswith("video #1 · held 5 · cost 4 · 1 came back · <t:")


async def test_a_failed_video_gives_every_credit_back(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, video("boom [[fail:generation_failed_no_content]]"))
    clock.advance(61)
    await bot.tracker.run_once()
    assert await ledger(bot) == [("reserve", -5.0), ("refund", 5.0)]
    fields = await credits_embed(bot, fake_discord)
    assert fields["Remaining"].startswith("**50**")
    [line] = fields["Latest videos and changes"].splitlines()
    assert line.startswith("video #1 · held 5 · cost nothing · 5 came back · <t:")


async def test_an_api_refusal_refunds_at_once(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    simulator.faults.add(route="create", status=402)
    await dispatch(bot, video())
    assert await ledger(bot) == [("reserve", -5.0), ("refund", 5.0)]


async def test_queue_cancel_and_promotion(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await dispatch(bot, video("first"))
        second, third = video("second"), video("third")
        await dispatch(bot, second)
        await dispatch(bot, third)
        assert creates(simulator) == 1  # the others wait in our own queue, not at EvoLink

        status = status_for(fake_discord, third)
        assert status is not None
        assert "#2 in your queue" in status["embeds"][0]["fields"][0]["value"]
        [button] = status["components"][0]["components"]
        assert button["custom_id"] == "video:cancel:3" and button["label"] == "Cancel"

        stranger = button_press("video:cancel:3", message=fake_discord.api_message(status["id"]),
                                user_id=USER_ID + 1)  # fmt: skip
        await dispatch(bot, stranger)
        answer = fake_discord.interaction_response(int(stranger["id"]))
        assert (
            answer["data"]["flags"] == EPHEMERAL and "Only the member" in answer["data"]["content"]
        )

        press = button_press("video:cancel:3", message=fake_discord.api_message(status["id"]))
        await dispatch(bot, press)
        assert "🚫" in fake_discord.messages[status["id"]]["embeds"][0]["title"]
        assert fake_discord.messages[status["id"]]["components"] == []
        [note] = fake_discord.followups(int(press["id"]))
        assert "given back" in note["content"]
        row = await bot.store.generations.get(3)
        assert row is not None and row.status == "cancelled"

        clock.advance(61)
        await bot.tracker.run_once()  # the first finishes and is delivered
        await bot.tracker.run_once()  # its slot goes to the second
        assert creates(simulator) == 2
        promoted = await bot.store.generations.get(2)
        assert promoted is not None and promoted.status == "submitted"
        clock.advance(61)
        await bot.tracker.run_once()
        ready = [m for m in fake_discord.channel_messages(CHANNEL_ID)
                 if "your video is ready" in m["content"]]  # fmt: skip
        assert len(ready) == 2
        assert await ledger(bot) == [
            ("reserve", -5.0), ("reserve", -5.0), ("reserve", -5.0), ("refund", 5.0),
        ]  # fmt: skip


async def test_cancel_button_works_after_a_restart(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as first:
        assert isinstance(first, VideoBot)
        await dispatch(first, video("running"))
        queued = video("waiting")
        await dispatch(first, queued)
    status = status_for(fake_discord, queued)
    assert status is not None
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as second:
        assert isinstance(second, VideoBot)
        press = button_press("video:cancel:2", message=fake_discord.api_message(status["id"]))
        await dispatch(second, press)
        row = await second.store.generations.get(2)
        assert row is not None and row.status == "cancelled"


async def test_pressing_cancel_after_the_video_started_explains_why_not(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await dispatch(bot, video("first"))
        queued = video("second")
        await dispatch(bot, queued)
        status = status_for(fake_discord, queued)
        assert status is not None
        message = fake_discord.api_message(status["id"])  # as the member's client still shows it
        clock.advance(61)
        await bot.tracker.run_once()
        await bot.tracker.run_once()
        press = button_press("video:cancel:2", message=message)
        await dispatch(bot, press)
        answer = fake_discord.interaction_response(int(press["id"]))
        assert "already started" in answer["data"]["content"]
        assert "cannot stop" in answer["data"]["content"]


async def test_a_new_request_waits_behind_the_older_queued_ones(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        for prompt in ("first", "second", "third"):
            await dispatch(bot, video(prompt))
        clock.advance(61)
        await bot.tracker.run_once()  # the first finishes; its slot is free for a moment
        latecomer = video("latecomer")
        await dispatch(bot, latecomer)
        status = status_for(fake_discord, latecomer)
        assert status is not None
        assert "#3 in your queue" in status["embeds"][0]["fields"][0]["value"]
        await bot.tracker.run_once()
        rows = await bot.store.fetchall("SELECT prompt, status FROM generations ORDER BY id")
        assert [tuple(r) for r in rows] == [
            ("first", "completed"), ("second", "submitted"), ("third", "queued"),
            ("latecomer", "queued"),
        ]  # fmt: skip


async def test_a_finished_video_starts_the_next_waiting_one_at_once(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await dispatch(bot, video("first"))
        await dispatch(bot, video("second"))
        loop = asyncio.create_task(bot.tracker.run())
        try:
            clock.advance(61)  # the first is done; nothing else is due for a poll interval
            bot.tracker.wake()
            await wait_until(lambda: creates(simulator) == 2, within=3, what="the second to start")
        finally:
            bot.tracker.stop()
            await asyncio.wait_for(loop, 5)


async def test_banning_withdraws_waiting_requests_with_a_refund(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        for prompt in ("first", "second", "third"):
            await dispatch(bot, video(prompt))
        ban = slash_command(
            "videomod", [subcommand("ban", [option("user", USER_ID, type=6),
                                            option("reason", "spam")])],
            user_id=USER_ID + 50, permissions=MOD_PERMISSIONS,
        )  # fmt: skip
        await dispatch(bot, ban)
        text = fake_discord.interaction_response(int(ban["id"]))["data"]["content"]
        assert "2 requests still waiting in the queue were cancelled and refunded" in text
        assert "1 unfinished video will finish" in text
        clock.advance(61)
        await bot.tracker.run_once()
        await bot.tracker.run_once()
        assert creates(simulator) == 1  # nothing more started, or paid for, for them
        assert await ledger(bot) == [
            ("reserve", -5.0), ("reserve", -5.0), ("reserve", -5.0),
            ("refund", 5.0), ("refund", 5.0),
        ]  # fmt: skip


async def test_a_queued_request_of_a_member_banned_meanwhile_is_never_started(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await dispatch(bot, video("first"))
        await dispatch(bot, video("second"))
        await bot.moderation.ban(GUILD_ID, USER_ID, USER_ID + 50, "spam")  # e.g. a race
        clock.advance(61)
        await bot.tracker.run_once()
        await bot.tracker.run_once()
        assert creates(simulator) == 1
        row = await bot.store.generations.get(2)
        assert row is not None and row.status == "cancelled"
        assert (await ledger(bot))[-1] == ("refund", 5.0)


async def test_cancelling_twice_says_it_was_already_cancelled(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await dispatch(bot, video("first"))
        queued = video("second")
        await dispatch(bot, queued)
        status = status_for(fake_discord, queued)
        assert status is not None
        message = fake_discord.api_message(status["id"])
        await dispatch(bot, button_press("video:cancel:2", message=message))
        again = button_press("video:cancel:2", message=message)
        await dispatch(bot, again)
        answer = fake_discord.interaction_response(int(again["id"]))["data"]["content"]
        assert answer == "This request was already cancelled; its credits were given back."


@pytest.mark.parametrize("answered", [True, False])
async def test_a_cancelled_request_s_status_says_so_even_when_the_press_was_answered_too_late(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, answered: bool
) -> None:
    """The public status of a cancelled request tells the truth: no "credits reserved" over
    it and no Cancel button, also when Discord no longer took the answer to the press (a slow
    database made it late): then the bot edits the message with its own token."""
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await dispatch(bot, video("first"))
        queued = video("second")
        await dispatch(bot, queued)
        status = status_for(fake_discord, queued)
        assert status is not None and status["content"].startswith("Reserved 5 credits")
        if not answered:
            fake_discord.fail(method="POST", path_contains="/callback", status=404, code=10062)
        await dispatch(
            bot, button_press("video:cancel:2", message=fake_discord.api_message(status["id"]))
        )
        shown = fake_discord.messages[status["id"]]
        assert "🚫" in shown["embeds"][0]["title"] and "given back" in str(shown["embeds"])
        assert not shown["content"] and shown["components"] == []
        assert (await ledger(bot))[-1] == ("refund", 5.0)


async def test_a_cancel_the_bot_stopped_before_showing_is_shown_at_the_next_press(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    """The request was cancelled and refunded, but the bot stopped before its status said so:
    the member, seeing Cancel still there, presses it again; the status then tells the truth."""
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await dispatch(bot, video("first"))
        queued = video("second")
        await dispatch(bot, queued)
        status = status_for(fake_discord, queued)
        assert status is not None
        assert await bot.service.cancel_queued(2, USER_ID) is not None  # then the bot stopped
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        press = button_press("video:cancel:2", message=fake_discord.api_message(status["id"]))
        await dispatch(bot, press)
        answer = fake_discord.interaction_response(int(press["id"]))["data"]["content"]
        assert answer == "This request was already cancelled; its credits were given back."
        shown = fake_discord.messages[status["id"]]
        assert "🚫" in shown["embeds"][0]["title"] and shown["components"] == []
        assert not shown["content"]


async def test_two_cancels_at_once_both_say_it_is_cancelled(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> None:
    """Two presses racing: the one that loses reads the row as the winner left it."""
    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        await dispatch(bot, video("first"))
        queued = video("second")
        await dispatch(bot, queued)
        status = status_for(fake_discord, queued)
        assert status is not None
        message = fake_discord.api_message(status["id"])
        presses = [button_press("video:cancel:2", message=message) for _ in range(2)]
        async with settled():
            for press in presses:
                fake_discord.register_interaction(press)
                bot._connection.parsers["INTERACTION_CREATE"](press)
        answers = sorted(
            fake_discord.interaction_response(int(p["id"]))["data"].get("content") or "edited"
            for p in presses
        )
        assert answers == [
            "This request was already cancelled; its credits were given back.",
            "edited",
        ]
        assert (await ledger(bot))[-1] == ("refund", 5.0)


async def test_waiting_requests_move_up_when_one_leaves_the_queue(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    def place(payload: dict[str, Any]) -> tuple[str, list[str]]:
        status = status_for(fake_discord, payload)
        assert status is not None
        buttons = [b["custom_id"] for row in status["components"] for b in row["components"]]
        return status["embeds"][0]["fields"][0]["value"], buttons

    async with running_bot(make_bot(max_running_per_user=1), fake_discord) as bot:
        assert isinstance(bot, VideoBot)
        first, second, third, fourth = (video(p) for p in ("one", "two", "three", "four"))
        for payload in (first, second, third, fourth):
            await dispatch(bot, payload)
        assert "#3 in your queue" in place(fourth)[0]
        status = status_for(fake_discord, second)
        assert status is not None
        cancel = button_press("video:cancel:2", message=fake_discord.api_message(status["id"]))
        await dispatch(bot, cancel)
        text, buttons = place(third)
        assert "#1 in your queue" in text and buttons == ["video:cancel:3"]
        assert "#2 in your queue" in place(fourth)[0]

        clock.advance(61)
        await bot.tracker.run_once()  # "one" finishes; "three" starts at once (woken)
        await bot.tracker.run_once()
        text, buttons = place(fourth)
        assert "#1 in your queue" in text and buttons == ["video:cancel:4"]
