"""python -m bot: read .env, check every setting, log safely, run until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from dotenv import load_dotenv

from bot.client import VideoBot
from bot.fdlimit import raise_open_file_limit
from bot.settings import Settings, SettingsError, load_settings
from bot.store import check_usable

log = logging.getLogger("bot")


class RedactingFormatter(logging.Formatter):
    """Last line of defence: whatever a handler's formatter writes (messages, tracebacks,
    colours or not), no token or key reaches the log verbatim."""

    def __init__(self, inner: logging.Formatter, secrets: list[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = [s for s in secrets if len(s) >= 8]

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text


def setup_logging(settings: Settings) -> None:
    discord.utils.setup_logging(level=getattr(logging, settings.log_level), root=True)
    secrets = [settings.discord_token.get(), settings.evolink_api_key.get()]
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(handler.formatter or logging.Formatter(), secrets))
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def use_gateway_of(bot: VideoBot, settings: Settings) -> None:
    """With a stand-in Discord API (DISCORD_API_BASE_URL), connect to its gateway too, never
    to Discord's own: discord.py asks for the gateway address only when sharding."""
    url = settings.discord_gateway_url
    if url is None:
        _, url, _ = await bot.http.get_bot_gateway()
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)


async def stay_connected(bot: VideoBot, stop: asyncio.Event) -> None:
    """discord.py reconnects by itself once connected; this covers a first connection that
    fails (Discord unreachable at start), retrying with a growing pause instead of dying."""
    delay = 1.0
    while not stop.is_set() and not bot.is_closed():
        try:
            await bot.connect()
            return
        except (discord.LoginFailure, discord.PrivilegedIntentsRequired):
            raise
        except Exception as exc:  # discord.py raises odd errors when the first connect fails
            if bot.is_closed() or stop.is_set():
                return
            log.error("cannot reach Discord's gateway (%s); trying again in %.0f s", exc, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
            delay = min(delay * 2, 60.0)


async def log_in(bot: VideoBot, settings: Settings, stop: asyncio.Event) -> bool:
    """Log in to Discord, waiting out network trouble; False if stopped meanwhile. A refused
    token raises LoginFailure at once: retrying would not help."""
    delay = 1.0
    while not stop.is_set():
        try:
            await bot.login(settings.discord_token.get())
            if settings.discord_api_base_url:
                await use_gateway_of(bot, settings)
            return True
        except (OSError, aiohttp.ClientError, discord.DiscordServerError, TimeoutError) as exc:
            log.error("cannot reach Discord (%s); trying again in %.0f s", exc, delay)
            await bot.http.close()  # the next try opens a fresh session and connector
            bot.http.connector = discord.utils.MISSING
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stop.wait()
        delay = min(delay * 2, 60.0)
    return False


async def run(settings: Settings) -> None:
    """Run until Discord refuses us or SIGINT/SIGTERM arrives, then close everything, awaited."""
    bot = VideoBot(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with bot:
        if not await log_in(bot, settings, stop):
            return
        running = asyncio.create_task(stay_connected(bot, stop), name="bot")
        stopping = asyncio.create_task(stop.wait(), name="stop-signal")
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("stopping: finishing work in flight")
        stopping.cancel()
        await bot.close()
        await running  # returns once closed; re-raises a refusal from Discord


def database_problem(path: Path) -> str | None:
    """Check the database path before anything else, so that a path the bot cannot use is named
    at once instead of failing deep inside the start-up."""
    try:
        check_usable(path)
    except (OSError, sqlite3.Error) as exc:
        return (
            f"DATABASE_PATH ({path}) cannot be used as the bot's database: {exc}. "
            "Point it at a file in a folder the bot may write to."
        )
    return None


def main() -> int:
    load_dotenv(Path.cwd() / ".env")  # the .env of the folder the bot is started from
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    problem = database_problem(settings.database_path)
    if problem is not None:
        print(f"The bot cannot start. Fix this setting in .env:\n  - {problem}", file=sys.stderr)
        return 2
    setup_logging(settings)
    raise_open_file_limit()
    if settings.discord_api_base_url:
        discord.http.Route.BASE = settings.discord_api_base_url
    try:
        asyncio.run(run(settings))
    except discord.LoginFailure:
        log.error("Discord refused DISCORD_TOKEN: copy the bot token again into .env")
        return 1
    except discord.PrivilegedIntentsRequired:
        log.error("Discord refused the gateway intents; check the bot's settings in the portal")
        return 1
    log.info("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
