"""EvoLink callbacks: a hint that brings a query forward, never trusted on its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from bot.callbacks import CallbackServer, ReceiverLimits
from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    FakeDiscord,
    dispatch,
    option,
    running_bot,
    slash_command,
    wait_until,
)
from tests.conftest import BotFactory, FakeClock


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
    row = await cb_bot.store.generations.get(1)
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
    row = await cb_bot.store.generations.get(1)
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
        after = await cb_bot.store.generations.get(1)
        assert after is not None and after.next_poll_at == row.next_poll_at  # nothing moved

        # the right token with a forged body: the tracker asks EvoLink, which says "processing"
        assert (await http.post(base + f"/1/{row.callback_token}", json=forged)).status_code == 200
    clock.advance(10)
    await cb_bot.tracker.run_once()
    assert queries(simulator) == 1
    assert ready(fake_discord) == []
    assert all("evil.example" not in str(m) for m in fake_discord.messages.values())
    still = await cb_bot.store.generations.get(1)
    assert still is not None and still.status in ("submitted", "running")


# --------------------------------------------------------------------------------------------
# The receiver under abuse: it faces the internet, so slow, oversized, odd and numerous
# connections are cut by its limits (small ones here, so that each test takes a moment).
# --------------------------------------------------------------------------------------------

Receiver = Callable[..., Awaitable[CallbackServer]]
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def receiver(cb_bot: VideoBot) -> AsyncIterator[Receiver]:
    """Starts a receiver of the bot's with the given limits (the bot's store and tracker)."""
    started: list[CallbackServer] = []

    async def start(**limits: Any) -> CallbackServer:
        server = CallbackServer(
            cb_bot.store, cb_bot.tracker.wake, "/evolink", ReceiverLimits(**limits)
        )
        await server.start("127.0.0.1", 0)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


async def connect(server: CallbackServer, data: bytes = b"") -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def until_closed(connection: Connection, within: float = 10.0) -> bytes:
    """All the server sent before it closed the connection (fails if it never does)."""
    reader, writer = connection
    try:
        async with asyncio.timeout(within):
            return await reader.read()
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


def status_lines(answer: bytes) -> list[str]:
    return re.findall(r"HTTP/1\.1 (\d{3}) ", answer.decode("latin-1"))


async def trickle(writer: asyncio.StreamWriter, data: bytes) -> None:
    """One byte at a time, each well within any per-read timeout, until cut off."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.02)


async def test_slow_senders_are_cut_off_without_an_answer(
    cb_bot: VideoBot, receiver: Receiver
) -> None:
    server = await receiver(header_timeout=0.3, body_timeout=0.3)
    stalls = [
        b"",  # connects and says nothing
        b"POST /evolink/1/",  # half a request line
        b"POST /evolink/1/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-",  # half the headers
        b"POST /evolink/1/abc HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",  # 1 byte of 100
    ]
    connections = [await connect(server, stall) for stall in stalls for _ in range(10)]
    trickler = await connect(server)
    trickling = asyncio.create_task(trickle(trickler[1], b"POST /evolink/1/" + b"a" * 200))

    answers = await asyncio.gather(*(until_closed(c) for c in [*connections, trickler]))
    assert answers == [b""] * (len(connections) + 1)
    await trickling
    assert server.open_connections == 0


async def test_a_full_receiver_makes_room_for_a_real_callback(
    fake_discord: FakeDiscord,
    cb_bot: VideoBot,
    receiver: Receiver,
    simulator: Simulator,
    clock: FakeClock,
) -> None:
    await dispatch(cb_bot, slash_command("video", [option("prompt", "a kite")]))
    row = await cb_bot.store.generations.get(1)
    assert row is not None and row.callback_token
    server = await receiver(max_connections=4, header_timeout=60)

    stalled = [await connect(server, b"POST /evolink/1/") for _ in range(12)]
    # never more than 4 held: each newcomer closed the oldest one still sending its request
    assert await asyncio.gather(*(until_closed(c) for c in stalled[:8])) == [b""] * 8
    assert server.open_connections == 4

    clock.advance(61)
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"http://127.0.0.1:{server.port}/evolink/1/{row.callback_token}", json={"id": "x"}
        )
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert await until_closed(stalled[8]) == b""  # the oldest made room for it
    assert not any(reader.at_eof() for reader, _ in stalled[9:])
    await cb_bot.tracker.run_once()
    assert queries(simulator) == 1
    assert len(ready(fake_discord)) == 1
    for connection in stalled[9:]:
        connection[1].close()


