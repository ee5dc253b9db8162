"""EvoLink callbacks: a hint that brings a query forward, never trusted on its own."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.client import VideoBot
from bot.simulator import Simulator
from tests.conftest import BotFactory, FakeClock
from tests.discord_fake import CHANNEL_ID, FakeDiscord, dispatch, option, running_bot, slash_command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def cb_bot(
    fake_discord: FakeDiscord, make_bot: BotFactory, simulator: Simulator
) -> AsyncIterator[VideoBot]:
    simulator.allow_insecure_callbacks = True  # loopback http in tests; EvoLink wants https
    port = free_port()
    bot = make_bot(callback_public_url=f"http://127.0.0.1:{port}/evolink", callback_port=port)
    async with running_bot(bot, fake_discord) as running:
        assert isinstance(running, VideoBot)
        yield running


def queries(sim: Simulator) -> int:
    return len([r for r in sim.requests if r.path.startswith("/v1/tasks")])


def ready(fake: FakeDiscord) -> list[dict[str, object]]:
    return [m for m in fake.channel_messages(CHANNEL_ID) if "your video is ready" in m["content"]]


async def test_one_query_after_the_callback_and_the_video_is_delivered(
    fake_discord: FakeDiscord, cb_bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(cb_bot, slash_command("video", [option("prompt", "a kite")]))
    [create] = [r for r in simulator.requests if r.path == "/v1/videos/generations"]
    row = await cb_bot.store.get(1)
    assert row is not None and row.callback_token
    assert create.json["callback_url"].endswith(f"/evolink/1/{row.callback_token}")

    clock.advance(61)
    await cb_bot.tracker.run_once()  # nothing is due yet: no polling while we wait for the call
    assert queries(simulator) == 0
    await simulator.flush_callbacks()
    assert [a.ok for a in simulator.callback_attempts] == [True]
    await cb_bot.tracker.run_once()
    assert queries(simulator) == 1
    assert len(ready(fake_discord)) == 1


async def test_polling_goes_on_as_a_safety_net(
    fake_discord: FakeDiscord, cb_bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(cb_bot, slash_command("video", [option("prompt", "a kite")]))
    assert cb_bot.callbacks is not None
    await cb_bot.callbacks.stop()  # the callback never arrives
    clock.advance(301)
    await cb_bot.tracker.run_once()
    assert len(ready(fake_discord)) == 1


async def test_forged_and_malformed_callbacks_are_ignored(
    fake_discord: FakeDiscord, cb_bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    await dispatch(cb_bot, slash_command("video", [option("prompt", "a kite")]))
    row = await cb_bot.store.get(1)
    assert row is not None and cb_bot.callbacks is not None
    base = f"http://127.0.0.1:{cb_bot.callbacks.port}/evolink"
    forged = {"id": row.task_id, "status": "completed", "results": ["https://evil.example/x.mp4"]}
    async with httpx.AsyncClient() as http:
        assert (await http.post(base + "/1/wrong-token", json=forged)).status_code == 404
        assert (await http.post(base + "/99/anything", json=forged)).status_code == 404
        assert (await http.get(base + f"/1/{row.callback_token}")).status_code == 405
        too_big = "x" * (70 * 1024)
        assert (
            await http.post(base + f"/1/{row.callback_token}", content=too_big)
        ).status_code == 413
        after = await cb_bot.store.get(1)
        assert after is not None and after.next_poll_at == row.next_poll_at  # nothing moved

        # the right token with a forged body: the tracker asks EvoLink, which says "processing"
        assert (await http.post(base + f"/1/{row.callback_token}", json=forged)).status_code == 200
    clock.advance(10)
    await cb_bot.tracker.run_once()
    assert queries(simulator) == 1
    assert ready(fake_discord) == []
    assert all("evil.example" not in str(m) for m in fake_discord.messages.values())
    still = await cb_bot.store.get(1)
    assert still is not None and still.status in ("submitted", "running")
