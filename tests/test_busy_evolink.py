"""A busy EvoLink makes members wait, not fail: a create it does not take waits in line, its
credits held, its place shown, Cancel available, and is created after Retry-After, in the order
members asked. The tracker is driven pass by pass with the shared fake clock."""

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
    running_bot,
    settled,
    slash_command,
)
from tests.conftest import BotFactory, FakeClock
from tests.test_video_flow import status_for

EPHEMERAL = 64


def video(prompt: str, user_id: int = USER_ID) -> dict[str, Any]:
    return slash_command("video", [option("prompt", prompt)], user_id=user_id)


def created_prompts(sim: Simulator) -> list[str]:
    """The prompts of the tasks EvoLink made, in the order it made them."""
    return [task.prompt for task in sim.tasks.values()]  # a dict keeps the order of creation


def status_of(fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    message = status_for(fake, payload)  # posted in the channel
    assert message is not None, "no status message"
    return fake.messages[message["id"]]


def status_text(fake: FakeDiscord, payload: dict[str, Any]) -> str:
    embed = status_of(fake, payload)["embeds"][0]
    return f"{embed['title']}\n{embed['fields'][0]['value']}"


async def ledger(bot: VideoBot) -> list[tuple[str, float]]:
    rows = await bot.store.fetchall("SELECT kind, amount FROM credit_ledger ORDER BY id")
    return [(r[0], r[1]) for r in rows]


async def test_a_busy_evolink_makes_the_member_wait_with_place_and_cancel_then_starts(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.faults.add(route="create", status=429, retry_after="3")
    payload = video("a lighthouse at dawn")
    await dispatch(bot, payload)

    assert fake_discord.interaction_messages(int(payload["id"])) == []  # not refused
    status = status_of(fake_discord, payload)
    assert status["content"] == "Reserved 5 credits."
    assert "Waiting for EvoLink" in status["embeds"][0]["title"]
    assert "#1 in line" in status["embeds"][0]["fields"][0]["value"]
    assert "full refund" in status["embeds"][0]["fields"][0]["value"]
    [button] = status["components"][0]["components"]
    assert button["custom_id"] == "video:cancel:1" and button["label"] == "Cancel"
    row = await bot.store.generations.get(1)
    assert row is not None and row.status == "queued"
    assert await ledger(bot) == [("reserve", -5.0)]  # held, not refunded

    clock.advance(2)
    await bot.tracker.run_once()
    assert simulator.tasks == {}  # EvoLink's Retry-After is not over
    clock.advance(1)
    await bot.tracker.run_once()
    assert created_prompts(simulator) == ["a lighthouse at dawn"]
    first_try, second_try = [r for r in simulator.requests if r.path == "/v1/videos/generations"]
    assert first_try.headers["idempotency-key"] == second_try.headers["idempotency-key"]
    assert "Making your video" in status_text(fake_discord, payload)
    assert status_of(fake_discord, payload)["components"] == []

    clock.advance(61)
    await bot.tracker.run_once()
    [ready] = [m for m in fake_discord.channel_messages(CHANNEL_ID) if "ready" in m["content"]]
    assert ready["allowed_mentions"]["users"] == [USER_ID]


async def test_while_evolink_is_busy_later_requests_wait_behind_and_start_in_order(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.faults.add(route="create", status=429, retry_after="5")
    payloads = [video(f"scene {n}", user_id=USER_ID + n) for n in range(4)]
    for payload in payloads:
        await dispatch(bot, payload)
    assert len([r for r in simulator.requests if r.path == "/v1/videos/generations"]) == 1
    for place, payload in enumerate(payloads, start=1):
        assert f"#{place} in line" in status_text(fake_discord, payload)

    simulator.faults.add(route="create", status=429, retry_after="5")  # the first try again
    clock.advance(5)
    await bot.tracker.run_once()
    assert simulator.tasks == {}  # nobody overtook the first
    clock.advance(5)
    await bot.tracker.run_once()
    assert created_prompts(simulator) == ["scene 0", "scene 1", "scene 2", "scene 3"]
    assert all("Making your video" in status_text(fake_discord, p) for p in payloads)


async def test_cancel_while_waiting_for_evolink_gives_everything_back_and_it_never_starts(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.faults.add(route="create", status=429, retry_after="5")
    first, second = video("first"), video("second", user_id=USER_ID + 1)
    await dispatch(bot, first)
    await dispatch(bot, second)
    message = fake_discord.api_message(status_of(fake_discord, first)["id"])
    press = button_press("video:cancel:1", message=message)
    await dispatch(bot, press)
    [note] = fake_discord.followups(int(press["id"]))
    assert note["flags"] & EPHEMERAL and "given back" in note["content"]
    assert "🚫" in status_of(fake_discord, first)["embeds"][0]["title"]

    clock.advance(5)
    await bot.tracker.run_once()
    assert created_prompts(simulator) == ["second"]
    assert await ledger(bot) == [("reserve", -5.0), ("reserve", -5.0), ("refund", 5.0)]


async def test_a_request_waiting_for_evolink_survives_a_restart(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.faults.add(route="create", status=429, retry_after="30")
    payload = video("a lighthouse at dawn")
    async with running_bot(make_bot(), fake_discord) as first:
        assert isinstance(first, VideoBot)
        await dispatch(first, payload)
    assert simulator.tasks == {}
    async with running_bot(make_bot(), fake_discord) as second:
        assert isinstance(second, VideoBot)
        await second.tracker.run_once()  # EvoLink is asked again at once, after the restart
        assert created_prompts(simulator) == ["a lighthouse at dawn"]
        assert "Making your video" in status_text(fake_discord, payload)
        assert await ledger(second) == [("reserve", -5.0)]  # held all along, never refunded


async def test_a_crowd_of_60_against_a_rate_limited_evolink_nobody_refused_all_in_order(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """60 members at once; EvoLink takes 4 creates a second (the clock moves a second a pass)."""
    simulator.faults.create_rate_limit_per_second = 4.0
    payloads = [video(f"member {n}", user_id=USER_ID + n) for n in range(60)]
    async with settled(max_wait=30):  # as the gateway does: all parsed, handled concurrently
        for payload in payloads:
            fake_discord.register_interaction(payload)
            bot._connection.parsers["INTERACTION_CREATE"](payload)
    assert all(fake_discord.interaction_messages(int(p["id"])) == [] for p in payloads)
    assert all(status_for(fake_discord, p) is not None for p in payloads)  # nobody refused

    for _ in range(40):
        if len(simulator.tasks) == 60:
            break
        clock.advance(1)
        await bot.tracker.run_once()
    made = created_prompts(simulator)
    assert len(made) == 60
    asked = [int(prompt.removeprefix("member ")) for prompt in made]
    assert sorted(asked) == list(range(60))
    # in the order the bot took the requests (their numbers: all at once, a PostgreSQL pool may
    # admit them in any order), but for the first 4, whose creates EvoLink took at once
    rows = await bot.store.fetchall("SELECT prompt, id FROM generations")
    number = {str(prompt): int(generation_id) for prompt, generation_id in rows}
    taken = [number[prompt] for prompt in made]
    assert taken[4:] == sorted(taken[4:])

    for _ in range(120):  # a second a pass: each video is seen as it ends
        clock.advance(1)
        await bot.tracker.run_once()
    ready = [m for m in fake_discord.channel_messages(CHANNEL_ID) if "ready" in m["content"]]
    delivered_to = [int(m["allowed_mentions"]["users"][0]) - USER_ID for m in ready]
    assert sorted(delivered_to) == list(range(60))  # every video delivered, once
    made_at = {
        int(t.prompt.removeprefix("member ")): t.created_at for t in simulator.tasks.values()
    }
    in_delivery_order = [made_at[n] for n in delivered_to]
    assert in_delivery_order == sorted(in_delivery_order)  # videos made together may swap
