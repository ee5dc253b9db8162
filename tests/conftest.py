"""Shared fixtures: a fake clock, the EvoLink simulator on loopback, the storage backend (each
test that asks for `backend` runs on SQLite and on PostgreSQL: tests/backends.py), and the real
bot on the in-process Discord double (discord_double/)."""

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
from tests.backends import BACKENDS, Backend, PostgresServer

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
    config.addinivalue_line(
        "markers",
        "sqlite_only(reason): the test is about SQLite itself (its file, WAL, its migrations, "
        "its backups): its `backend` is SQLite only",
    )
    config.addinivalue_line("markers", "postgres_only(reason): the test is about PostgreSQL itself")
    config.addinivalue_line(
        "markers", "postgres: the test's `backend` is PostgreSQL (`-m 'not postgres'`)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that asks for `backend` runs once per backend, unless it is `sqlite_only`."""
    if "backend" not in metafunc.fixturenames:
        return
    names = list(BACKENDS)
    for only in ("sqlite", "postgres"):
        marker = metafunc.definition.get_closest_marker(f"{only}_only")
        if marker is None:
            continue
        if not (marker.args and isinstance(marker.args[0], str)):
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: {only}_only needs its reason")
        names = [only]
    params = [
        pytest.param(n, marks=[pytest.mark.postgres] if n == "postgres" else []) for n in names
    ]
    metafunc.parametrize("backend", params, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL (tests/backends.py); a session without one fails every
    [postgres] test with the reason."""
    try:
        server = PostgresServer.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        try:
            server.make_template()
        except Exception as exc:  # OSError, asyncpg's: the server cannot be used
            pytest.fail(
                f"the PostgreSQL for the [postgres] tests cannot be used (TEST_DATABASE_URL or "
                f"the throwaway server): {type(exc).__name__}: {exc}",
                pytrace=False,
            )
        yield server
        server.drop_template()
    finally:
        server.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Where this test keeps the bot's database: a new SQLite file, or a new PostgreSQL
    database cloned from the session's template (dropped after the test)."""
    path = tmp_path / "bot.db"
    if request.param == "sqlite":
        yield Backend("sqlite", path)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.fresh_database()
    try:
        yield Backend("postgres", path, server.url(name))
    finally:
        server.drop(name)


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
        # the pace Discord's global limit sets runs on the real clock; these tests run on a
        # virtual one (the budget is tested on its own: test_request_budget.py, test_claims.py)
        "discord_rate_limit": 100_000.0,
    }
    values.update(overrides)
    return Settings(**values)


BotFactory = Callable[..., VideoBot]


@pytest.fixture
def make_bot(
    tmp_path: Path, simulator: Simulator, clock: FakeClock, backend: Backend
) -> BotFactory:
    """A VideoBot against the simulator whose tracker the test drives with `run_once()`, its
    database on the test's backend."""

    def factory(**overrides: Any) -> VideoBot:
        settings = make_settings(tmp_path, simulator.base_url, **(backend.settings() | overrides))
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
