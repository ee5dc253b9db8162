"""A new owner's first minutes, with the real ``python -m bot`` process: the first start at a
terminal (a pseudo-terminal here) asks for the two secrets and checks them, ``--check`` tests
a configuration against EvoLink (the simulator) and Discord (the stand-in), and a database from
a newer bot is refused before login."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import sqlite3
import stat
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.store import MIGRATIONS
from bot.ui.invite import required_permissions
from discord_double import APPLICATION_ID, DiscordStandIn
from tests.test_process import (
    STARTUP,
    Cluster,
    Proc,
    Simulator,
    base_env,
    distinctive,
    start_simulator,
    wait_for,
    wait_ready,
)
from tests.test_process import Bot as BotProcess

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals")

INVITE = re.compile(
    rf"https://discord\.com/oauth2/authorize\?client_id={APPLICATION_ID}"
    rf"&scope=bot\+applications\.commands&permissions={required_permissions().value}"
)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    processes = Cluster(tmp_path)
    try:
        yield processes
    finally:
        await processes.close()


@pytest.fixture
async def discord_api() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn() as standin:
        yield standin


class Terminal:
    """The master side of a pseudo-terminal whose slave is the process's controlling terminal."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.screen = b""
        self._more = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._read)

    def _read(self) -> None:
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # the process closed its side
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self.master)
        self.screen += chunk
        self._more.set()

    def text(self) -> str:
        return self.screen.decode("utf-8", "replace")

    async def expect(self, needle: str, *, count: int = 1, within: float = STARTUP) -> None:
        try:
            async with asyncio.timeout(within):
                while self.text().count(needle) < count:
                    self._more.clear()
                    await self._more.wait()
        except TimeoutError:
            raise AssertionError(
                f"{needle!r} not shown; the terminal shows:\n{self.text()}"
            ) from None

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # in the child: the pty becomes its /dev/tty


async def spawn_at_terminal(
    cluster: Cluster, env: dict[str, str]
) -> tuple[asyncio.subprocess.Process, Terminal, Path]:
    master, slave = pty.openpty()
    workdir = cluster.tmp / "cwd"
    workdir.mkdir(exist_ok=True)
    log = cluster.tmp / "bot-at-terminal.err"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=workdir, env=env, stdin=slave, stdout=slave,
            stderr=stderr, start_new_session=True, preexec_fn=_take_terminal,
        )  # fmt: skip
    os.close(slave)
    cluster.procs.append(Proc("bot-at-terminal", process, log, log))
    return process, Terminal(master), workdir


def without_secrets() -> dict[str, str]:
    env = base_env()
    del env["DISCORD_TOKEN"], env["EVOLINK_API_KEY"]
    return env


