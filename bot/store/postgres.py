"""The PostgreSQL backend: an asyncpg pool per process, versioned migrations, exact money.

Statements: the purpose modules write `?`; each statement is rewritten once to asyncpg's `$1,
$2, ...` (cached), and the fragments that differ from SQLite are `PostgresDialect`'s.

Transactions run at READ COMMITTED, each on a connection of its own taken from the pool, so a
transaction is never interleaved with another coroutine's statements. Unlike SQLite's, two
transactions do run side by side; where a rule reads and then writes on what it read (an
admission checks a member's limits, then reserves), the transaction first takes the locks the
rule names (`lock`: transaction-scoped advisory locks, keyed by a hash of the name, taken in
order), so two admissions for one member - or for one server under a cap, or for the bot under
its cap - run one after the other, in any number of processes. Updates of a generation's row
also lock that row, so two finishes of one task cannot both settle it.

Money is `numeric`, exact. The rules compute with floats: a float goes in as its shortest
decimal spelling (repr, which reads back as the same float), and every numeric comes out as the
nearest float, so what the rules wrote is what they read; sums are exact decimals before that
one rounding. Timestamps are seconds in double precision, the rules' floats unchanged.

The schema is the numbered files of migrations/postgres/, applied in order, each in one
transaction under an advisory lock (processes starting together migrate once), the version
kept in the table `schema_version`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.store.database import DatabaseTooNew, DatabaseUnwritable, Executor, Row, read_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "postgres"
MIGRATIONS = read_migrations(MIGRATIONS_DIR)
SCHEMES = ("postgresql://", "postgres://")
MIGRATION_LOCK = "schema migrations"

Connection = asyncpg.Connection | PoolConnectionProxy  # one of its own, or the pool's


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(SCHEMES)


_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\?""")


@functools.lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """`sql` with each `?` outside quotes and comments numbered as asyncpg wants ($1, $2...)."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()
        count += 1
        return f"${count}"

    return _TOKENS.sub(number, sql)


def lock_key(name: str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock, the same in every process."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _encode_numeric(value: float | int | Decimal) -> str:
    return repr(value) if isinstance(value, float) else str(value)


async def _prepare(connection: Connection) -> None:
    await connection.set_type_codec(
        "numeric", encoder=_encode_numeric, decoder=float, schema="pg_catalog", format="text"
    )


def _changed(status: str) -> int:
    """The row count of a command tag such as "UPDATE 3" or "INSERT 0 1"."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresDialect:
    """PostgreSQL's spelling of the fragments in bot/store/database.py's Dialect."""

    def in_list(self, column: str, values: Collection[int]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} = ANY(?::bigint[])", (list(values),)

    def not_in_list(self, column: str, values: Collection[int]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} <> ALL(?::bigint[])", (list(values),)

    def greater(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})"  # a NULL is skipped, where SQLite's MAX gives NULL

    def lesser(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})"

    def null_safe_equal(self, column: str) -> str:
        return f"{column} IS NOT DISTINCT FROM ?"

    def contains(self, text: str) -> str:
        return f"strpos({text}, ?) > 0"

    def use_index(self, index: str) -> str:
        return ""  # PostgreSQL keeps statistics: its planner picks the partial indexes itself

    def floor(self, value: str) -> str:
        return f"FLOOR({value})"

    def skip_locked(self) -> str:
        return "FOR UPDATE SKIP LOCKED"

    def now_seconds(self) -> str:
        return "EXTRACT(EPOCH FROM clock_timestamp())::double precision"


DIALECT = PostgresDialect()


