"""Logging for python -m bot: plain text (coloured only on a terminal) or one JSON object per
line (LOG_FORMAT=json), and never a token or key, whatever the format."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import discord

from bot import logcontext
from bot.settings import Settings

TEXT_FORMAT = "[{asctime}] [{levelname:<8}] {name}: {message}"
TEXT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# what a log call may pass with extra= when no generation context is set
_SUBJECT_FIELDS = (("generation_id", "generation"), ("guild_id", "guild"), ("user_id", "member"))


class RedactingFormatter(logging.Formatter):
    """Last line of defence: whatever a handler's formatter writes (messages, tracebacks,
    colours or JSON), no token or key reaches the log verbatim."""

    def __init__(self, inner: logging.Formatter, secrets: list[str]) -> None:
        super().__init__()
        self._inner = inner
        kept = [s for s in secrets if len(s) >= 8]
        escaped = [json.dumps(s)[1:-1] for s in kept]  # as it reads inside a JSON string
        self._secrets = list(dict.fromkeys(kept + escaped))

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, the exception's
    traceback if any, and the generation, server and member the line is about, if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        subject = logcontext.current()
        if subject is not None:
            entry.update(
                generation=subject.generation_id, guild=subject.guild_id, member=subject.user_id
            )
        for attribute, key in _SUBJECT_FIELDS:
            value = getattr(record, attribute, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def wants_colour(stream: TextIO) -> bool:
    """Colour codes only for a person at a terminal: never in a file, a pipe or a container log
    (discord.py's own set-up colours whenever it thinks it runs in Docker)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def inner_formatter(log_format: str, stream: TextIO) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if wants_colour(stream):
        return discord.utils._ColourFormatter()
    return logging.Formatter(TEXT_FORMAT, TEXT_DATE_FORMAT, style="{")


def setup_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """One handler on the root logger, at LOG_LEVEL, in LOG_FORMAT, redacting the secrets."""
    stream = stream if stream is not None else sys.stderr
    level = getattr(logging, settings.log_level)
    handler = logging.StreamHandler(stream)
    secrets = [settings.discord_token.get(), settings.evolink_api_key.get()]
    handler.setFormatter(RedactingFormatter(inner_formatter(settings.log_format, stream), secrets))
    handler.setLevel(level)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
