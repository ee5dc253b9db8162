"""/video end to end: raw interaction payloads in, recorded Discord calls and simulator requests
out. The tracker is driven pass by pass with a shared fake clock, so nothing sleeps."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from discord.http import HTTPClient, Route

from bot.request_budget import RequestBudget
from bot.simulator import Simulator
from bot.store import open_store
from bot.tracker import DELIVERY_RETRY_DELAYS
from bot.ui.client import VideoBot
from bot.ui.render import clip
from discord_double import (
    CHANNEL_ID,
    USER_ID,
    FakeDiscord,
    attachment,
    attachment_option,
    button_press,
    dispatch,
    option,
    running_bot,
    settled,
    slash_command,
    user_payload,
)
from tests.conftest import BotFactory, FakeClock

EPHEMERAL = 64


def video(
    prompt: str = "A small kitten running under the moonlight", **options: Any
) -> dict[str, Any]:
    opts = [option("prompt", prompt)] + [option(k, v) for k, v in options.items()]
    return slash_command("video", opts)


def public(fake: FakeDiscord, channel_id: int = CHANNEL_ID) -> list[Any]:
    """What everyone in the channel sees: its messages, ephemeral ones aside."""
    return [m for m in fake.channel_messages(channel_id) if not m["flags"] & EPHEMERAL]


def status_for(fake: FakeDiscord, payload: dict[str, Any]) -> Any:
    """The public status message of the /video request `payload` made, found as its member finds
    it in the channel: their mention and their prompt (None when there is none)."""
    user = payload["member"]["user"]["id"]
    [typed] = [o["value"] for o in payload["data"]["options"] if o["name"] == "prompt"]
    prompt = clip(typed, 1000)  # as the status shows it: inert, markdown escaped
    for message in public(fake, int(payload["channel_id"])):
        for embed in message["embeds"]:
            fields = [f["value"] for f in embed.get("fields", [])]
            if f"<@{user}>" in embed.get("description", "") and prompt in fields:
                return message
    return None


async def status_message(bot: VideoBot, fake: FakeDiscord, generation_id: int = 1) -> Any:
    """The request's public status message, as the bot recorded it."""
    row = await bot.store.generations.get(generation_id)
    assert row is not None and row.status_message_id is not None
    return fake.messages.get(row.status_message_id)


def creates(sim: Simulator) -> list[Any]:
    return [r for r in sim.requests if r.method == "POST" and r.path == "/v1/videos/generations"]


async def finish_all(bot: VideoBot, sim: Simulator, clock: FakeClock) -> None:
    clock.advance(61)
    await bot.tracker.run_once()


async def test_registered_schema_mirrors_the_api_fields(
    fake_discord: FakeDiscord, bot: VideoBot
) -> None:
    [sync] = fake_discord.calls_to("PUT", "/applications/{application_id}/commands")
    [command] = [c for c in sync.json if c["name"] == "video"]
    assert command["dm_permission"] is False
    options = {o["name"]: o for o in command["options"]}
    assert list(options) == [
        "prompt", "negative_prompt", "quality", "aspect_ratio", "duration", "seed",
        "prompt_extend", "audio", "audio_url",
    ]  # fmt: skip
    assert options["prompt"]["required"] is True and options["prompt"]["max_length"] == 5000
    assert options["negative_prompt"]["max_length"] == 500
    assert [c["value"] for c in options["quality"]["choices"]] == ["720p", "1080p"]
    ratios = options["aspect_ratio"]["choices"]
    assert [c["value"] for c in ratios] == ["16:9", "9:16", "1:1", "4:3", "3:4"]
    assert "1280×720" in ratios[0]["name"] and "1248×1648" in ratios[4]["name"]
    assert (options["duration"]["min_value"], options["duration"]["max_value"]) == (2, 15)
    assert (options["seed"]["min_value"], options["seed"]["max_value"]) == (1, 2147483647)
    assert options["prompt_extend"]["type"] == 5 and options["audio"]["type"] == 11
    assert all(not o.get("required") for name, o in options.items() if name != "prompt")


