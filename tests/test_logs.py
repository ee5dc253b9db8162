"""What the owner's log looks like: plain text without colour codes unless on a terminal, or
JSON lines (LOG_FORMAT=json) that name the video each line is about; never a secret."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import discord
import pytest

from bot import logcontext
from bot.logs import setup_logging
from bot.settings import Secret, Settings
from discord_double import DiscordStandIn
from tests.test_process import (
    USER_IDS,
    Cluster,
    assert_no_secret,
    deliveries,
    start_bot,
    start_simulator,
    stop_bot,
    video_command,
    wait_for,
    wait_ready,
)

TOKEN = 'discord-token-with-a-"quote"-0123456789'
KEY = "sk-evolink-very-secret-0123456789"
COLOUR = re.compile(r"\x1b\[")


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, given back as it was (setup_logging adds a handler and sets levels)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def settings(log_format: str = "text") -> Settings:
    return Settings(discord_token=Secret(TOKEN), evolink_api_key=Secret(KEY), log_format=log_format)


class Generation:
    id, guild_id, user_id = 42, 1200000000000000003, 1200000000000000011


def test_plain_text_has_no_colour_codes_off_a_terminal_even_in_docker(
    root_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discord.utils, "is_docker", lambda: True)  # discord.py colours there
    stream = io.StringIO()
    setup_logging(settings(), stream)
    logging.getLogger("bot.test").warning("a video failed for %s", KEY)
    text = stream.getvalue()
    assert not COLOUR.search(text), text
    assert re.fullmatch(
        r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[WARNING \] bot\.test: a video failed for \*+\n",
        text,
    )


def test_a_terminal_gets_colours(
    root_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    master, slave = pty.openpty()
    with open(slave, "w", encoding="utf-8", closefd=True) as terminal:
        setup_logging(settings(), terminal)
        logging.getLogger("bot.test").info("hello")
        terminal.flush()
        written = os.read(master, 4096).decode()
    os.close(master)
    assert COLOUR.search(written) and "hello" in written


def test_json_lines_carry_time_level_logger_message_exception_and_the_video(
    root_logger: logging.Logger,
) -> None:
    stream = io.StringIO()
    setup_logging(settings("json"), stream)
    log = logging.getLogger("bot.tracker")
    log.info("tracker started")
    with logcontext.about(Generation()):
        try:
            raise RuntimeError(f"Authorization: Bearer {KEY} and {TOKEN}")
        except RuntimeError:
            log.exception("delivering generation %s failed; trying again", 42)
    log.info("explicit", extra={"generation_id": 7, "guild_id": 8, "user_id": 9})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    plain, failed, explicit = lines
    assert set(plain) == {"time", "level", "logger", "message"}
    assert datetime.fromisoformat(plain["time"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert (plain["level"], plain["logger"], plain["message"]) == (
        "INFO", "bot.tracker", "tracker started",
    )  # fmt: skip
    assert failed["level"] == "ERROR"
    assert (failed["generation"], failed["guild"], failed["member"]) == (
        42, 1200000000000000003, 1200000000000000011,
    )  # fmt: skip
    assert "RuntimeError: Authorization: Bearer ********" in failed["exception"]
    assert (explicit["generation"], explicit["guild"], explicit["member"]) == (7, 8, 9)
    text = stream.getvalue()
    assert KEY not in text and TOKEN not in text and json.dumps(TOKEN)[1:-1] not in text


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


async def test_the_real_bot_logs_json_lines_naming_each_video(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    sim = await start_simulator(cluster, task_seconds=1)
    bot = await start_bot(cluster, discord_api, sim, LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    await wait_ready(discord_api, bot)
    await wait_for(
        lambda: '"message": "logged in as' in bot.proc.stderr(),
        "the line saying the bot is connected",
        discord_api=discord_api,
        bot=bot,
    )
    user = USER_IDS[0]
    await discord_api.send_interaction(video_command(user, "a red kite over a cliff"))
    await wait_for(
        lambda: deliveries(discord_api, user), "the delivery", discord_api=discord_api, bot=bot
    )
    assert await stop_bot(bot) == 0
    lines = [json.loads(line) for line in bot.proc.stderr().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["message"].startswith("logged in as") for line in lines)
    about = [line for line in lines if "generation" in line]
    finished = [line for line in about if re.match(r"generation \d+ completed", line["message"])]
    assert finished, "the tracker's line about the finished video names it"
    for line in about:
        assert line["member"] == user and line["guild"] == 1200000000000000003
    assert not any(COLOUR.search(line["message"]) for line in lines)
    assert_no_secret(bot)
