"""The real bot as a separate process, tested from outside the way an operator would see it.

Three processes talk over loopback only: the EvoLink simulator (``python -m bot.simulator``),
the bot (``python -m bot``), and this test, which hosts the Discord stand-in
(discord_double/server.py: REST API plus gateway websocket) and plays the members by pushing
INTERACTION_CREATE events down the gateway. Nothing is patched: with ``DISCORD_API_BASE_URL``
set, the bot also asks that API (``GET /gateway/bot``) where its gateway is, so it never connects
to Discord's own.

The environment is hermetic: every setting the bot reads is set here (unused ones to an empty
string), and the bot runs in an empty working directory, so no ``.env`` can leak in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from discord_double import APPLICATION_ID, DiscordStandIn, option, slash_command, wait_until
from tests.backends import Backend, read_rows

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ROOT = Path(__file__).resolve().parents[1]
GUILD_ID = 1200000000000000003
CHANNEL_ID = 1200000000000000004
USER_IDS = (1200000000000000011, 1200000000000000012, 1200000000000000013)

PRICIER_THAN_EVOLINK = {"PRICE_720P_PER_SECOND": "1.5"}  # the simulator charges 1 per second
STARTUP = 40.0  # generous: a loaded 2-core machine imports discord.py slowly
STEP = 30.0
EXIT = 15.0


def _setting_names() -> set[str]:
    """Every environment variable bot/settings.py reads (so none can leak in from a .env)."""
    source = (ROOT / "bot" / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r"\(\s*\"([A-Z][A-Z0-9]*_[A-Z0-9_]+)\"", source)) | {
        "DISCORD_TOKEN",
        "EVOLINK_API_KEY",
        "EVOLINK_BASE_URL",
        "DATABASE_PATH",
        "DATABASE_URL",
        "DISCORD_GUILD_ID",
        "POLL_INTERVAL_SECONDS",
        "POLL_CONCURRENCY",
        "TASK_TIMEOUT_MINUTES",
        "HTTP_TIMEOUT_SECONDS",
        "LOG_LEVEL",
        "DISCORD_API_BASE_URL",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def distinctive(kind: str) -> str:
    """A long, unmistakable secret value (no whitespace, so the settings accept it)."""
    return f"{kind}-{secrets.token_hex(24)}-{secrets.token_hex(8)}"


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    process: asyncio.subprocess.Process
    stdout_path: Path
    stderr_path: Path

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        return self.stdout() + self.stderr()

    def tail(self, lines: int = 40) -> str:
        text = self.stderr().splitlines()[-lines:]
        return f"--- {self.name} stderr (last {lines} lines) ---\n" + "\n".join(text)

    def signal(self, sig: int) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    async def wait_exit(self, within: float = EXIT) -> int:
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} did not exit within {within}s\n{self.tail()}"
            ) from None

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


def limit_open_files(limits: tuple[int, int]) -> None:
    import resource  # POSIX only, like this module

    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


@dataclass
class Cluster:
    """The processes of one test, always cleaned up."""

    tmp: Path
    backend: Backend | None = None  # None: SQLite files in tmp
    procs: list[Proc] = field(default_factory=list)

    async def spawn(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        open_files: tuple[int, int] | None = None,
    ) -> Proc:
        """Start ``python *args``; ``open_files``: its (soft, hard) RLIMIT_NOFILE."""
        index = len(self.procs)
        out = self.tmp / f"{index:02d}-{name}.out"
        err = self.tmp / f"{index:02d}-{name}.err"
        workdir = self.tmp / "cwd"
        workdir.mkdir(exist_ok=True)
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                cwd=workdir,
                env=env,
                stdout=stdout,
                stderr=stderr,
                preexec_fn=None if open_files is None else lambda: limit_open_files(open_files),
            )
        proc = Proc(name, process, out, err)
        self.procs.append(proc)
        return proc

    async def close(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.process.wait(), 5)
            except TimeoutError:
                await proc.kill()


@dataclass
class Simulator:
    proc: Proc
    base_url: str

    async def tasks(self) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.base_url}/_sim/tasks") as response:
                response.raise_for_status()
                data = await response.json()
        return list(data["data"])

    async def add_fault(self, rule: dict[str, Any]) -> None:
        """A simulator fault rule (see ``FaultRule`` in bot/simulator/faults.py)."""
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.base_url}/_sim/faults", json=rule) as response:
                response.raise_for_status()


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _setting_names()}
    for name in _setting_names():
        env[name] = ""
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


async def start_simulator(
    cluster: Cluster,
    *,
    task_seconds: float,
    pending_seconds: float = 0.5,
    extra: Sequence[str] = (),
) -> Simulator:
    """``python -m bot.simulator`` on a free port; retried if the port was taken meanwhile."""
    for attempt in range(3):
        port = free_port()
        args = [
            "-m",
            "bot.simulator",
            "--port",
            str(port),
            "--task-seconds",
            str(task_seconds),
            "--pending-seconds",
            str(pending_seconds),
            *extra,
        ]
        proc = await cluster.spawn(f"simulator{attempt}", args, base_env())
        sim = Simulator(proc, f"http://127.0.0.1:{port}")

        async def answers(sim: Simulator = sim) -> bool:
            try:
                await sim.tasks()
            except (aiohttp.ClientError, OSError):
                return False
            return True

        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP
        while proc.returncode is None and loop.time() < deadline:
            if await answers():
                return sim
            await asyncio.sleep(0.1)
        await proc.kill()
    raise AssertionError(f"the simulator did not start\n{proc.tail()}")


@dataclass
class Bot:
    proc: Proc
    token: str
    api_key: str
    db: Path | str  # the SQLite file, or the PostgreSQL database's URL


async def start_bot(
    cluster: Cluster,
    discord_api: DiscordStandIn,
    sim: Simulator,
    *,
    db: Path | str | None = None,
    token: str | None = None,
    api_key: str | None = None,
    name: str = "bot",
    open_files: tuple[int, int] | None = None,
    **settings: str,
) -> Bot:
    file = cluster.tmp / "state" / "bot.db"
    db = db or (cluster.backend and cluster.backend.url) or file
    token = token or distinctive("discord-token")
    api_key = api_key or distinctive("sk-evolink")
    env = base_env()
    env.update(
        DISCORD_TOKEN=token,
        EVOLINK_API_KEY=api_key,
        EVOLINK_BASE_URL=sim.base_url,
        DATABASE_PATH=str(file),
        DISCORD_API_BASE_URL=discord_api.api_base,
        POLL_INTERVAL_SECONDS="0.2",
        HTTP_TIMEOUT_SECONDS="10",
        LOG_LEVEL="INFO",
        STANDIN_GATEWAY_URL=discord_api.gateway_url,
    )
    if isinstance(db, str):
        env["DATABASE_URL"] = db
    else:
        env["DATABASE_PATH"] = str(db)
    env.update(settings)
    proc = await cluster.spawn(name, ["-m", "bot"], env, open_files)
    return Bot(proc, token, api_key, db)


async def wait_for(
    predicate: Callable[[], Any],
    what: str,
    *,
    discord_api: DiscordStandIn,
    bot: Bot | None = None,
    within: float = STEP,
) -> Any:
    """``wait_until`` that fails at once, with the bot's log, if the bot process has died."""

    def check() -> Any:
        if bot is not None and bot.proc.returncode is not None:
            raise AssertionError(
                f"{bot.proc.name} exited ({bot.proc.returncode}) while waiting for {what}\n"
                f"{bot.proc.tail()}\n{discord_api.describe()}"
            )
        return predicate()

    def details() -> str:
        log = f"\n{bot.proc.tail()}" if bot is not None else ""
        return discord_api.describe() + log

    return await wait_until(check, within=within, what=what, details=details)


