"""python -m bot: read .env, check every setting, log safely, run until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import discord
from dotenv import load_dotenv

from bot.client import VideoBot
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("bot")


class RedactSecrets(logging.Filter):
    """Last line of defence: no log record ever carries a token or key verbatim."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        redacted = message
        for secret in self._secrets:
            redacted = redacted.replace(secret, "********")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "********")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def setup_logging(settings: Settings) -> None:
    discord.utils.setup_logging(level=getattr(logging, settings.log_level), root=True)
    redact = RedactSecrets([settings.discord_token.get(), settings.evolink_api_key.get()])
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def run(settings: Settings) -> None:
    """Run until Discord refuses us or SIGINT/SIGTERM arrives, then close everything, awaited."""
    bot = VideoBot(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with bot:
        running = asyncio.create_task(bot.start(settings.discord_token.get()), name="bot")
        stopping = asyncio.create_task(stop.wait(), name="stop-signal")
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("stopping: finishing work in flight")
        stopping.cancel()
        await bot.close()
        await running  # returns once closed; re-raises a login failure


def main() -> int:
    load_dotenv()
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(settings)
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