class PostgresTransaction:
    """Statements on one connection, inside the transaction the database opened."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def dialect(self) -> PostgresDialect:
        return DIALECT

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        return cast("Row | None", await self._connection.fetchrow(numbered(sql), *params))

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        return cast("list[Row]", await self._connection.fetch(numbered(sql), *params))

    async def execute(self, sql: str, *params: Any) -> int:
        return _changed(await self._connection.execute(numbered(sql), *params))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._connection.executemany(numbered(sql), rows)

    async def lock(self, *names: str) -> None:
        for key in sorted({lock_key(name) for name in names}):
            await self._connection.execute("SELECT pg_advisory_xact_lock($1)", key)

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Executor]:
        yield self  # already inside the transaction


class PostgresDatabase:
    """A pool of connections shared by the whole process (see the module's docstring)."""

    shared = True  # any number of bot processes, each with its pool

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 10) -> PostgresDatabase:
        """Connect (at most `pool_size` connections at once) and bring the schema up to date."""
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=pool_size, init=_prepare, server_settings=_SETTINGS
        )
        database = cls(pool)
        try:
            await database.migrate()
        except BaseException:
            await pool.close()
            raise
        return database

    @property
    def dialect(self) -> PostgresDialect:
        return DIALECT

    async def close(self) -> None:
        await self._pool.close()

    async def migrate(self) -> None:
        async with self._pool.acquire() as connection:
            await migrate(connection)

    async def schema_version(self) -> int:
        async with self._pool.acquire() as connection:
            return await read_version(connection)

    async def check_writable(self) -> None:
        """A transaction that may write, and is given a transaction id (a standby server, or a
        database set read-only, says no)."""
        try:
            async with self.transaction() as tx:
                row = await tx.fetchone(
                    "SELECT current_setting('transaction_read_only'), pg_current_xact_id()"
                )
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,  # a pooled connection the server cut mid-answer
        ) as exc:
            raise DatabaseUnwritable(f"{type(exc).__name__}: {exc}") from exc
        if row is None or row[0] != "off":
            raise DatabaseUnwritable("PostgreSQL allows only reads (transaction_read_only)")

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        return cast("Row | None", await self._pool.fetchrow(numbered(sql), *params))

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        return cast("list[Row]", await self._pool.fetch(numbered(sql), *params))

    async def execute(self, sql: str, *params: Any) -> int:
        return _changed(await self._pool.execute(numbered(sql), *params))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._pool.executemany(numbered(sql), rows)

    async def lock(self, *names: str) -> None:
        raise RuntimeError("locks are held by a transaction: take them in one")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        """BEGIN ... COMMIT on a connection of the pool, rolled back on any error (asyncpg
        also rolls back, or closes the connection, when the caller is cancelled)."""
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresTransaction(connection)

    def atomic(self) -> AbstractAsyncContextManager[Executor]:
        return self.transaction()


# every connection speaks UTC and gives up a statement stuck behind a lock after a minute
_SETTINGS = {"timezone": "UTC", "lock_timeout": "60s"}


async def read_version(connection: Connection) -> int:
    exists = await connection.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    version = await connection.fetchval("SELECT version FROM schema_version")
    return int(version or 0)


async def migrate(connection: Connection) -> None:
    """Apply the migrations this database lacks, each in its own transaction, holding a lock
    that makes processes starting together wait for one another (the later ones find nothing
    to do). Raises DatabaseTooNew, changing nothing, for a newer bot's database."""
    version = await read_version(connection)
    if version > len(MIGRATIONS):
        raise DatabaseTooNew(version, len(MIGRATIONS))
    while version < len(MIGRATIONS):
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", lock_key(MIGRATION_LOCK))
            version = await apply_next_migration(connection)


async def apply_next_migration(connection: Connection) -> int:
    """Inside a transaction holding the migration lock: apply the next migration, if any is
    missing; returns the version the database is at afterwards."""
    await connection.execute(
        """CREATE TABLE IF NOT EXISTS schema_version (
               only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
               version integer NOT NULL)"""
    )
    await connection.execute(
        "INSERT INTO schema_version (version) VALUES (0) ON CONFLICT (only_row) DO NOTHING"
    )
    version = await read_version(connection)
    if version > len(MIGRATIONS):
        raise DatabaseTooNew(version, len(MIGRATIONS))
    if version == len(MIGRATIONS):
        return version
    await connection.execute(MIGRATIONS[version])
    await connection.execute("UPDATE schema_version SET version = $1", version + 1)
    return version + 1


def describe(url: str) -> str:
    """Where `url` points, without its user name or password (for messages and logs)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL at {host}{port}{parts.path or '/'}"


async def check_usable_server(url: str, *, connect_timeout: float = 10.0) -> int:
    """Connect once and read the schema version, changing nothing: raises DatabaseTooNew for a
    newer bot's database, OSError or asyncpg's errors when the server cannot be used. Returns
    the version (0: a new database, which the first start fills)."""
    connection = await asyncpg.connect(url, timeout=connect_timeout)
    try:
        version = await read_version(connection)
        if version > len(MIGRATIONS):
            raise DatabaseTooNew(version, len(MIGRATIONS))
        return version
    finally:
        await connection.close()