async def wait_ready(discord_api: DiscordStandIn, bot: Bot, count: int = 1) -> None:
    def ready() -> bool:
        return sum(1 for c in discord_api.connections if c.session is not None) >= count and (
            discord_api.live_connection is not None
        )

    await wait_for(
        ready, f"IDENTIFY/READY #{count}", discord_api=discord_api, bot=bot, within=STARTUP
    )


STOPPED_LINE = "stopped cleanly"  # what bot/__main__.py logs after asyncio.run() returned


async def stop_bot(bot: Bot, *, within: float = 10.0, hang_grace: float = 3.0) -> int | None:
    """SIGTERM the bot and wait for it to exit; its exit status, or None when it hung.

    "Hung" means: still alive ``hang_grace`` seconds after logging that it stopped (the
    interpreter is then only waiting for non-daemon threads), or after ``within`` seconds in
    all. A hung process is killed, so a test never waits longer than that.
    """
    bot.proc.signal(signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    stopped_at: float | None = None
    while bot.proc.returncode is None:
        now = loop.time()
        if stopped_at is None and STOPPED_LINE in bot.proc.stderr():
            stopped_at = now
        if now >= deadline or (stopped_at is not None and now - stopped_at >= hang_grace):
            await bot.proc.kill()
            return None
        await asyncio.sleep(0.05)
    return bot.proc.returncode


@pytest.fixture
async def cluster(tmp_path: Path, backend: Backend) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path, backend=backend)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def discord_api() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn() as standin:
        yield standin


# --------------------------------------------------------------------------------------------
# Reading what members saw
# --------------------------------------------------------------------------------------------


