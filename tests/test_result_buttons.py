"""Buttons under a finished video: Regenerate, Use seed, Edit & retry, for the requester only,
before and after a restart."""

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
    modal_submit_for,
    option,
    running_bot,
    slash_command,
)
from tests.conftest import BotFactory, FakeClock

EPHEMERAL = 64


def creates(sim: Simulator) -> list[dict[str, Any]]:
    return [r.json for r in sim.requests if r.path == "/v1/videos/generations"]


async def delivered_video(
    bot: VideoBot, fake: FakeDiscord, clock: FakeClock, **opts: Any
) -> dict[str, Any]:
    options = [option("prompt", "a paper boat")] + [option(k, v) for k, v in opts.items()]
    await dispatch(bot, slash_command("video", options))
    clock.advance(61)
    await bot.tracker.run_once()
    [message] = [
        m for m in fake.channel_messages(CHANNEL_ID) if "your video is ready" in m["content"]
    ]
    return message


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {b["label"]: b["custom_id"] for row in message["components"] for b in row["components"]}


async def test_the_delivery_carries_the_buttons(
    fake_discord: FakeDiscord, bot: VideoBot, clock: FakeClock
) -> None:
    message = await delivered_video(bot, fake_discord, clock, seed=77)
    assert buttons(message) == {
        "🔁 Regenerate": "video:again:1",
        "🌱 Use seed": "video:seed:1",
        "✏️ Edit & retry": "video:edit:1",
    }
    fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
    assert "seed 77" in fields["Settings"] and fields["Cost"] == "5 credits"


async def test_regenerate_keeps_the_settings_with_a_new_seed(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    message = await delivered_video(bot, fake_discord, clock, quality="1080p", duration=3, seed=5)
    press = button_press("video:again:1", message=fake_discord.api_message(message["id"]))
    await dispatch(bot, press)
    # privately "thinking" while EvoLink answers, as for /video
    answer = fake_discord.interaction_response(int(press["id"]))
    assert answer == {"type": 5, "data": {"flags": EPHEMERAL}}
    first, again = creates(simulator)
    assert {k: v for k, v in again.items() if k != "seed"} == {
        k: v for k, v in first.items() if k != "seed"
    }
    assert again["seed"] != 5 and 1 <= again["seed"] <= 2147483647
    row = await bot.store.generations.get(2)
    assert row is not None and row.status_message_id is not None
    status = fake_discord.messages[row.status_message_id]
    assert f"seed {again['seed']}" in str(status["embeds"][0])


async def test_use_seed_keeps_the_seed(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    message = await delivered_video(bot, fake_discord, clock, seed=4242)
    await dispatch(
        bot, button_press("video:seed:1", message=fake_discord.api_message(message["id"]))
    )
    assert creates(simulator)[1]["seed"] == 4242


async def test_only_the_requester_may_press(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    message = await delivered_video(bot, fake_discord, clock)
    for custom_id in ("video:again:1", "video:edit:1"):
        press = button_press(custom_id, message=fake_discord.api_message(message["id"]),
                             user_id=USER_ID + 1)  # fmt: skip
        await dispatch(bot, press)
        answer = fake_discord.interaction_response(int(press["id"]))
        assert answer["type"] == 4 and answer["data"]["flags"] == EPHEMERAL
        assert "Only the member who asked" in answer["data"]["content"]
    assert len(creates(simulator)) == 1


async def test_edit_and_retry_opens_a_prefilled_modal_and_uses_the_edit(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    message = await delivered_video(bot, fake_discord, clock, aspect_ratio="1:1")
    press = button_press("video:edit:1", message=fake_discord.api_message(message["id"]))
    await dispatch(bot, press)
    modal = fake_discord.modal_sent(int(press["id"]))
    assert "a paper boat" in str(modal["components"])
    submit = modal_submit_for(modal, {"Prompt": "a paper boat in the rain",
                                      "Negative prompt (optional)": "people"})  # fmt: skip
    await dispatch(bot, submit)
    [_, edited] = creates(simulator)  # one new video, not two
    assert edited["prompt"] == "a paper boat in the rain" and edited["negative_prompt"] == "people"
    assert edited["aspect_ratio"] == "1:1"


async def test_buttons_work_after_a_restart(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(), fake_discord) as first:
        assert isinstance(first, VideoBot)
        message = await delivered_video(first, fake_discord, clock)
    async with running_bot(make_bot(), fake_discord) as second:
        assert isinstance(second, VideoBot)
        press = button_press("video:again:1", message=fake_discord.api_message(message["id"]))
        await dispatch(second, press)
        stranger = button_press("video:again:1", message=fake_discord.api_message(message["id"]),
                                user_id=USER_ID + 9)  # fmt: skip
        await dispatch(second, stranger)
    assert len(creates(simulator)) == 2
    answer = fake_discord.interaction_response(int(stranger["id"]))
    assert "Only the member who asked" in answer["data"]["content"]


async def test_the_edit_form_still_works_after_a_restart(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(), fake_discord) as first:
        assert isinstance(first, VideoBot)
        message = await delivered_video(first, fake_discord, clock)
        press = button_press("video:edit:1", message=fake_discord.api_message(message["id"]))
        await dispatch(first, press)
        modal = fake_discord.modal_sent(int(press["id"]))
    # the member is still typing while the bot restarts
    async with running_bot(make_bot(), fake_discord) as second:
        assert isinstance(second, VideoBot)
        await dispatch(second, modal_submit_for(modal, {"Prompt": "a paper boat at dawn"}))
        stranger = modal_submit_for(modal, {"Prompt": "mine now"}, user_id=USER_ID + 9)
        await dispatch(second, stranger)
    assert [c["prompt"] for c in creates(simulator)] == ["a paper boat", "a paper boat at dawn"]
    answer = fake_discord.interaction_response(int(stranger["id"]))
    assert "Only the member who asked" in answer["data"]["content"]


async def test_a_prompt_too_long_for_the_form_is_not_cut_silently(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    long_prompt = "a paper boat " + "drifting " * 500  # 4,513 characters: /video allows 5,000
    await dispatch(bot, slash_command("video", [option("prompt", long_prompt)]))
    clock.advance(61)
    await bot.tracker.run_once()
    [message] = [
        m
        for m in fake_discord.channel_messages(CHANNEL_ID)
        if "your video is ready" in m["content"]
    ]
    press = button_press("video:edit:1", message=fake_discord.api_message(message["id"]))
    await dispatch(bot, press)
    answer = fake_discord.interaction_response(int(press["id"]))
    assert answer["type"] == 4 and answer["data"]["flags"] == EPHEMERAL
    assert "longer than a Discord form can hold (4,000 characters)" in answer["data"]["content"]
    assert len(creates(simulator)) == 1
