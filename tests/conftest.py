"""Shared fixtures: a fake clock, the EvoLink simulator on loopback, and the real bot on the
in-process Discord double (discord_double/)."""

from __future__ import annotations

import logging
import shutil
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from bot.settings import Secret, Settings
from bot.simulator import Simulator
from bot.ui import i18n
from bot.ui.client import VideoBot
from discord_double import FakeDiscord, running_bot

START = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "unknown_message_keys: the test asks bot/ui/i18n.py for keys it lacks on purpose"
    )
    config.addinivalue_line(
        "markers",
        "process: the test runs the real bot in a process of its own (`-m 'not process'`)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.process)


@pytest.fixture(autouse=True)
def every_message_key_exists(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """A key missing from a catalogue shows the member the raw key or the English text: no test
    may reach one (bot/ui/i18n.py logs each)."""
    caplog.set_level(logging.WARNING, logger="bot.ui.i18n")
    yield
    if request.node.get_closest_marker("unknown_message_keys"):
        return
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert [r.getMessage() for r in records if r.name == "bot.ui.i18n"] == []


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    """An installed FakeDiscord, uninstalled after the test. The test fails if the bot sent
    anything over Discord's size limits, even where the bot caught the 400 and went on (a test
    that sends one on purpose clears `fake_discord.refused`)."""
    with FakeDiscord() as fake:
        yield fake
    if fake.refused:
        pytest.fail(
            f"Discord would have refused {len(fake.refused)} request(s):\n{fake.refusals()}"
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raises TimeoutError in the block if it is still running after `seconds`: a bound no
    correct run comes near (not a speed measurement; bench/ measures), so that work that never
    ends fails the test instead of hanging the suite. Python's `re` checks for signals while it
    backtracks, so even a catastrophic regex on the event loop's thread is interrupted."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
async def simulator(clock: FakeClock) -> AsyncIterator[Simulator]:
    sim = Simulator(clock=clock, task_seconds=60, pending_seconds=5)
    await sim.start()
    yield sim
    await sim.stop()


async def no_sleep(seconds: float) -> None:
    return None


def make_settings(tmp_path: Path, base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "discord_token": Secret("fake-discord-token-0123456789"),
        "evolink_api_key": Secret("sk-sim-test-key-0123456789"),
        "evolink_base_url": base_url,
        "database_path": tmp_path / "bot.db",
        "poll_interval": 10.0,
        "task_timeout": 3600.0,
        "http_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


BotFactory = Callable[..., VideoBot]


@pytest.fixture
def make_bot(tmp_path: Path, simulator: Simulator, clock: FakeClock) -> BotFactory:
    """A VideoBot against the simulator whose tracker the test drives with `run_once()`."""

    def factory(**overrides: Any) -> VideoBot:
        settings = make_settings(tmp_path, simulator.base_url, **overrides)
        return VideoBot(settings, clock=clock, evolink_sleep=no_sleep, start_tracker=False)

    return factory


@pytest.fixture
async def bot(fake_discord: FakeDiscord, make_bot: BotFactory) -> AsyncIterator[VideoBot]:
    async with running_bot(make_bot(), fake_discord) as running:
        assert isinstance(running, VideoBot)
        yield running


SpeakFrom = Callable[[Path], None]


@pytest.fixture
def locales_dir(tmp_path: Path) -> Path:
    """A copy of bot/locales/ for a test to change (add a language, break a file)."""
    directory = tmp_path / "locales"
    directory.mkdir()
    for path in i18n.LOCALES_DIR.glob("*.po"):
        shutil.copy(path, directory / path.name)
    return directory


@pytest.fixture
def speak_from() -> Iterator[SpeakFrom]:
    """`speak_from(directory)`: the bot's languages are the catalogues found there, as if the
    bot had started with them; the languages of bot/locales/ are back after the test."""
    before = i18n.catalogues()

    def install(directory: Path) -> None:
        i18n.use_catalogues(i18n.Catalogues.load(directory))

    yield install
    i18n.use_catalogues(before)