def video_command(user_id: int, prompt: str) -> dict[str, Any]:
    return slash_command(
        "video",
        [option("prompt", prompt)],
        user_id=user_id,
        guild_id=GUILD_ID,
        channel_id=CHANNEL_ID,
        application_id=APPLICATION_ID,
    )


def deliveries(discord_api: DiscordStandIn, user_id: int) -> list[dict[str, Any]]:
    """Messages in the channel that hand ``user_id`` their finished video."""
    mention = f"<@{user_id}>"
    return [
        m
        for m in discord_api.channel_messages(CHANNEL_ID)
        if mention in m["content"] and "your video is ready" in m["content"]
    ]


def status_posts(discord_api: DiscordStandIn, user_id: int) -> list[Any]:
    """The status messages posted in the channel for ``user_id``'s requests (answered): the
    requests whose embed says who asked."""
    return [
        r
        for r in discord_api.requests_to("POST", f"/channels/{CHANNEL_ID}/messages")
        if r.status == 200
        and isinstance(r.json, dict)
        and (r.json.get("embeds") or [{}])[0].get("description") == f"Asked for by <@{user_id}>"
    ]


def status_ids(discord_api: DiscordStandIn, user_id: int) -> set[int]:
    """The ids of the status messages posted for ``user_id``."""
    return {
        int(m["id"])
        for m in [*discord_api.messages.values(), *discord_api.deleted_messages.values()]
        if m["kind"] == "channel"
        and m["embeds"]
        and m["embeds"][0].get("description") == f"Asked for by <@{user_id}>"
    }


def delivered_rows(db: Path | str) -> int:
    [(count,)] = read_rows(db, "SELECT count(*) FROM generations WHERE delivered_at IS NOT NULL")
    return int(count)


def assert_one_charge_per_video(db: Path | str, tasks: list[dict[str, Any]]) -> None:
    """The ledger explains each video once: exactly one reservation, and its reserve, settle and
    refund rows add up to what EvoLink charged (held, while the video is still being made)."""
    charged = {
        task["id"]: 0.0 if task["status"] == "failed" else float(
            task["usage"].get("credits_used", task["usage"]["credits_reserved"])
        )
        for task in tasks
    }  # fmt: skip
    rows = read_rows(
        db,
        """SELECT g.task_id, COALESCE(SUM(CASE WHEN l.kind = 'reserve' THEN 1 ELSE 0 END), 0),
                  ROUND(-COALESCE(SUM(l.amount), 0), 6)
           FROM generations g LEFT JOIN credit_ledger l ON l.generation_id = g.id
                AND l.kind IN ('reserve', 'settle', 'refund')
           GROUP BY g.id""",
    )
    ledger = {task_id: (reserves, charge) for task_id, reserves, charge in rows}
    assert ledger == {task_id: (1, charge) for task_id, charge in charged.items()}


def assert_clean_log(bot: Bot) -> None:
    err = bot.proc.stderr()
    assert "Traceback" not in err, bot.proc.tail(80)
    assert not re.search(r"\b(ERROR|CRITICAL)\b", err), bot.proc.tail(80)


