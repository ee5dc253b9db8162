"""python -m bot: read .env (asking for it on a first start), check every setting, log
safely, run until stopped; python -m bot --check: check the settings and both services."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from dotenv import load_dotenv

from bot import first_run
from bot.fdlimit import raise_open_file_limit
from bot.logs import setup_logging
from bot.preflight import run_checks, settings_database_problem
from bot.settings import Settings, SettingsError, load_settings
from bot.ui.client import VideoBot, make_bot

log = logging.getLogger("bot")


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
            if stop.is_set():
                return
            if bot.is_closed():  # discord.py gave up the connection: Discord refused it for good
                raise
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
    bot = make_bot(settings)
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


def gateway_refusal(code: int, reason: str | None) -> str:
    """What to do when Discord's gateway closed the connection for good (its close code)."""
    if code == 4011:
        return (
            "Discord requires sharding for this bot (gateway close code 4011: it is in too many "
            "servers for one connection): set SHARD_COUNT, and SHARD_IDS to share the shards "
            "between processes (README, Several processes)"
        )
    if code == 4010:
        return (
            "Discord refused the shard (gateway close code 4010): SHARD_COUNT must be the same in "
            "every process and each of its SHARD_IDS below it"
        )
    return f"Discord closed the gateway connection for good (close code {code}: {reason})"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Run the EvoLink video bot for Discord (settings: .env, see .env.example).",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the settings, the database, EvoLink and Discord, print the invite link, "
        "and exit (0 when everything is ready)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env_file = Path.cwd() / ".env"  # the .env of the folder the bot is started from
    first_start = first_run.wanted(env_file, os.environ)
    if first_start and not args.check and sys.stdin.isatty():
        written = first_run.setup(env_file, os.environ)
        if written is None:
            return 2
        os.environ.update(written)  # even where the environment had them empty
    load_dotenv(env_file)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        if not env_file.exists():
            print(
                f"There is no .env in {env_file.parent}: start python -m bot in a terminal to be "
                "asked for the two values, or copy .env.example to .env and fill it in.",
                file=sys.stderr,
            )
        return 2
    if args.check:
        return run_checks(settings)
    problem = settings_database_problem(settings)
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
    except discord.ConnectionClosed as exc:
        log.error("%s", gateway_refusal(exc.code, exc.reason))
        return 1
    log.info("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
