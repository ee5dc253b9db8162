"""Links from outside, end to end: the finished video's link (fetched by the bot, every hop
checked, only a video attached) and the member's audio links (passed on to EvoLink).

DNS answers are faked on the event loop (`getaddrinfo`, which the bot and aiohttp both ask), and
every connection attempt is recorded at the loop's `sock_connect`; nothing leaves this machine.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

import pytest
from aiohttp import web

from bot.simulator import Simulator
from bot.ui.client import VideoBot
from discord_double import (
    CHANNEL_ID,
    FakeDiscord,
    attachment,
    attachment_option,
    dispatch,
    option,
    slash_command,
)
from tests.conftest import FakeClock
from tests.test_video_flow import creates, finish_all, ready_messages, video

MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(4000)
METADATA = "169.254.169.254"


@dataclass
class Network:
    dns: dict[str, list[str]] = field(default_factory=dict)  # name -> the fake DNS answers
    asked: list[str] = field(default_factory=list)  # names looked up in the fake DNS
    connections: list[tuple[str, int]] = field(default_factory=list)  # every connection attempt
    database: set[tuple[str, int]] = field(default_factory=set)  # the PostgreSQL server's


@pytest.fixture
async def network(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Network:
    loop = asyncio.get_running_loop()
    net = Network()
    if "backend" in request.fixturenames:
        net.database = request.getfixturevalue("backend").server_addresses()
    real_getaddrinfo, real_connect = loop.getaddrinfo, loop.sock_connect

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in net.dns:
            return await real_getaddrinfo(host, port, *args, **kwargs)
        net.asked.append(name)
        answers = net.dns[name]
        if len(answers) > 1 and name.startswith("rebind."):
            net.dns[name] = answers[1:]  # the next lookup answers something else
            answers = answers[:1]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, int(port), 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, int(port)))
            for a in answers
        ]

    async def sock_connect(sock: socket.socket, address: Any) -> None:
        if (address[0], address[1]) not in net.database:  # the bot's own database
            net.connections.append((address[0], address[1]))
        if not ip_address(address[0]).is_loopback:
            raise OSError(errno.ENETUNREACH, "the tests never leave this machine")
        await real_connect(sock, address)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    return net


@dataclass
class FileServer:
    """Another server on loopback, serving a real video: the bot must never reach it."""

    port: int = 0
    hits: list[str] = field(default_factory=list)
    body: bytes = MP4
    content_type: str | None = "video/mp4"
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location


@pytest.fixture
async def elsewhere() -> AsyncIterator[FileServer]:
    server = FileServer()

    async def serve(request: web.Request) -> web.Response:
        server.hits.append(request.path_qs)
        if request.path in server.redirects:
            return web.Response(status=302, headers={"Location": server.redirects[request.path]})
        response = web.Response(body=server.body)
        if server.content_type is None:
            response.headers.popall("Content-Type", None)
        else:
            response.headers["Content-Type"] = server.content_type
        return response

    app = web.Application()
    app.router.add_get("/{path:.*}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = int(runner.addresses[0][1])
    yield server
    await runner.cleanup()


def simulator_port(simulator: Simulator) -> int:
    return int(simulator.base_url.rsplit(":", 1)[1])


def only_the_simulator_was_reached(net: Network, simulator: Simulator) -> bool:
    return set(net.connections) <= {("127.0.0.1", simulator_port(simulator))}


# --- the finished video: every hop checked -----------------------------------------------------

REDIRECTS = {
    "another loopback port": "http://127.0.0.1:{port}/v.mp4",
    "the cloud metadata address": f"http://{METADATA}/latest/meta-data/",
    "loopback written in hex": "http://0x7f000001:{port}/v.mp4",
    "loopback by name": "http://localhost:{port}/v.mp4",
    "https to a private address": "https://10.0.0.8/v.mp4",
}


@pytest.mark.parametrize("case", list(REDIRECTS))
async def test_a_redirect_away_from_the_simulator_is_refused_and_the_link_posted(
    case: str,
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    network: Network,
    elsewhere: FileServer,
) -> None:
    await dispatch(bot, video())
    simulator.faults.add(
        route="files", redirect=REDIRECTS[case].format(port=elsewhere.port), always=True
    )
    await finish_all(bot, simulator, clock)
    [message] = ready_messages(fake_discord)
    assert message["attachments"] == []
    task = next(iter(simulator.tasks.values()))
    assert simulator.result_url(task.id) in message["content"]  # the link, as for any failure
    assert elsewhere.hits == []
    assert only_the_simulator_was_reached(network, simulator), network.connections
    row = await bot.store.generations.get(1)
    assert row is not None and row.status == "completed" and row.delivered_via == "channel"


async def test_at_most_three_redirects_within_the_simulator_are_followed(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    for redirects in (3, 4):
        await dispatch(bot, video())
        task = list(simulator.tasks.values())[-1]
        here = simulator.result_url(task.id)
        simulator.faults.add(route="files", redirect=here, count=redirects)
        await finish_all(bot, simulator, clock)
        simulator.faults.clear()
    first, second = ready_messages(fake_discord)
    assert first["attachments"] == ["video-1.mp4"]  # the same origin: followed
    assert second["attachments"] == []  # one redirect too many
    assert "http://127.0.0.1" in second["content"]


BODIES = {
    "an HTML page": ("text/html; charset=utf-8", "<!doctype html><title>Sign in</title>"),
    "a JSON answer": ("application/json", '{"error": {"code": "link_expired"}}'),
    "text called a binary": ("application/octet-stream", "<html><body>nothing</body></html>"),
    "plain text": ("text/plain", "x" * 100),
    "HTML called a video": ("video/mp4", "<html>not a video</html>"),
    "a short body called a video": ("video/webm", "tiny"),
}


@pytest.mark.parametrize("case", list(BODIES))
async def test_a_result_that_is_not_a_video_is_linked_not_attached(
    case: str, fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    content_type, body = BODIES[case]
    await dispatch(bot, video())
    simulator.faults.add(route="files", content_type=content_type, body=body, always=True)
    await finish_all(bot, simulator, clock)
    [message] = ready_messages(fake_discord)
    assert message["attachments"] == []
    assert "/files/" in message["content"]
    sent = fake_discord.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")
    assert sent and all(not call.files for call in sent)  # nothing uploaded


async def test_a_binary_download_is_attached_only_when_its_signature_says_video(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    uploads: list[list[tuple[str, bytes]]] = []
    for body in (None, "GIF89a not a video at all"):  # the simulator's MP4, then not a video
        await dispatch(bot, video())
        simulator.faults.add(
            route="files", content_type="application/octet-stream", body=body, always=True
        )
        await finish_all(bot, simulator, clock)
        simulator.faults.clear()
        uploads.append(fake_discord.calls_to("POST", f"/channels/{CHANNEL_ID}/messages")[-1].files)
    mp4, gif = ready_messages(fake_discord)
    assert mp4["attachments"] == ["video-1.mp4"] and gif["attachments"] == []
    [(_, data)] = uploads[0]
    assert data[4:8] == b"ftyp" and uploads[1] == []


async def test_an_mp4_behind_a_type_that_is_not_a_video_is_linked_not_attached(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator, clock: FakeClock
) -> None:
    """The Content-Type can refuse a body whose first bytes say video: a page that embeds one
    is not the video."""
    await dispatch(bot, video())
    simulator.faults.add(route="files", content_type="text/html", always=True)
    await finish_all(bot, simulator, clock)
    [message] = ready_messages(fake_discord)
    assert message["attachments"] == [] and "/files/" in message["content"]


async def test_a_video_is_attached_under_the_name_of_what_it_is(
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + bytes(100)
    quicktime = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + bytes(100)
    for body in (webm, quicktime):
        monkeypatch.setattr(simulator, "video_body", lambda body=body: body)  # served as video/mp4
        await dispatch(bot, video())
        await finish_all(bot, simulator, clock)
    first, second = ready_messages(fake_discord)
    assert first["attachments"] == ["video-1.webm"]
    assert second["attachments"] == ["video-2.mov"]


RESOLVING = {
    "a name that resolves to loopback": ("media.example.com", ["127.0.0.1"]),
    "one public and one loopback address": ("media.example.com", ["93.184.215.14", "127.0.0.1"]),
    "a name that resolves to IPv6 loopback": ("media.example.com", ["::1"]),
    "a name that resolves to NAT64 of loopback": ("media.example.com", ["64:ff9b::7f00:1"]),
    "localhost with a trailing dot": ("localhost.", ["127.0.0.1"]),
}


@pytest.mark.parametrize("case", list(RESOLVING))
async def test_a_result_whose_name_leads_to_a_private_address_is_not_fetched(
    case: str,
    monkeypatch: pytest.MonkeyPatch,
    fake_discord: FakeDiscord,
    bot: VideoBot,
    simulator: Simulator,
    clock: FakeClock,
    network: Network,
    elsewhere: FileServer,
) -> None:
    name, answers = RESOLVING[case]
    network.dns[name] = answers
    link = f"https://{name}:{elsewhere.port}/v.mp4"
    monkeypatch.setattr(simulator, "result_url", lambda task_id: link)  # EvoLink's results[0]
    await dispatch(bot, video())
    await finish_all(bot, simulator, clock)
    [message] = ready_messages(fake_discord)
    assert message["attachments"] == [] and link in message["content"]
    assert elsewhere.hits == []
    assert only_the_simulator_was_reached(network, simulator), network.connections


# --- the member's audio links, passed on to EvoLink ---------------------------------------------

AUDIO_LINKS = [
    "https://0177.0.0.1/a.mp3",
    "https://127.1/a.mp3",
    "https://0x7f.0.0.1/a.mp3",
    "https://169.254.43518/latest/meta-data",
    "https://１２７.０.０.１/a.mp3",
    "https://[64:ff9b::a9fe:a9fe]/latest",
    "https://[2002:a9fe:a9fe::1]/latest",
    "https://100.64.1/a.mp3",
]


@pytest.mark.parametrize("link", AUDIO_LINKS)
async def test_an_audio_link_to_a_private_address_is_refused_before_anything_is_paid(
    link: str, fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    payload = video(audio_url=link)
    await dispatch(bot, payload)
    answer = fake_discord.interaction_response(int(payload["id"]))
    assert answer["type"] == 4 and answer["data"]["flags"] == 64  # only the member sees it
    assert "`audio_url` must point at a public web address." in answer["data"]["content"]
    assert "not charged" in answer["data"]["content"]
    assert creates(simulator) == [] and await bot.store.generations.get(1) is None


async def test_an_audio_link_with_a_user_name_is_refused_with_the_reason(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    payload = video(audio_url="https://127.0.0.1@cdn.example.com/a.mp3")
    await dispatch(bot, payload)
    answer = fake_discord.interaction_response(int(payload["id"]))
    assert "`audio_url` must not contain a user name or password" in answer["data"]["content"]
    assert creates(simulator) == []


async def test_an_audio_link_to_something_else_than_a_wav_or_mp3_is_refused_unpaid(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    payload = video(audio_url="https://evil.com/a.exe?name=beat.mp3")
    await dispatch(bot, payload)
    answer = fake_discord.interaction_response(int(payload["id"]))
    assert "`audio_url` must be a .wav or .mp3 file." in answer["data"]["content"]
    assert "not charged" in answer["data"]["content"]
    assert creates(simulator) == [] and await bot.store.generations.get(1) is None


async def test_a_crafted_attachment_link_is_refused(
    fake_discord: FakeDiscord, bot: VideoBot, simulator: Simulator
) -> None:
    audio = attachment(
        filename="beat.mp3", content_type="audio/mpeg", url="https://0x7f.0.0.1/b.mp3"
    )
    payload = slash_command("video", [option("prompt", "x"), attachment_option("audio", audio)])
    await dispatch(bot, payload)
    answer = fake_discord.interaction_response(int(payload["id"]))
    assert "`audio` must point at a public web address." in answer["data"]["content"]
    assert creates(simulator) == []
