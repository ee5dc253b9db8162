"""The two storage backends the tests of the database run on, as Red-DiscordBot runs its tests
per storage driver: a test that asks for the `backend` fixture runs twice, `[sqlite]` (a file in
its tmp_path) and `[postgres]` (a database of its own on a real PostgreSQL server).

PostgreSQL: one server for the whole session - TEST_DATABASE_URL (a server where that user may
create databases), or else a throwaway one that .ci/postgres starts and stops - with a template
database holding the schema; each test gets a fresh database cloned from it (CREATE DATABASE ...
TEMPLATE: a few tens of milliseconds) and dropped afterwards. A server that cannot be had fails
the PostgreSQL tests with the reason; they are never skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import subprocess
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.settings import Secret
from bot.store import open_store

BACKENDS = ("sqlite", "postgres")
# what each backend raises when a trigger or a constraint refuses a statement
REFUSED = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)
CI_POSTGRES = Path(__file__).resolve().parents[1] / ".ci" / "postgres"
T = TypeVar("T")


def run_aside(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a loop of its own, in another thread (from sync fixtures
    and from tests, whose own loop stays untouched)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class PostgresServer:
    """The session's server and its template database."""

    def __init__(self, admin_url: str, folder: str | None) -> None:
        self.admin_url = admin_url
        self._folder = folder  # set when this session started the server itself
        self.template = f"evolink_template_{os.getpid()}"
        self._numbers = itertools.count(1)

    @classmethod
    def start(cls) -> PostgresServer:
        """TEST_DATABASE_URL's server, or a throwaway one (RuntimeError saying why not)."""
        given = os.environ.get("TEST_DATABASE_URL", "").strip()
        if given:
            return cls(given, None)
        try:
            done = subprocess.run(
                [str(CI_POSTGRES), "start"], capture_output=True, text=True, timeout=120
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"could not run {CI_POSTGRES}: {exc}") from exc
        if done.returncode != 0:
            raise RuntimeError(
                "no PostgreSQL for the [postgres] tests: TEST_DATABASE_URL is not set and "
                f"{CI_POSTGRES} could not start a server:\n{done.stderr.strip()}"
            )
        url, folder = done.stdout.split()
        return cls(url, folder)

    def stop(self) -> None:
        if self._folder is not None:
            subprocess.run([str(CI_POSTGRES), "stop", self._folder], check=False, timeout=120)

    def url(self, database: str) -> str:
        return with_database(self.admin_url, database)

    async def _admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(self.admin_url, timeout=30)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    def make_template(self) -> None:
        """The template: a database migrated to the current schema, then closed."""

        async def make() -> None:
            await self._admin(
                f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)',
                f'CREATE DATABASE "{self.template}"',
            )
            await (await open_store(self.url(self.template), pool_size=1)).close()

        run_aside(make())

    def drop_template(self) -> None:
        run_aside(self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))

    def fresh_database(self, *, empty: bool = False) -> str:
        """The name of a new database: the template's copy, or (`empty`) one with no schema."""
        name = f"evolink_test_{os.getpid()}_{next(self._numbers)}"
        template = "template0" if empty else self.template
        run_aside(self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return name

    def drop(self, name: str) -> None:
        run_aside(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass(frozen=True)
class Backend:
    """Where one test keeps the bot's database."""

    name: str  # "sqlite" or "postgres"
    path: Path  # the SQLite file (unused by PostgreSQL, as DATABASE_PATH is then)
    url: str | None = None  # the PostgreSQL database's URL

    @property
    def target(self) -> Path | str:
        """What open_store takes."""
        return self.url if self.url is not None else self.path

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    def server_addresses(self) -> set[tuple[str, int]]:
        """(host, port) of the PostgreSQL server, for tests that watch every connection."""
        if self.url is None:
            return set()
        parts = urlsplit(self.url)
        return {(parts.hostname or "localhost", parts.port or 5432)}

    def settings(self) -> dict[str, Any]:
        """Overrides for bot.settings.Settings."""
        return {
            "database_path": self.path,
            "database_url": Secret(self.url) if self.url is not None else None,
        }

    def env(self) -> dict[str, str]:
        """The environment of a bot process (python -m bot)."""
        values = {"DATABASE_PATH": str(self.path)}
        if self.url is not None:
            values["DATABASE_URL"] = self.url
        return values

    def other(self, name: str) -> Backend:
        """A second database of the same backend (a file beside the first, or `name` on the
        same server, which the caller makes)."""
        if self.url is None:
            return Backend(self.name, self.path.with_name(f"{name}.db"))
        return Backend(self.name, self.path, with_database(self.url, name))


def read_rows(target: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of a query, read as another program would (not through the bot's store), from
    synchronous code (a test's wait_until predicate, say)."""

    async def read() -> list[tuple[Any, ...]]:
        store = await open_store(target, pool_size=1)
        try:
            return [tuple(row) for row in await store.fetchall(sql)]
        finally:
            await store.close()

    return run_aside(read())
