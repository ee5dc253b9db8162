"""Storage by purpose, over one backend: every SQL statement of the bot lives in this package.

The database is the single source of truth: the tracker and the delivery code act only on what
it says, so a restart resumes exactly where the last process stopped.

    database.py       the backend seam: what a database must provide (a second one implements it)
    sqlite.py         the SQLite backend: one connection, WAL, migrations by PRAGMA user_version
    postgres.py       the PostgreSQL backend: a pool, row locks, exact money, a schema_version table
    sqlite_backup.py  online backup and read-only inspection of the SQLite file (bot/backup.py)
    generations.py    generations and their lifecycle: submit, queue, poll, finish, deliver
    history.py        the generations as moderators read them: log pages, export, autocomplete
    work.py           the rows each background job works on, claimed by one process at a time
    shared.py         what the processes agree on: pauses, notices, Discord's request budget
    ledger.py         the credit ledger, allowances, per-server limits
    moderation.py     bans, blocklist entries, the audit log, server settings (guild_config)
    bot_state.py      what the bot remembers between starts (e.g. where its commands are)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.store.bot_state import BotState
from bot.store.database import (
    Claimant,
    Clock,
    Database,
    DatabaseTooNew,
    DatabaseUnwritable,
    Executor,
    Row,
)
from bot.store.generations import (
    Generation,
    Generations,
    NewGeneration,
    ProgressUpdate,
    WaitingRequest,
)
from bot.store.history import History, LogCursor, LogFilter
from bot.store.ledger import Ledger, LedgerEntry, LimitOverrides, VideoCharge
from bot.store.moderation import AuditEntry, Ban, BlocklistRow, ModerationRecords
from bot.store.postgres import PostgresDatabase, is_postgres_url
from bot.store.shared import SharedState
from bot.store.sqlite import MIGRATIONS, MIGRATIONS_DIR, SQLiteDatabase, check_usable
from bot.store.work import Work

__all__ = [
    "MIGRATIONS",
    "MIGRATIONS_DIR",
    "AuditEntry",
    "Ban",
    "BlocklistRow",
    "Claimant",
    "Clock",
    "DatabaseTooNew",
    "DatabaseUnwritable",
    "Generation",
    "LedgerEntry",
    "LimitOverrides",
    "LogCursor",
    "LogFilter",
    "NewGeneration",
    "ProgressUpdate",
    "Row",
    "Store",
    "Transaction",
    "VideoCharge",
    "WaitingRequest",
    "Work",
    "check_usable",
    "is_postgres_url",
    "open_store",
]


class Transaction:
    """Statements that commit together (see Store.transaction), by purpose.

    `fetchone`, `fetchall` and `execute` run any statement in the transaction: like the Store's,
    they are for tests and tools; the bot's own modules call the purpose methods."""

    def __init__(self, executor: Executor, clock: Clock, claimant: Claimant) -> None:
        self._executor = executor
        self.generations = Generations(executor, clock, claimant)
        self.history = History(executor)
        self.ledger = Ledger(executor, clock)
        self.moderation = ModerationRecords(executor, clock)
        self.state = BotState(executor)

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        return await self._executor.fetchone(sql, *params)

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        return await self._executor.fetchall(sql, *params)

    async def execute(self, sql: str, *params: Any) -> int:
        """Run one statement; returns the number of rows it changed."""
        return await self._executor.execute(sql, *params)


class Store:
    """The bot's storage, by purpose, over one backend (bot/store/database.py).

    `fetchone`, `fetchall` and `execute` run any statement: they are for tests and tools
    (bench/); the bot's own modules call the methods named for what they do.
    """

    def __init__(
        self, db: Database, clock: Clock = time.time, claimant: Claimant | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._claimant = claimant or Claimant.new()
        self.generations = Generations(db, clock, self._claimant)
        self.work = Work(db, clock, self._claimant, shared=db.shared)
        self.shared = SharedState(db, clock)
        self.history = History(db)
        self.ledger = Ledger(db, clock)
        self.moderation = ModerationRecords(db, clock)
        self.state = BotState(db)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def is_shared(self) -> bool:
        """Several bot processes may use this database at once (PostgreSQL)."""
        return self._db.shared

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        return await self._db.schema_version()

    async def check_writable(self) -> None:
        """Take and release the write lock: raises DatabaseUnwritable if the database cannot be
        written now."""
        await self._db.check_writable()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Statements that commit together or not at all (see Database.transaction)."""
        async with self._db.transaction() as executor:
            yield Transaction(executor, self._clock, self._claimant)

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        return await self._db.fetchone(sql, *params)

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        return await self._db.fetchall(sql, *params)

    async def execute(self, sql: str, *params: Any) -> int:
        """Run one statement; returns the number of rows it changed."""
        return await self._db.execute(sql, *params)


DEFAULT_POOL_SIZE = 10


async def open_store(
    target: Path | str,
    clock: Clock = time.time,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    claimant: Claimant | None = None,
) -> Store:
    """Open the bot's database, its schema brought up to date: a `postgresql://` URL (at most
    `pool_size` connections), else the SQLite file at that path (created owner-only if new).
    `claimant`: this process, as it claims work (default: a new name, the default lease)."""
    if is_postgres_url(target):
        database: Database = await PostgresDatabase.open(str(target), pool_size=pool_size)
    else:
        database = await SQLiteDatabase.open(target)
    return Store(database, clock, claimant)