async def test_full_request_maps_every_option_and_shows_a_status(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    audio = attachment(filename="beat.mp3", size=300_000, content_type="audio/mpeg")
    payload = slash_command(
        "video",
        [
            option("prompt", "Shot 1 [0-3s] a fox; Shot 2 [3-6s] it jumps"),
            option("negative_prompt", "blurry"),
            option("quality", "1080p"),
            option("aspect_ratio", "9:16"),
            option("duration", 6),
            option("seed", 1234),
            option("prompt_extend", True),
            attachment_option("audio", audio),
        ],
    )
    await dispatch(bot, payload)

    iid = int(payload["id"])
    # privately "thinking" while EvoLink answers; the status is then posted in the channel
    assert fake_discord.interaction_response(iid) == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert fake_discord.interaction_messages(iid) == []  # the private "thinking" is removed
    [create] = creates(simulator)
    assert create.json == {
        "model": "wan2.7-text-to-video",
        "prompt": "Shot 1 [0-3s] a fox; Shot 2 [3-6s] it jumps",
        "negative_prompt": "blurry",
        "quality": "1080p",
        "aspect_ratio": "9:16",
        "duration": 6,
        "seed": 1234,
        "prompt_extend": True,
        "audio_urls": [audio["url"]],
    }
    assert create.headers["idempotency-key"]
    [status] = public(fake_discord)
    assert status == await status_message(bot, fake_discord)
    assert status["kind"] == "channel" and status["mentions"] == []  # nobody pinged yet
    [embed] = status["embeds"]
    assert embed["description"] == f"Asked for by <@{USER_ID}>"
    task_id = next(iter(simulator.tasks))
    assert task_id in embed["footer"]["text"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "1080p · 9:16 (1080×1920) · 6 s · seed 1234" in fields["Settings"]
    assert "Queued at EvoLink" in fields["Status"] and "usually about" in fields["Status"]

    row = await bot.store.generations.by_task_id(task_id)
    assert row is not None and row.status == "submitted" and row.user_id == USER_ID
    assert row.status_message_id == status["id"] and row.credits_reserved == 12.0
    assert (row.quality, row.aspect_ratio, row.duration, row.seed) == ("1080p", "9:16", 6, 1234)


async def test_options_left_out_are_left_out_of_the_api_call(
    bot: VideoBot, simulator: Simulator
) -> None:
    await dispatch(bot, video("a cat"))
    [create] = creates(simulator)
    assert create.json == {"model": "wan2.7-text-to-video", "prompt": "a cat"}


async def test_crafted_bad_values_are_refused_privately_before_any_call(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    wav_as_png = attachment(filename="song.png", size=1000, content_type="image/png")
    payload = slash_command(
        "video",
        [
            option("prompt", "x" * 5001),
            option("quality", "4k"),
            option("duration", 99),
            option("seed", 0),
            option("audio_url", "https://192.168.1.10/a.mp3"),
            attachment_option("audio", wav_as_png),
        ],
    )
    await dispatch(bot, payload)
    answer = fake_discord.interaction_response(int(payload["id"]))
    assert answer["type"] == 4 and answer["data"]["flags"] == EPHEMERAL
    text = answer["data"]["content"]
    for fragment in (
        "`prompt` is 5,001 characters",
        "`quality`",
        "`duration`",
        "`seed`",
        "not both",
    ):
        assert fragment in text
    assert "not charged" in text
    assert creates(simulator) == []
    assert await bot.store.generations.get(1) is None


async def test_each_refusal_of_the_api_is_explained_and_costs_nothing(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    cases = [
        (402, "out of credits"),
        (401, "Only the bot's owner"),
        (403, "Only the bot's owner"),
        (400, "EvoLink refused this request"),
    ]  # a busy EvoLink (429) is not refused: the request waits (tests/test_busy_evolink.py)
    for status, expected in cases:
        simulator.faults.add(route="create", status=status)
        payload = video()
        await dispatch(bot, payload)
        simulator.faults.clear()
        iid = int(payload["id"])
        # private from the first moment: a private "thinking…", then the answer in its place
        assert fake_discord.interaction_response(iid)["data"]["flags"] == EPHEMERAL
        [answer] = fake_discord.interaction_messages(iid)
        assert answer["flags"] == EPHEMERAL, status
        assert expected in answer["content"] and "not charged" in answer["content"]
    assert public(fake_discord) == []  # nothing public for a request that never started
    assert simulator.tasks == {}
    for generation_id in range(1, len(cases) + 1):
        row = await bot.store.generations.get(generation_id)
        assert row is not None and row.status == "failed" and row.delivered_via == "interaction"


async def test_progress_then_delivery_with_only_the_requester_pinged(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = video("@everyone look <@&999> **bold** <@42>")
    await dispatch(bot, payload)
    status_id = (await status_message(bot, fake_discord))["id"]

    clock.advance(30)
    await bot.tracker.run_once()
    await asyncio.sleep(0.05)  # progress edits are sent in the background
    status = fake_discord.messages[status_id]
    assert "Rendering" in status["embeds"][0]["fields"][0]["value"]
    assert "%" in status["embeds"][0]["fields"][0]["value"]

    await finish_all(bot, simulator, clock)
    [delivery] = public(fake_discord)  # one message per video: the status message went
    assert status_id in fake_discord.deleted_messages
    task = next(iter(simulator.tasks.values()))
    assert delivery["content"] == f"<@{USER_ID}> your video is ready."
    assert delivery["attachments"] == ["video-1.mp4"]  # small enough: it plays inline
    [(_, data)] = fake_discord.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")[-1].files
    assert data[4:8] == b"ftyp" and len(data) == 256 * 1024
    assert task.id in delivery["embeds"][0]["footer"]["text"]
    mentions = delivery["allowed_mentions"]
    assert mentions["parse"] == [] and mentions["users"] == [USER_ID]  # no everyone, no roles
    prompt_shown = delivery["embeds"][0]["description"]
    assert "@everyone" not in prompt_shown.replace("@\u200beveryone", "")
    assert "\\*\\*bold\\*\\*" in prompt_shown
    assert delivery["mentions"] == [user_payload(USER_ID)]  # the one ping: the requester

    row = await bot.store.generations.get(1)
    assert row is not None and row.status == "completed" and row.delivered_via == "channel"
    assert row.delivery_message_id == delivery["id"] and row.finished_at is not None

    clock.advance(600)
    await bot.tracker.run_once()
    assert len(fake_discord.channel_messages(CHANNEL_ID)) == 1  # nothing posted twice


def buttons(message: Any) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def test_a_failed_task_is_told_to_the_requester_privately(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = video("a scene [[fail:content_policy_violation]]")
    await dispatch(bot, payload)
    await finish_all(bot, simulator, clock)
    assert public(fake_discord) == []  # the status message went, and nothing else came
    [notice] = fake_discord.followups(int(payload["id"]))
    assert notice["flags"] == EPHEMERAL
    assert notice["content"].startswith("Your video could not be made.")
    assert "safety filter" in notice["content"] and "not charged" in notice["content"]
    assert "a scene" in notice["embeds"][0]["description"]  # the prompt, for their eyes only
    assert buttons(notice) == ["video:edit:1"]  # the same prompt would be refused again
    row = await bot.store.generations.get(1)
    assert row is not None and row.error_code == "content_policy_violation"
    assert row.delivered_via == "ephemeral"


async def test_a_failure_after_the_token_expired_names_no_prompt_in_the_channel(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = video("a secret scene [[fail:content_policy_violation]]")
    await dispatch(bot, payload)
    fake_discord.expire_interaction(int(payload["id"]))
    clock.advance(20 * 60)
    await bot.tracker.run_once()
    [note] = public(fake_discord)
    assert note["content"].startswith(f"<@{USER_ID}> your video could not be made.")
    assert note["mentions"] == [user_payload(USER_ID)] and note["embeds"] == []
    assert "secret" not in str(note)  # the prompt is not repeated publicly
    assert buttons(note) == ["video:edit:1"]
    row = await bot.store.generations.get(1)
    assert row is not None and row.delivered_via == "channel"


async def test_other_failures_offer_regenerate_too(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = video("a scene [[fail:service_error]]")
    await dispatch(bot, payload)
    await finish_all(bot, simulator, clock)
    [notice] = fake_discord.followups(int(payload["id"]))
    assert buttons(notice) == ["video:again:1", "video:edit:1"]


async def test_status_and_delivery_after_the_interaction_token_expired(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = video()
    await dispatch(bot, payload)
    iid = int(payload["id"])
    status_id = (await status_message(bot, fake_discord))["id"]
    fake_discord.expire_interaction(iid)
    clock.advance(30)
    await bot.tracker.run_once()
    await asyncio.sleep(0.05)  # progress edits are sent in the background
    edits = fake_discord.calls_to("PATCH", f"/channels/{CHANNEL_ID}/messages/{status_id}")
    assert edits, "the status message is edited with the bot token"
    clock.advance(20 * 60)  # longer than an interaction token lives
    await bot.tracker.run_once()
    [delivery] = public(fake_discord)
    assert delivery["content"].startswith(f"<@{USER_ID}>")
    assert fake_discord.calls_to("DELETE", f"/channels/{CHANNEL_ID}/messages/{status_id}")


async def test_channel_refused_falls_back_to_a_direct_message(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = video()
    await dispatch(bot, payload)
    fake_discord.expire_interaction(int(payload["id"]))
    clock.advance(20 * 60)
    fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                      status=403, code=50013)  # fmt: skip
    await bot.tracker.run_once()
    dm = fake_discord.dm_channel_id(USER_ID)
    assert dm is not None
    [message] = fake_discord.channel_messages(dm)
    assert "your video is ready" in message["content"]
    row = await bot.store.generations.get(1)
    assert row is not None and row.delivered_via == "dm"


@pytest.mark.parametrize("prompt", ["a calm lake", "a scene [[fail:service_error]]"])
async def test_a_direct_message_offers_no_button_that_only_works_in_the_server(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock, prompt: str
) -> None:
    """Regenerate and Edit & retry start a video in a server: under a direct message they could
    only fail. One pressed there anyway (a message sent before) says where to ask, not that
    the video is someone else's."""
    payload = video(prompt)
    await dispatch(bot, payload)
    fake_discord.expire_interaction(int(payload["id"]))
    clock.advance(20 * 60)
    fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                      status=403, code=50013)  # fmt: skip
    await bot.tracker.run_once()
    dm = fake_discord.dm_channel_id(USER_ID)
    assert dm is not None
    [message] = fake_discord.channel_messages(dm)
    assert message["components"] == []
    sent_before = fake_discord.api_message(message["id"]) | {"components": [
        {"type": 1, "components": [{"type": 2, "style": 2, "custom_id": "video:again:1"}]}
    ]}  # fmt: skip
    press = button_press("video:again:1", message=sent_before, guild_id=None)
    await dispatch(bot, press)
    answer = fake_discord.interaction_response(int(press["id"]))["data"]["content"]
    assert answer == "Use /video in a server channel."


async def test_discord_outage_is_retried_later_not_lost(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, video())
    fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                      status=503, times=1)  # fmt: skip
    await finish_all(bot, simulator, clock)
    row = await bot.store.generations.get(1)
    assert row is not None and row.delivered_at is None and row.delivery_attempts == 1
    clock.advance(10)
    await bot.tracker.run_once()
    row = await bot.store.generations.get(1)
    assert row is not None and row.delivered_via == "channel"
    assert len([m for m in fake_discord.channel_messages(CHANNEL_ID)
                if "your video is ready" in m["content"]]) == 1  # fmt: skip


async def test_a_task_that_never_finishes_expires_and_the_member_is_told(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, video("forever [[never]]"))
    clock.advance(3601)
    await bot.tracker.run_once()
    delivery = fake_discord.channel_messages(CHANNEL_ID)[-1]
    assert "did not finish this video in time" in delivery["content"]
    row = await bot.store.generations.get(1)
    assert row is not None and row.status == "expired"


async def test_fifty_members_at_once(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payloads = [
        slash_command("video", [option("prompt", f"scene {n}")], user_id=USER_ID + n)
        for n in range(50)
    ]
    async with settled(max_wait=30):  # as the gateway does: all parsed, handled concurrently
        for p in payloads:
            fake_discord.register_interaction(p)
            bot._connection.parsers["INTERACTION_CREATE"](p)
    private = {"type": 5, "data": {"flags": EPHEMERAL}}
    assert all(fake_discord.interaction_response(int(p["id"])) == private for p in payloads)
    assert len(creates(simulator)) == 50 and len(simulator.tasks) == 50
    assert len(public(fake_discord)) == 50  # a status message each, pinging nobody
    assert all(m["mentions"] == [] for m in public(fake_discord))
    await finish_all(bot, simulator, clock)
    # one message per video in the busy channel: each result, pinging its own member only
    deliveries = public(fake_discord)
    assert all("your video is ready" in m["content"] for m in deliveries)
    assert sorted(int(m["mentions"][0]["id"]) for m in deliveries) == [
        USER_ID + n for n in range(50)
    ]
    assert all(len(m["mentions"]) == 1 for m in deliveries)
    assert all(fake_discord.interaction_messages(int(p["id"])) == [] for p in payloads)


async def test_restart_mid_task_delivers_exactly_once(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    async with running_bot(make_bot(), fake_discord) as first:
        assert isinstance(first, VideoBot)
        await dispatch(first, video("before the crash"))
    # the process is gone; the task keeps running at EvoLink
    clock.advance(61)
    async with running_bot(make_bot(), fake_discord) as second:
        assert isinstance(second, VideoBot)
        await second.tracker.run_once()
        await second.tracker.run_once()
    deliveries = [m for m in fake_discord.channel_messages(CHANNEL_ID)
                  if "your video is ready" in m["content"]]  # fmt: skip
    assert len(deliveries) == 1
    assert len(creates(simulator)) == 1


async def test_crash_between_posting_and_recording_posts_once(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, video())
    await finish_all(bot, simulator, clock)
    # as if the process died after Discord accepted the message but before the commit
    await bot.store.execute(
        "UPDATE generations SET delivered_at = NULL, next_delivery_at = 0, delivery_attempts = 0"
    )
    await bot.tracker.run_once()
    deliveries = [m for m in fake_discord.channel_messages(CHANNEL_ID)
                  if "your video is ready" in m["content"]]  # fmt: skip
    assert len(deliveries) == 1  # the same nonce returned the same message
    # the status message, then the video twice: the second time Discord knew the nonce
    assert len(fake_discord.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")) == 3


async def test_a_lost_create_answer_is_settled_without_a_second_task(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    simulator.faults.create_after_fault(status=500)
    payload = video()
    await dispatch(bot, payload)
    [told] = fake_discord.interaction_messages(int(payload["id"]))
    assert "did not confirm" in told["content"] and told["flags"] == EPHEMERAL
    assert public(fake_discord) == []  # whether it started is not known yet
    assert len(simulator.tasks) == 1  # EvoLink did make (and charge) a task
    clock.advance(61)
    await bot.tracker.run_once()  # same call, same Idempotency-Key: replayed
    assert len(simulator.tasks) == 1
    keys = {r.headers["idempotency-key"] for r in creates(simulator)}
    assert len(creates(simulator)) == 2 and len(keys) == 1
    clock.advance(61)
    await bot.tracker.run_once()
    assert "your video is ready" in fake_discord.channel_messages(CHANNEL_ID)[-1]["content"]


async def test_if_evolink_ignored_the_key_a_lost_answer_costs_the_account_one_unseen_task(
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The exposure the README states: the member pays once, the account pays for the task
    whose answer was lost, and the log names the new task so the owner can check."""
    simulator.honour_idempotency = False
    simulator.faults.create_after_fault(status=500)
    await dispatch(bot, video())
    [unseen] = simulator.tasks
    clock.advance(61)
    await bot.tracker.run_once()
    followed = await bot.store.generations.get(1)
    assert followed is not None and followed.task_id not in (None, unseen)
    assert len(simulator.tasks) == 2 and simulator.balance == 10_000 - 10
    assert any(
        f"made task {followed.task_id}, not a replay" in r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING"
    )
    clock.advance(61)
    await bot.tracker.run_once()
    ledger = await bot.store.fetchall("SELECT amount FROM credit_ledger")
    assert sum(r[0] for r in ledger) == -5.0, "the member pays for one video"
    assert "your video is ready" in fake_discord.channel_messages(CHANNEL_ID)[-1]["content"]


async def test_no_new_requests_once_shutting_down(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    bot.closing = True
    payload = video()
    await dispatch(bot, payload)
    answer = fake_discord.interaction_response(int(payload["id"]))
    assert answer["data"]["flags"] == EPHEMERAL and "restarting" in answer["data"]["content"]
    assert creates(simulator) == []
    bot.closing = False  # let the fixture close it properly


async def test_shutdown_lets_the_tracker_finish_its_pass(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator, clock: FakeClock
) -> None:
    bot = make_bot()
    bot._start_tracker = True
    async with running_bot(bot, fake_discord):
        await dispatch(bot, video())
        simulator.faults.add(route="batch", delay=0.3)  # a slow answer: the pass is mid-query
        clock.advance(61)
        bot.tracker.wake()
        for _ in range(200):
            if any(r.path == "/v1/tasks/batch" for r in simulator.requests):
                break
            await asyncio.sleep(0.01)
    # closed while the query was in flight: the pass finished its writes and the delivery
    reopened = await open_store(bot.settings.database, clock=clock)
    row = await reopened.generations.get(1)
    await reopened.close()
    assert row is not None and row.status == "completed" and row.delivered_via == "channel"


def ready_messages(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [m for m in fake.channel_messages(CHANNEL_ID) if "your video is ready" in m["content"]]


async def test_a_video_over_the_upload_limit_is_linked_with_its_expiry(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    payload = slash_command("video", [option("prompt", "big")], attachment_size_limit=100_000)
    await dispatch(bot, payload)
    await finish_all(bot, simulator, clock)
    [message] = ready_messages(fake_discord)
    assert message["attachments"] == []
    task = next(iter(simulator.tasks.values()))
    assert simulator.task_answer(task.id)["results"][0] in message["content"]
    assert "expires 24 hours after it was made (<t:" in message["content"]


async def test_a_failed_download_falls_back_to_the_link(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, video())
    simulator.faults.add(route="files", status=500, always=True)
    await finish_all(bot, simulator, clock)
    [message] = ready_messages(fake_discord)
    assert message["attachments"] == [] and "http" in message["content"]


async def test_an_upload_discord_refuses_as_too_large_is_sent_as_a_link(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(bot, video())
    fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                      status=413, code=40005)  # fmt: skip
    await finish_all(bot, simulator, clock)
    [message] = ready_messages(fake_discord)
    assert message["attachments"] == [] and "http" in message["content"]
    row = await bot.store.generations.get(1)
    assert row is not None and row.delivered_via == "channel"


CRAFTED = {
    "an integer option sent as text": (
        [option("prompt", "x"), {"name": "duration", "type": 4, "value": "abc"}], "`duration`"),
    "a float seed": ([option("prompt", "x"), {"name": "seed", "type": 4, "value": 3.5}], "`seed`"),
    "a prompt that is a number": ([{"name": "prompt", "type": 3, "value": 12}], "must be text"),
    "a boolean sent as text": (
        [option("prompt", "x"), {"name": "prompt_extend", "type": 5, "value": "yes"}],
        "`prompt_extend`",
    ),
    "an attachment Discord never resolved": (
        [option("prompt", "x"), {"name": "audio", "type": 11, "value": "999"}], "attach it again"),
    "no prompt at all": ([], "did not match what the bot expects"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CRAFTED))
async def test_crafted_payloads_get_a_clear_private_answer_and_cost_nothing(
    case: str, fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    options, expected = CRAFTED[case]
    payload = slash_command("video", options)
    await dispatch(bot, payload)
    answer = fake_discord.interaction_response(int(payload["id"]))
    assert answer["type"] == 4 and answer["data"]["flags"] == EPHEMERAL
    assert expected in answer["data"]["content"]
    assert creates(simulator) == [] and await bot.store.generations.get(1) is None


async def test_a_delivery_given_up_leaves_no_running_status_and_no_evolink_words_in_public(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """Discord failed every delivery attempt, then came back for the last word: the channel
    holds that short note only, not a status that shows the video running for ever, and not
    what EvoLink said about the prompt."""
    payload = video("a secret scene [[fail:odd_failure]]")
    await dispatch(bot, payload)
    status_id = (await status_message(bot, fake_discord))["id"]
    fake_discord.expire_interaction(int(payload["id"]))
    fake_discord.fail(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages",
                      status=503, times=len(DELIVERY_RETRY_DELAYS) + 1)  # fmt: skip
    await finish_all(bot, simulator, clock)
    for delay in (*DELIVERY_RETRY_DELAYS, 3600.0):
        clock.advance(delay)
        await bot.tracker.run_once()
    row = await bot.store.generations.get(1)
    assert row is not None and row.delivered_via == "undeliverable"
    assert status_id in fake_discord.deleted_messages
    [note] = public(fake_discord)
    assert note["content"].startswith(f"<@{USER_ID}> your video could not be made.")
    assert "odd_failure" not in note["content"] and "secret" not in str(note)


@pytest.mark.parametrize("prompt", ["a calm lake", "a scene [[fail:service_error]]"])
async def test_an_outcome_posted_while_discord_s_answer_was_lost_is_not_posted_again_later(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock, prompt: str
) -> None:
    """Discord posted the video (or the failure notice) but the connection broke before its
    answer came; the retry comes after Discord has forgotten the nonce (a few minutes): the
    message already there is found and kept, not posted a second time."""
    answered = HTTPClient.request  # the fake's, for this test
    lost: list[str] = []

    async def answer_lost(self: HTTPClient, route: Route, **kwargs: Any) -> Any:
        result = await answered(self, route, **kwargs)
        if route.method == "POST" and route.path.endswith("/messages") and not lost:
            lost.append(route.path)
            raise aiohttp.ServerDisconnectedError()
        return result

    payload = video(prompt)
    await dispatch(bot, payload)
    fake_discord.expire_interaction(int(payload["id"]))  # the outcome goes to the channel
    clock.advance(20 * 60)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HTTPClient, "request", answer_lost)
        await bot.tracker.run_once()
    assert lost, "the first attempt's answer was lost"
    fake_discord.forget_nonces()
    for delay in DELIVERY_RETRY_DELAYS[:2]:
        clock.advance(delay)
        await bot.tracker.run_once()
    [outcome] = public(fake_discord)
    assert f"<@{USER_ID}>" in outcome["content"]
    row = await bot.store.generations.get(1)
    assert row is not None and row.delivered_via == "channel"
    assert row.delivery_message_id == outcome["id"]


async def test_while_the_bot_token_waits_for_its_budget_a_fresh_request_is_delivered_through_its_interaction(  # noqa: E501
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """Discord's global limit binds the bot token, not an interaction's own token: while requests
    wait for the bot token's budget, the video of a request whose interaction lives goes out as
    the interaction's public follow-up instead of waiting its turn."""
    await dispatch(bot, video("a lighthouse in a storm"))
    now, gate = [0.0], asyncio.Event()

    async def until_the_gate_opens(_: float) -> None:
        await gate.wait()

    bot.budget = RequestBudget(1.0, monotonic=lambda: now[0], sleep=until_the_gate_opens)
    await bot.budget.acquire()  # the one request the budget had
    waiting = asyncio.create_task(bot.budget.acquire())  # the next waits its turn
    await asyncio.sleep(0)
    assert bot.budget.congested
    posts_before = len(fake_discord.calls_to("POST", f"/channels/{CHANNEL_ID}/messages"))
    await finish_all(bot, simulator, clock)
    now[0] += 10.0
    gate.set()
    await waiting
    row = await bot.store.generations.get(1)
    assert row is not None and row.delivered_via == "followup"
    delivery = fake_discord.messages[row.delivery_message_id]
    assert delivery["content"] == f"<@{USER_ID}> your video is ready."
    assert not delivery["flags"] & EPHEMERAL and delivery["attachments"] == ["video-1.mp4"]
    posts = fake_discord.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")
    assert len(posts) == posts_before, "nothing sent with the bot token for the video"