async def test_first_start_asks_for_both_secrets_checks_them_and_starts(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    token, api_key = distinctive("discord-token"), distinctive("sk-evolink")
    discord_api.token = token
    sim = await start_simulator(cluster, task_seconds=1, extra=["--api-key", api_key])
    env = without_secrets()
    env.update(
        EVOLINK_BASE_URL=sim.base_url,
        DISCORD_API_BASE_URL=discord_api.api_base,
        DATABASE_PATH=str(cluster.tmp / "state" / "bot.db"),
    )
    process, terminal, workdir = await spawn_at_terminal(cluster, env)
    try:
        await terminal.expect("No .env here yet")
        await terminal.expect("Discord bot token: ")
        terminal.type("not-the-token-0123456789")
        await terminal.expect("Discord refused DISCORD_TOKEN")
        await terminal.expect("Discord bot token: ", count=2)
        terminal.type(token)
        await terminal.expect("Discord accepted the token: this is StandInBot")
        await terminal.expect("EvoLink API key: ")
        terminal.type("sk-not-the-key-0123456789")
        await terminal.expect("EvoLink refused EVOLINK_API_KEY")
        await terminal.expect("EvoLink API key: ", count=2)
        terminal.type(api_key)
        await terminal.expect("EvoLink accepted the key (10000 credits left)")
        await terminal.expect("Starting the bot")

        env_file = workdir / ".env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        written = env_file.read_text(encoding="utf-8")
        assert f"DISCORD_TOKEN={token}\n" in written and f"EVOLINK_API_KEY={api_key}\n" in written
        assert ".env.example" in written
        assert [p.name for p in workdir.iterdir()] == [".env"], "no partial file left behind"

        bot = BotProcess(cluster.procs[-1], token, api_key, cluster.tmp / "state" / "bot.db")
        await wait_ready(discord_api, bot)
        identify = next(p for c in discord_api.connections for p in c.received if p.get("op") == 2)
        assert identify["d"]["token"] == token
        await wait_for(
            lambda: "logged in as StandInBot" in bot.proc.stderr(),
            "the line saying the bot is connected",
            discord_api=discord_api,
            bot=bot,
        )
        log = bot.proc.stderr()
        assert INVITE.search(log) and "in 0 server(s)" in log, log[-2000:]
        for secret in (token, api_key):  # typed hidden: never echoed, never logged
            assert secret not in terminal.text() and secret not in log
    finally:
        terminal.close()
        process.terminate()
        await process.wait()


async def test_a_secret_typed_while_the_last_one_is_checked_is_neither_shown_nor_used(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    """getpass turns echo back on after each answer: a key pasted while the previous one is
    being checked used to show in clear. Now nothing typed between questions is shown, and what
    was typed before a question appeared is discarded with a word to paste it again."""
    token, api_key = distinctive("discord-token"), distinctive("sk-evolink")
    discord_api.token = token
    sim = await start_simulator(cluster, task_seconds=1, extra=["--api-key", api_key])
    await sim.add_fault({"route": "credits", "delay": 5.0, "count": 1})  # a slow key check
    env = without_secrets()
    env.update(
        EVOLINK_BASE_URL=sim.base_url,
        DISCORD_API_BASE_URL=discord_api.api_base,
        DATABASE_PATH=str(cluster.tmp / "state" / "bot.db"),
    )
    process, terminal, _ = await spawn_at_terminal(cluster, env)
    try:
        await terminal.expect("Discord bot token: ")
        terminal.type(token)
        await terminal.expect("EvoLink API key: ")
        terminal.type("sk-not-the-key-0123456789")
        deadline = asyncio.get_running_loop().time() + STARTUP
        while not await check_started(sim):
            assert asyncio.get_running_loop().time() < deadline, "the key was never checked"
            await asyncio.sleep(0.05)
        terminal.type(api_key)  # pasted while the wrong key is still being checked
        await terminal.expect("EvoLink refused EVOLINK_API_KEY")
        await terminal.expect("paste it again now")
        await terminal.expect("EvoLink API key: ", count=2)
        assert api_key not in terminal.text(), "a secret typed ahead was shown"
        terminal.type(api_key)
        await terminal.expect("EvoLink accepted the key")
        await terminal.expect("Starting the bot")
        assert api_key not in terminal.text() and token not in terminal.text()
    finally:
        terminal.close()
        process.terminate()
        await process.wait()


async def check_started(sim: Simulator) -> bool:
    """Whether the slow balance request has reached the simulator (its delay fault was hit)."""
    async with aiohttp.ClientSession() as http, http.get(f"{sim.base_url}/_sim/faults") as answer:
        rules = (await answer.json())["rules"]
    return not rules or rules[0]["hits"] > 0


async def test_without_a_terminal_the_first_start_stops_with_what_to_do(
    cluster: Cluster,
) -> None:
    proc = await cluster.spawn("bot-no-terminal", ["-m", "bot"], without_secrets())
    assert await proc.wait_exit(within=STARTUP) == 2
    err = proc.stderr()
    assert "DISCORD_TOKEN is missing" in err and "EVOLINK_API_KEY is missing" in err
    assert "There is no .env" in err and "copy .env.example to .env" in err
    assert not (cluster.tmp / "cwd" / ".env").exists()


async def run_check(cluster: Cluster, name: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await cluster.spawn(name, ["-m", "bot", "--check"], env)
    code = await proc.wait_exit(within=STARTUP)
    return code, proc.output()


async def test_check_passes_against_the_simulator_and_discord(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    token, api_key = distinctive("discord-token"), distinctive("sk-evolink")
    discord_api.token = token
    sim = await start_simulator(cluster, task_seconds=1, extra=["--api-key", api_key])
    env = base_env()
    env.update(
        DISCORD_TOKEN=token, EVOLINK_API_KEY=api_key, EVOLINK_BASE_URL=sim.base_url,
        DISCORD_API_BASE_URL=discord_api.api_base,
        DATABASE_PATH=str(cluster.tmp / "state" / "bot.db"),
    )  # fmt: skip
    code, output = await run_check(cluster, "check-good", env)
    assert code == 0, output
    database = cluster.tmp / "state" / "bot.db"
    assert f"Database: OK ({database} does not exist yet: the first start creates it)" in output
    assert not database.parent.exists(), "--check creates nothing, not even the folder"
    assert "EvoLink: OK (key accepted" in output and "10000 credits left" in output
    assert f"Discord: OK (logged in as StandInBot, id {APPLICATION_ID})" in output
    assert INVITE.search(output)
    assert "All checks passed" in output
    assert token not in output and api_key not in output
    assert not discord_api.connections, "--check logs in over REST only, never the gateway"


async def test_check_names_a_refused_key_and_token_and_fails(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    discord_api.token = distinctive("the-real-token")
    sim = await start_simulator(cluster, task_seconds=1, extra=["--api-key", "sk-the-real-key"])
    token, api_key = distinctive("discord-token"), distinctive("sk-evolink")
    env = base_env()
    env.update(
        DISCORD_TOKEN=token, EVOLINK_API_KEY=api_key, EVOLINK_BASE_URL=sim.base_url,
        DISCORD_API_BASE_URL=discord_api.api_base,
        DATABASE_PATH=str(cluster.tmp / "state" / "bot.db"),
    )  # fmt: skip
    code, output = await run_check(cluster, "check-refused", env)
    assert code == 1, output
    assert "EvoLink: PROBLEM - EvoLink refused EVOLINK_API_KEY" in output
    assert "Discord: PROBLEM - Discord refused DISCORD_TOKEN" in output
    assert "Reset Token" in output and "2 problems found" in output
    assert "Invite link" not in output
    assert token not in output and api_key not in output

    env.update(EVOLINK_BASE_URL="http://127.0.0.1:9", DISCORD_API_BASE_URL="http://127.0.0.1:9")
    code, output = await run_check(cluster, "check-unreachable", env)
    assert code == 1
    assert "Could not reach EvoLink at http://127.0.0.1:9" in output
    assert "Could not reach Discord at http://127.0.0.1:9" in output


async def test_a_database_from_a_newer_bot_is_refused_before_login(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    db = cluster.tmp / "state" / "bot.db"
    db.parent.mkdir()
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    env = base_env()
    env.update(
        DISCORD_TOKEN=distinctive("discord-token"), EVOLINK_API_KEY=distinctive("sk-evolink"),
        DATABASE_PATH=str(db), DISCORD_API_BASE_URL=discord_api.api_base,
    )  # fmt: skip
    proc = await cluster.spawn("bot-newer-database", ["-m", "bot"], env)
    assert await proc.wait_exit(within=STARTUP) == 2
    err = proc.stderr()
    assert f"schema is version {len(MIGRATIONS) + 1}, made by a newer version" in err
    assert f"knows versions up to {len(MIGRATIONS)}" in err and "restore a backup" in err
    assert not discord_api.requests, "refused before any call to Discord"
    assert sorted(p.name for p in db.parent.iterdir()) == ["bot.db"], "no -wal or -shm beside it"
    with contextlib.closing(sqlite3.connect(db)) as connection:
        tables = connection.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()[0]
        journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert tables == 0, "nothing was migrated"
    assert journal == "delete", "not switched to WAL"
    env["EVOLINK_BASE_URL"] = "http://127.0.0.1:9"  # refused at once: only the database counts
    code, output = await run_check(cluster, "check-newer-database", env)
    assert code == 1 and "cannot be used by this version of the bot" in output
    assert sorted(p.name for p in db.parent.iterdir()) == ["bot.db"]