def assert_no_secret(bot: Bot) -> None:
    output = bot.proc.output()
    for secret in (bot.token, bot.api_key):
        # the whole value, and any 12-character piece of its random part (no partial masking)
        assert secret not in output, f"a secret appeared in {bot.proc.name}'s output"
        pieces = {
            part[i : i + 12] for part in secret.rsplit("-", 2)[-2:] for i in range(len(part) - 11)
        }
        leaked = [p for p in pieces if p in output]
        assert not leaked, f"part of a secret appeared in {bot.proc.name}'s output: {leaked}"


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("upload", ["attached", "too-large"])
async def test_video_end_to_end(cluster: Cluster, discord_api: DiscordStandIn, upload: str) -> None:
    """/video from the member's side: deferred ack, status message, then the video in the channel
    with a mention of the member only. The simulator's video (256 KiB) is attached; when Discord
    refuses the upload as too large, the bot posts the link instead."""
    if upload == "too-large":
        discord_api.upload_limit = 100 * 1024
    sim = await start_simulator(cluster, task_seconds=2, pending_seconds=0.5)
    bot = await start_bot(cluster, discord_api, sim)
    await wait_ready(discord_api, bot)
    assert discord_api.requests_to("PUT", "/commands"), "the commands were not registered"
    identify = next(p for c in discord_api.connections for p in c.received if p.get("op") == 2)
    assert identify["d"]["token"] == bot.token

    user = USER_IDS[0]
    payload = video_command(user, "a red fox running through snow at dawn")
    iid = int(payload["id"])
    await discord_api.send_interaction(payload)

    callbacks = await wait_for(
        lambda: discord_api.interaction_callbacks(iid),
        "the interaction callback",
        discord_api=discord_api,
        bot=bot,
    )
    assert [c.json for c in callbacks] == [{"type": 5, "data": {"flags": 64}}], (
        "expected one private deferred acknowledgement"
    )
    assert callbacks[0].status == 200

    first = (
        await wait_for(
            lambda: status_posts(discord_api, user),
            "the status message",
            discord_api=discord_api,
            bot=bot,
        )
    )[0].json
    embed = first["embeds"][0]
    assert "Making your video" in embed["title"]
    assert first.get("allowed_mentions", {}).get("parse", []) == []

    delivered = await wait_for(
        lambda: deliveries(discord_api, user), "the delivery", discord_api=discord_api, bot=bot
    )
    tasks = await sim.tasks()
    assert len(tasks) == 1
    task = tasks[0]
    assert task["status"] == "completed"
    video_url = task["results"][0]
    message = delivered[0]
    assert message["content"].startswith(f"<@{user}>")
    assert [m["id"] for m in message["mentions"]] == [str(user)], "must ping the requester only"
    assert message["mention_everyone"] is False
    allowed = message["allowed_mentions"]
    assert [str(u) for u in allowed.get("users", [])] == [str(user)]
    assert allowed.get("parse", []) == [] and not allowed.get("roles")

    sends = [
        r
        for r in discord_api.requests_to("POST", f"/channels/{CHANNEL_ID}/messages")
        if r not in status_posts(discord_api, user)
    ]
    assert all(r.bot_auth and r.json.get("enforce_nonce") is True for r in sends)
    assert len({r.json.get("nonce") for r in sends}) == 1, "one delivery, one nonce"
    posted = next(r for r in sends if r.status == 200)
    if upload == "attached":
        async with aiohttp.ClientSession() as http, http.get(video_url) as response:
            video = await response.read()
        assert [data for _, data in posted.files] == [video], "the simulator's video, attached"
        assert posted.files[0][0].endswith(".mp4")
        assert len(sends) == 1
    else:
        assert [r.status for r in sends] == [413, 200], "a refused upload, then the link"
        assert not posted.files
        assert video_url in message["content"]
    assert embed.get("footer", {}).get("text", "").endswith(task["id"])

    # One message per video: the status message made way for the delivery.
    [status_id] = status_ids(discord_api, user)
    await wait_for(
        lambda: status_id in discord_api.deleted_messages,
        "the status message removed",
        discord_api=discord_api,
        bot=bot,
    )
    assert len(deliveries(discord_api, user)) == 1
    assert_one_charge_per_video(bot.db, tasks)

    assert_clean_log(bot)
    await stop_bot(bot)  # how it stops is test_sigterm_*'s business


