"""The first start on a new machine: no .env and no secrets in the environment, and a person at
a terminal. Ask for the Discord token and the EvoLink key (typed hidden), check each with its
service, ask again for a refused one, and write them to an owner-only .env.

Plain English for the owner at a terminal (not members, so not in the text catalogue).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import getpass
import os
import re
import secrets
import termios
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any

from bot.preflight import CheckFailed, balance_text, check_discord, check_evolink
from bot.settings import DEFAULTS

Ask = Callable[[str], str]
Say = Callable[[str], None]
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._~:+/=-]+")
HEADER = """\
# Written by the first start of python -m bot (owner-only: it holds secrets).
# Every other setting, with what it does, is in .env.example: copy the lines you need below.
"""


def wanted(env_file: Path, environ: Mapping[str, str]) -> bool:
    """No .env yet and neither secret set another way: a first start."""
    secrets_set = [
        (environ.get(name) or "").strip() for name in ("DISCORD_TOKEN", "EVOLINK_API_KEY")
    ]
    has_secret = any(secrets_set)
    return not env_file.exists() and not has_secret


def setup(
    env_file: Path,
    environ: Mapping[str, str],
    *,
    ask: Ask | None = None,
    say: Say = print,
) -> dict[str, str] | None:
    """Ask, check and write .env; returns the values written, or None when the owner stopped
    (nothing is written then). `ask` defaults to hidden questions at the terminal."""
    with _unechoed_terminal() as terminal:
        return _setup(env_file, environ, ask or _hidden_question(terminal, say), say)


def _setup(env_file: Path, environ: Mapping[str, str], ask: Ask, say: Say) -> dict[str, str] | None:
    say(
        "No .env here yet: let's make one. You need two things:\n"
        "  - the bot token: https://discord.com/developers/applications -> your application -> "
        "Bot -> Reset Token\n"
        "  - your EvoLink API key, from the EvoLink dashboard (API keys)\n"
        "What you type is hidden. Ctrl+C stops without writing anything."
    )
    discord_base = (environ.get("DISCORD_API_BASE_URL") or "").strip() or None
    evolink_base = (environ.get("EVOLINK_BASE_URL") or "").strip() or DEFAULTS.evolink_base_url

    async def discord_ok(token: str) -> str:
        identity = await check_discord(token, discord_base)
        return f"Discord accepted the token: this is {identity.name} (id {identity.user_id})."

    async def evolink_ok(key: str) -> str:
        balance = await check_evolink(evolink_base.rstrip("/"), key)
        return f"EvoLink accepted the key ({balance_text(balance)})."

    try:
        token = _ask_until_accepted("Discord bot token: ", discord_ok, ask, say)
        key = _ask_until_accepted("EvoLink API key: ", evolink_ok, ask, say)
    except (KeyboardInterrupt, EOFError):
        say("\nStopped: nothing was written.")
        return None
    values = {"DISCORD_TOKEN": token, "EVOLINK_API_KEY": key}
    write_env(env_file, values)
    say(f"Wrote {env_file} (readable by you only). Starting the bot...")
    return values


def _ask_until_accepted(
    prompt: str, check: Callable[[str], Coroutine[Any, Any, str]], ask: Ask, say: Say
) -> str:
    while True:
        value = ask(prompt).strip()
        if not value:
            say("Nothing was typed; paste the value (it stays hidden) and press Enter.")
            continue
        if not _PLAIN_VALUE.fullmatch(value):
            say("That has spaces or characters a token never has; paste the value alone.")
            continue
        try:
            say(asyncio.run(check(value)))
        except CheckFailed as failed:
            say(str(failed))
            if failed.refused:
                continue
            say("It could not be checked now, so it is kept as typed; python -m bot --check "
                "checks it again later.")  # fmt: skip
        return value


@contextlib.contextmanager
def _unechoed_terminal() -> Iterator[int | None]:
    """The controlling terminal with echo off for the whole exchange, not only while a question
    waits (getpass turns it back on after each answer): a secret pasted while the previous one
    is being checked would otherwise show in clear. Yields its descriptor, or None without one."""
    try:
        terminal = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        yield None
        return
    try:
        saved = termios.tcgetattr(terminal)
    except termios.error:
        os.close(terminal)
        yield None
        return
    quiet = saved[:]
    quiet[3] &= ~termios.ECHO  # 3: the local modes
    termios.tcsetattr(terminal, termios.TCSADRAIN, quiet)
    try:
        yield terminal
    finally:
        termios.tcsetattr(terminal, termios.TCSADRAIN, saved)
        os.close(terminal)


def _hidden_question(terminal: int | None, say: Say) -> Ask:
    """getpass, after discarding what was typed before the question appeared (getpass would
    drop it silently): it was meant for no question the owner had seen, so it is never taken as
    the answer, and the owner is told to paste it again."""

    def ask(prompt: str) -> str:
        if terminal is not None:
            pending = array.array("i", [0])
            with contextlib.suppress(OSError):
                fcntl.ioctl(terminal, termios.FIONREAD, pending)
            termios.tcflush(terminal, termios.TCIFLUSH)
            if pending[0] > 0:
                say("What was typed before this question appeared was not used (nor shown): "
                    "paste it again now.")  # fmt: skip
        return getpass.getpass(prompt)

    return ask


def write_env(env_file: Path, values: Mapping[str, str]) -> None:
    """Write a new .env, owner-only from its first byte, never over an existing one."""
    text = HEADER + "".join(f"{name}={value}\n" for name, value in values.items())
    partial = env_file.with_name(f".env.{secrets.token_hex(4)}.partial")
    descriptor = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(partial, env_file)  # fails, rather than overwrites, if .env appeared meanwhile
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: create it in place, as exclusively
            with os.fdopen(
                os.open(env_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600),
                "w",
                encoding="utf-8",
            ) as out:
                out.write(text)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