@pytest.mark.sqlite_only("a read waits for SQLite's write lock (PostgreSQL's never wait)")
async def test_newcomers_are_closed_at_once_while_every_place_waits_on_the_database(
    cb_bot: VideoBot, receiver: Receiver
) -> None:
    server = await receiver(max_connections=1)
    request = b"POST /evolink/1/" + b"t" * 32 + b" HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    async with cb_bot.store.transaction():  # the database is busy: the lookup must wait
        first = await connect(server, request)
        await wait_until(lambda: server.answering == 1, within=10, what="the lookup to start")
        assert await until_closed(await connect(server, request)) == b""
    assert status_lines(await until_closed(first)) == ["404"]


async def test_a_body_over_the_cap_is_refused_before_it_is_read(
    cb_bot: VideoBot, receiver: Receiver
) -> None:
    await dispatch(cb_bot, slash_command("video", [option("prompt", "a kite")]))
    row = await cb_bot.store.generations.get(1)
    assert row is not None and row.callback_token
    server = await receiver(max_body_bytes=1024)
    path = f"/evolink/1/{row.callback_token}".encode()

    def post(length: bytes, body: bytes = b"") -> bytes:
        return b"POST " + path + b" HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\n" + body

    too_big = await until_closed(await connect(server, post(b"2048", b"{" + b" " * 2047)))
    announced = await until_closed(await connect(server, post(b"1000000000000")))  # never sent
    absurd = await until_closed(await connect(server, post(b"9" * 40)))
    assert [status_lines(a) for a in (too_big, announced, absurd)] == [["413"]] * 3
    after = await cb_bot.store.generations.get(1)
    assert after is not None and after.next_poll_at == row.next_poll_at  # nothing moved


ODD_REQUESTS = {
    "chunked body": (
        b"POST /evolink/1/{token} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n",
        ["411"],
    ),
    "no Content-Length (no body)": (
        b"POST /evolink/1/{token} HTTP/1.1\r\nHost: h\r\n\r\n",
        ["200"],
    ),
    "two Content-Lengths": (
        b"POST /evolink/1/{token} HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        ["400"],
    ),
    "Content-Length not a number": (
        b"POST /evolink/1/{token} HTTP/1.1\r\nContent-Length: -2\r\n\r\n{}",
        ["400"],
    ),
    "HTTP/1.0 without Host": (
        b"POST /evolink/1/{token} HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
        ["200"],
    ),
    "pipelined: one answer, then closed": (
        b"POST /evolink/1/wrong-token-wrong-token HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
        b"POST /evolink/1/{token} HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        ["404"],
    ),
    "keep-alive asked, closed anyway": (
        b"POST /evolink/1/{token} HTTP/1.1\r\nConnection: keep-alive\r\nContent-Length: 2\r\n"
        b"\r\n{}",
        ["200"],
    ),
    "Expect: 100-continue": (
        b"POST /evolink/1/{token} HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
        ["100", "200"],
    ),
    "GET": (b"GET /evolink/1/{token} HTTP/1.1\r\nHost: h\r\n\r\n", ["405"]),
    "another path": (b"POST /admin HTTP/1.1\r\nContent-Length: 0\r\n\r\n", ["404"]),
    "not HTTP": (b"HELLO THERE\r\n\r\n", ["400"]),
    "binary": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", ["400"]),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ["400"]),
    "folded header": (b"POST /evolink/1/{token} HTTP/1.1\r\nX-A: 1\r\n b\r\n\r\n", ["400"]),
    "space before colon": (b"POST /evolink/1/{token} HTTP/1.1\r\nHost : h\r\n\r\n", ["400"]),
    "headers too large": (
        b"POST /evolink/1/{token} HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n",
        ["431"],
    ),
}


@pytest.mark.parametrize("request_bytes, statuses", ODD_REQUESTS.values(), ids=ODD_REQUESTS)
async def test_odd_requests_are_answered_and_closed_quietly(
    fake_discord: FakeDiscord,
    cb_bot: VideoBot,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    request_bytes: bytes,
    statuses: list[str],
) -> None:
    await dispatch(cb_bot, slash_command("video", [option("prompt", "a kite")]))
    row = await cb_bot.store.generations.get(1)
    assert row is not None and row.callback_token
    server = await receiver(header_timeout=5, body_timeout=5, linger_timeout=5)
    caplog.set_level(logging.DEBUG)
    request = request_bytes.replace(b"{token}", row.callback_token.encode())

    answer = await until_closed(await connect(server, request))  # closed by the server
    assert status_lines(answer) == statuses
    assert answer.endswith(b'{"ok": true}' if statuses[-1] == "200" else b'{"ok": false}')
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == []
    after = await cb_bot.store.generations.get(1)
    assert after is not None
    moved = after.next_poll_at != row.next_poll_at
    assert moved == (statuses[-1] == "200")