async def test_sigkill_mid_task_delivers_each_video_once(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    sim = await start_simulator(cluster, task_seconds=5, pending_seconds=0.5)
    # The bot's estimate (7.5) is above EvoLink's reservation (5): each video is reserved, then
    # settled, before the kill, and must not be charged again after the restart.
    first = await start_bot(cluster, discord_api, sim, name="bot-first", **PRICIER_THAN_EVOLINK)
    await wait_ready(discord_api, first)

    interactions: dict[int, int] = {}
    for n, user in enumerate(USER_IDS):
        payload = video_command(user, f"scene {n}: a lighthouse in a storm, wide shot")
        interactions[user] = int(payload["id"])
        await discord_api.send_interaction(payload)
    await wait_for(
        lambda: all(status_posts(discord_api, user) for user in interactions),
        "three status messages",
        discord_api=discord_api,
        bot=first,
    )
    first.proc.signal(signal.SIGKILL)
    assert await first.proc.wait_exit() == -signal.SIGKILL
    assert not any(deliveries(discord_api, u) for u in USER_IDS), (
        "a video was delivered before the kill; the machine is too slow for task_seconds=5"
    )
    assert len(await sim.tasks()) == 3

    second = await start_bot(
        cluster,
        discord_api,
        sim,
        db=first.db,
        token=first.token,
        api_key=first.api_key,
        name="bot-second",
        **PRICIER_THAN_EVOLINK,
    )
    await wait_ready(discord_api, second, count=2)
    await wait_for(
        lambda: all(deliveries(discord_api, u) for u in USER_IDS),
        "a delivery for each member after the restart",
        discord_api=discord_api,
        bot=second,
    )
    # Once the database says delivered, nothing can post again: then count.
    await wait_for(
        lambda: delivered_rows(second.db) == 3,
        "three rows marked delivered",
        discord_api=discord_api,
        bot=second,
    )
    for user in USER_IDS:
        got = deliveries(discord_api, user)
        assert len(got) == 1, f"user {user} got {len(got)} deliveries"
        mentioned = [m["id"] for m in got[0]["mentions"]]
        assert mentioned == [str(user)]
    tasks = await sim.tasks()
    assert len(tasks) == 3, f"EvoLink got {len(tasks)} creates, expected 3"
    assert {t["status"] for t in tasks} == {"completed"}
    assert_one_charge_per_video(second.db, tasks)
    # The status messages are channel messages: after the restart, with the interaction tokens
    # unknown to the bot, they are still removed with the bot token once each video is posted.
    statuses = set().union(*(status_ids(discord_api, user) for user in USER_IDS))
    assert len(statuses) == 3 and statuses <= set(discord_api.deleted_messages)

    assert_clean_log(second)
    await stop_bot(second)


async def test_sigkill_before_the_delivery_is_confirmed_posts_once(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    """Discord posts the video but the bot dies before hearing so: the restarted bot sends it
    again with the same nonce, and Discord (enforce_nonce) returns the message it already has."""
    sim = await start_simulator(cluster, task_seconds=1.5)
    first = await start_bot(cluster, discord_api, sim, name="bot-first", **PRICIER_THAN_EVOLINK)
    await wait_ready(discord_api, first)
    user = USER_IDS[0]
    await discord_api.send_interaction(video_command(user, "a kite over a beach at noon"))
    await wait_for(
        lambda: status_posts(discord_api, user), "the status message", discord_api=discord_api,
        bot=first,
    )  # fmt: skip
    hold = discord_api.hold_answers(method="POST", path_contains=f"/channels/{CHANNEL_ID}/messages")
    await wait_for(
        lambda: hold.held, "the delivery to be posted", discord_api=discord_api, bot=first
    )
    first.proc.signal(signal.SIGKILL)
    assert await first.proc.wait_exit() == -signal.SIGKILL
    hold.release()
    assert len(deliveries(discord_api, user)) == 1
    assert delivered_rows(first.db) == 0, "the killed bot cannot have recorded the delivery"

    second = await start_bot(
        cluster,
        discord_api,
        sim,
        db=first.db,
        token=first.token,
        api_key=first.api_key,
        name="bot-second",
        **PRICIER_THAN_EVOLINK,
    )
    await wait_for(
        lambda: delivered_rows(second.db) == 1,
        "the row marked delivered after the restart",
        discord_api=discord_api,
        bot=second,
    )
    sends = [
        r
        for r in discord_api.requests_to("POST", f"/channels/{CHANNEL_ID}/messages")
        if r not in status_posts(discord_api, user)
    ]
    nonces = [r.json.get("nonce") for r in sends]
    assert len(sends) >= 2 and len(set(nonces)) == 1 and nonces[0], nonces
    assert all(r.json.get("enforce_nonce") is True for r in sends)
    assert len(deliveries(discord_api, user)) == 1, "the video was posted twice"
    tasks = await sim.tasks()
    assert len(tasks) == 1
    assert_one_charge_per_video(second.db, tasks)
    assert_clean_log(second)
    await stop_bot(second)


async def test_sigkill_with_a_create_in_flight_is_recovered_soon_after_restart(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    """EvoLink makes the task but its answer is slow; the bot is killed before it arrives. The
    new process repeats the create (same Idempotency-Key: the same task) once the dead call can
    no longer be waiting (HTTP_TIMEOUT_SECONDS, 10 s here, and 5 s after it began), not after
    the minute a create lost in a running process waits. (On a database processes share, the
    dead process's lease on the row, 10 s here, must have run out too.)"""
    sim = await start_simulator(cluster, task_seconds=1.0, pending_seconds=0.2)
    await sim.add_fault({"route": "create", "create_after_fault": True, "delay": 8.0})
    first = await start_bot(cluster, discord_api, sim, name="bot-first", LEASE_SECONDS="10")
    await wait_ready(discord_api, first)
    user = USER_IDS[0]
    await discord_api.send_interaction(video_command(user, "a lantern on a night river"))
    tasks: list[dict[str, Any]] = []

    async def task_made() -> bool:
        tasks[:] = await sim.tasks()
        return bool(tasks)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP
    while not await task_made():
        assert loop.time() < deadline, f"no create reached the simulator\n{first.proc.tail()}"
        await asyncio.sleep(0.05)
    first.proc.signal(signal.SIGKILL)  # the create's answer is still 8 s away
    assert await first.proc.wait_exit() == -signal.SIGKILL

    restarted = loop.time()
    second = await start_bot(
        cluster, discord_api, sim, db=first.db, token=first.token, api_key=first.api_key,
        name="bot-second", LEASE_SECONDS="10",
    )  # fmt: skip
    await wait_for(
        lambda: deliveries(discord_api, user),
        "the delivery after the restart (a lost create waits 60 s in a running process)",
        discord_api=discord_api,
        bot=second,
        within=30.0,
    )
    took = loop.time() - restarted
    assert took < 30.0, f"restart to delivery took {took:.1f}s"
    await wait_for(
        lambda: delivered_rows(second.db) == 1, "the row marked delivered", discord_api=discord_api
    )
    assert len(deliveries(discord_api, user)) == 1
    assert [t["id"] for t in await sim.tasks()] == [tasks[0]["id"]], "the same task, not a second"
    assert_clean_log(second)
    await stop_bot(second)


SHUTDOWN_HANG = (
    "the bot logged 'stopped cleanly' but never exited (killed after the grace period): some "
    "resource was left open after asyncio.run() returned, e.g. the non-daemon aiosqlite thread "
    "when Store.close() never ran. This happened when the SIGTERM handler's bot.close() was not "
    "awaited: asyncio.run() cancelled it inside EvoLinkClient.aclose(), which yields once per "
    "pooled connection (hence several members)."
)


async def sigterm_while_rendering(
    cluster: Cluster, discord_api: DiscordStandIn, members: Sequence[int]
) -> None:
    """Each member starts a video that never finishes, then the bot gets SIGTERM: it must exit
    0 within a few seconds, log no error, and close its gateway connection."""
    sim = await start_simulator(cluster, task_seconds=60)
    # Slow creates overlap, so the bot ends up with one pooled EvoLink connection per member.
    await sim.add_fault({"route": "create", "delay": 0.5, "count": len(members)})
    bot = await start_bot(cluster, discord_api, sim)
    await wait_ready(discord_api, bot)
    ids = []
    for user in members:
        payload = video_command(user, "a paper boat drifting down a gutter [[never]]")
        ids.append(int(payload["id"]))
        await discord_api.send_interaction(payload)
    await wait_for(
        lambda: all(status_posts(discord_api, user) for user in members),
        "the status messages",
        discord_api=discord_api,
        bot=bot,
    )
    # let the tracker poll them a few times (POLL_INTERVAL_SECONDS=0.2)
    await wait_for(
        lambda: len(discord_api.requests_to("PATCH", f"/channels/{CHANNEL_ID}/messages/")) > 0,
        "a progress edit",
        discord_api=discord_api,
        bot=bot,
    )
    connection = discord_api.live_connection
    assert connection is not None

    loop = asyncio.get_running_loop()
    started = loop.time()
    status = await stop_bot(bot, within=10.0)
    if status is None and STOPPED_LINE in bot.proc.stderr():
        raise AssertionError(f"{SHUTDOWN_HANG}\n{bot.proc.tail()}")
    assert status is not None, f"the bot did not stop within 10 s\n{bot.proc.tail()}"
    assert status == 0, bot.proc.tail()
    assert loop.time() - started < 10
    assert_clean_log(bot)
    assert STOPPED_LINE in bot.proc.stderr()
    assert_one_charge_per_video(bot.db, await sim.tasks())  # each still holds its reservation
    # The bot closed the gateway itself. (The code on the wire is 4000, not the 1000 discord.py
    # passes to close(): its reader task sends the close frame; a discord.py/aiohttp detail.)
    await wait_for(lambda: connection.closed, "the websocket to close", discord_api=discord_api)


async def test_sigterm_with_a_task_running(cluster: Cluster, discord_api: DiscordStandIn) -> None:
    await sigterm_while_rendering(cluster, discord_api, USER_IDS[:1])


async def test_sigterm_with_several_tasks_running(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    await sigterm_while_rendering(cluster, discord_api, USER_IDS)


async def test_gateway_reconnect_resumes_the_session(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    """Op 7 (RECONNECT): discord.py reconnects and RESUMEs; interactions keep working."""
    sim = await start_simulator(cluster, task_seconds=60)
    bot = await start_bot(cluster, discord_api, sim)
    await wait_ready(discord_api, bot)
    first = discord_api.connections[0]
    assert first.session is not None
    await discord_api.request_reconnect()

    def resumed() -> bool:
        return any(6 in c.ops and c.session is not None for c in discord_api.connections[1:])

    await wait_for(resumed, "a RESUME on a new connection", discord_api=discord_api, bot=bot)
    live = discord_api.live_connection
    assert live is not None and live is not first and first.closed
    assert live.session is first.session, "the same session, resumed"
    assert 2 not in live.ops, "a resume, not a new IDENTIFY"

    payload = video_command(USER_IDS[0], "a snail crossing a leaf [[never]]")
    await discord_api.send_interaction(payload)
    callbacks = await wait_for(
        lambda: discord_api.interaction_callbacks(int(payload["id"])),
        "the interaction callback after the resume",
        discord_api=discord_api,
        bot=bot,
    )
    assert callbacks[0].json["type"] == 5
    assert_clean_log(bot)
    await stop_bot(bot)


async def test_secrets_never_printed(cluster: Cluster, discord_api: DiscordStandIn) -> None:
    api_key = distinctive("sk-evolink")
    # The simulator accepts this key only: the bot really uses it, and never prints it.
    sim = await start_simulator(cluster, task_seconds=1, extra=["--api-key", api_key])
    bot = await start_bot(cluster, discord_api, sim, api_key=api_key, LOG_LEVEL="DEBUG")
    await wait_ready(discord_api, bot)
    user = USER_IDS[2]
    await discord_api.send_interaction(video_command(user, "a hummingbird in slow motion"))
    await wait_for(
        lambda: deliveries(discord_api, user), "the delivery", discord_api=discord_api, bot=bot
    )
    await stop_bot(bot)
    assert "DEBUG" in bot.proc.stderr(), "expected a debug log to search"
    assert_no_secret(bot)


async def test_secrets_not_printed_when_refused(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    sim = await start_simulator(cluster, task_seconds=1)

    # Discord refuses the token: the bot stops with a message naming the setting, not its value.
    discord_api.token = distinctive("the-real-token")
    refused = await start_bot(cluster, discord_api, sim, name="bot-refused", LOG_LEVEL="DEBUG")
    assert await refused.proc.wait_exit(within=STARTUP) == 1, refused.proc.tail()
    assert "DISCORD_TOKEN" in refused.proc.stderr()
    assert_no_secret(refused)

    # A malformed setting: exit 2 listing the problem, still without the secrets.
    invalid = await start_bot(
        cluster, discord_api, sim, name="bot-invalid", POLL_INTERVAL_SECONDS="soon"
    )
    assert await invalid.proc.wait_exit(within=STARTUP) == 2, invalid.proc.tail()
    assert "POLL_INTERVAL_SECONDS" in invalid.proc.stderr()
    assert_no_secret(invalid)


# --------------------------------------------------------------------------------------------
# The stand-in's own contract (in process, fast)
# --------------------------------------------------------------------------------------------


FLOOD = 300


def open_file_limits(bot: Bot) -> tuple[int, int]:
    """The (soft, hard) open-file limits the bot process runs with, as Linux reports them."""
    limits = Path(f"/proc/{bot.proc.process.pid}/limits").read_text(encoding="utf-8")
    found = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
    assert found is not None, limits
    return int(found[1]), int(found[2])


async def stall(port: int, count: int) -> list[asyncio.StreamWriter]:
    """``count`` connections that send half a request line and then nothing."""
    stalled = []
    for _ in range(count):
        with contextlib.suppress(OSError, TimeoutError):
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            writer.write(b"POST /evolink/1/")
            stalled.append(writer)
    return stalled


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_a_flood_of_stalled_callback_connections_leaves_video_working(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    """Hundreds of connections to the callback receiver that never finish their request: the
    bot still makes and delivers a video (its callback gets through) and logs no error. The bot
    starts with a small open-file budget (soft 128, hard 256, as some hosts give), so holding
    the flood would take every file descriptor it has."""
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < FLOOD + 256:
        pytest.skip("this test process may not open enough sockets")
    sim = await start_simulator(cluster, task_seconds=1, extra=["--allow-insecure-callbacks"])
    port = free_port()
    bot = await start_bot(
        cluster,
        discord_api,
        sim,
        open_files=(128, 256),
        CALLBACK_PUBLIC_URL=f"http://127.0.0.1:{port}/evolink",
        CALLBACK_PORT=str(port),
    )
    await wait_ready(discord_api, bot)
    assert open_file_limits(bot) == (256, 256), "the soft limit was not raised to the hard one"

    stalled = await stall(port, FLOOD)
    try:
        user = USER_IDS[1]
        await discord_api.send_interaction(video_command(user, "a lighthouse in a storm"))
        await wait_for(
            lambda: deliveries(discord_api, user),
            "the delivery during the flood",
            discord_api=discord_api,
            bot=bot,
        )
    finally:
        for writer in stalled:
            writer.close()
    assert len(stalled) == FLOOD
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sim.base_url}/_sim/callbacks") as response:
            attempts = (await response.json())["data"]
    assert any(a["ok"] for a in attempts), f"no callback got through: {attempts}"
    assert_clean_log(bot)
    assert await stop_bot(bot) == 0


async def test_standin_rest_and_gateway_contract(discord_api: DiscordStandIn) -> None:
    api = discord_api.api_base
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api}/gateway/bot") as r:
            assert r.headers["Content-Type"] == "application/json"
            assert await r.json() == {
                "url": discord_api.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        async with http.get(f"{api}/nothing/here") as r:
            assert r.status == 404 and r.headers["Content-Type"] == "application/json"
            assert (await r.json())["code"] == 0

        # nonce + enforce_nonce: the second send returns the first message
        url = f"{api}/channels/{CHANNEL_ID}/messages"
        body = {
            "content": "hi <@1> <@2>",
            "nonce": "n-1",
            "enforce_nonce": True,
            "allowed_mentions": {"parse": [], "users": [2]},
        }
        async with http.post(url, json=body) as r:
            first = await r.json()
        async with http.post(url, json=body) as r:
            again = await r.json()
        async with http.post(url, json={**body, "enforce_nonce": False}) as r:
            other = await r.json()
        assert first["id"] == again["id"] != other["id"]
        assert [u["id"] for u in first["mentions"]] == ["2"]
        assert "allowed_mentions" not in first and first["nonce"] == "n-1"

        # multipart: payload_json and files are both recorded
        form = aiohttp.FormData()
        form.add_field("payload_json", '{"content": "with file"}', content_type="application/json")
        form.add_field("files[0]", b"RIFF", filename="a.wav", content_type="audio/wav")
        async with http.post(url, data=form) as r:
            assert (await r.json())["attachments"][0]["filename"] == "a.wav"
        assert discord_api.requests[-1].json == {"content": "with file"}
        assert discord_api.requests[-1].files == [("a.wav", b"RIFF")]

        async with http.patch(f"{url}/{first['id']}", json={"content": "edited"}) as r:
            assert (await r.json())["edited_timestamp"] is not None
        async with http.delete(f"{url}/{first['id']}") as r:
            assert r.status == 204
        async with http.patch(f"{url}/{first['id']}", json={"content": "x"}) as r:
            assert r.status == 404 and (await r.json())["code"] == 10008

        async with http.post(f"{api}/users/@me/channels", json={"recipient_id": "7"}) as r:
            dm = await r.json()
        async with http.post(f"{api}/users/@me/channels", json={"recipient_id": "7"}) as r:
            assert (await r.json())["id"] == dm["id"] and dm["type"] == 1

        # gateway: HELLO, heartbeat ACK, READY, dispatches with increasing s, RESUME
        async with http.ws_connect(f"{discord_api.gateway_url}?v=10&compress=zlib-stream") as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
            await ws.send_json({"op": 1, "d": None})
            assert (await ws.receive_json(timeout=5))["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": "t", "intents": 1, "properties": {}}})
            ready = await ws.receive_json(timeout=5)
            assert (ready["op"], ready["t"], ready["s"]) == (0, "READY", 1)
            assert ready["d"]["application"]["id"] == str(APPLICATION_ID)
            payload = video_command(USER_IDS[0], "a test")
            assert await discord_api.send_interaction(payload) == 2
            event = await ws.receive_json(timeout=5)
            assert (event["t"], event["s"], event["d"]["id"]) == (
                "INTERACTION_CREATE",
                2,
                payload["id"],
            )
            session = ready["d"]["session_id"]

        iid, token = payload["id"], payload["token"]
        async with http.post(
            f"{api}/interactions/{iid}/{token}/callback?with_response=1", json={"type": 5}
        ) as r:
            answer = await r.json()
        assert answer["resource"]["message"]["flags"] & 128
        async with http.post(f"{api}/interactions/{iid}/{token}/callback", json={"type": 5}) as r:
            assert r.status == 400 and (await r.json())["code"] == 40060
        original = f"{api}/webhooks/{APPLICATION_ID}/{token}/messages/@original"
        async with http.patch(original, json={"embeds": [{"title": "t"}]}) as r:
            assert (await r.json())["flags"] & 128 == 0
        async with http.post(f"{api}/webhooks/{APPLICATION_ID}/{token}?wait=1", json={}) as r:
            assert r.status == 200
        async with http.delete(original) as r:
            assert r.status == 204

        async with http.ws_connect(discord_api.gateway_url) as ws:
            await ws.receive_json(timeout=5)
            await ws.send_json({"op": 6, "d": {"token": "t", "session_id": session, "seq": 2}})
            resumed = await ws.receive_json(timeout=5)
            assert (resumed["t"], resumed["s"]) == ("RESUMED", 3)
        async with http.ws_connect(discord_api.gateway_url) as ws:
            await ws.receive_json(timeout=5)
            await ws.send_json({"op": 6, "d": {"token": "t", "session_id": "nope", "seq": 1}})
            assert await ws.receive_json(timeout=5) == {"op": 9, "s": None, "t": None, "d": False}
