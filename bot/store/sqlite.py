"""The SQLite backend: one aiosqlite connection in WAL mode, one lock, versioned migrations.

Every statement and every transaction takes the one lock: a transaction is then never
interleaved with another coroutine's statements (on a shared connection those would silently
join it, and vanish with its rollback). Transactions begin IMMEDIATE, taking the write lock at
once. The schema is the numbered files of migrations/sqlite/, applied in order, each in one
transaction, the version kept in `PRAGMA user_version`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.database import (
    DatabaseTooNew,
    DatabaseUnwritable,
    Executor,
    Row,
    read_migrations,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "sqlite"
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
)


MIGRATIONS = read_migrations(MIGRATIONS_DIR)


class SQLiteDialect:
    """SQLite's spelling of the fragments in bot/store/database.py's Dialect."""

    def in_list(self, column: str, values: Collection[int]) -> tuple[str, tuple[Any, ...]]:
        # one parameter however many ids: a JSON array, read back as a table
        return f"{column} IN (SELECT value FROM json_each(?))", (json.dumps(list(values)),)

    def not_in_list(self, column: str, values: Collection[int]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} NOT IN (SELECT value FROM json_each(?))", (json.dumps(list(values)),)

    def greater(self, a: str, b: str) -> str:
        return f"MAX({a}, {b})"

    def lesser(self, a: str, b: str) -> str:
        return f"MIN({a}, {b})"

    def null_safe_equal(self, column: str) -> str:
        return f"{column} IS ?"

    def contains(self, text: str) -> str:
        return f"instr({text}, ?) > 0"

    def use_index(self, index: str) -> str:
        return f"INDEXED BY {index}"

    def floor(self, value: str) -> str:
        return f"CAST({value} AS INTEGER)"  # truncates: the floor of a non-negative number

    def skip_locked(self) -> str:
        return ""  # one write at a time: a claim is one statement, whole or not at all

    def now_seconds(self) -> str:
        return "((julianday('now') - 2440587.5) * 86400.0)"


DIALECT = SQLiteDialect()


class SQLiteTransaction:
    """Statements on the connection, inside the transaction the database opened."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    @property
    def dialect(self) -> SQLiteDialect:
        return DIALECT

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        async with self._connection.execute(sql, params) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        async with self._connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def execute(self, sql: str, *params: Any) -> int:
        async with self._connection.execute(sql, params) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._connection.executemany(sql, rows)

    async def lock(self, *names: str) -> None:
        pass  # SQLite's transactions already run one at a time, holding the write lock

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Executor]:
        yield self  # already inside the transaction


class SQLiteDatabase:
    """One connection shared by the whole process (see the module's docstring)."""

    shared = False  # the file of one process

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self._lock = asyncio.Lock()
        self._tx = SQLiteTransaction(connection)

    @classmethod
    async def open(cls, path: Path | str) -> SQLiteDatabase:
        """Open (or create, owner-only) the database file and bring its schema up to date."""
        path = str(path)
        if path != ":memory:":
            create_private_file(Path(path))
        connection = await aiosqlite.connect(path, isolation_level=None)
        try:
            connection.row_factory = aiosqlite.Row
            async with connection.execute("PRAGMA user_version") as cursor:  # before any change
                row = await cursor.fetchone()
            if row is not None and int(row[0]) > len(MIGRATIONS):
                raise DatabaseTooNew(int(row[0]), len(MIGRATIONS))
            for pragma in PRAGMAS:
                await connection.execute(pragma)
            database = cls(connection)
            await database.migrate()
        except BaseException:
            await connection.close()  # else its thread keeps the process alive
            raise
        return database

    @property
    def dialect(self) -> SQLiteDialect:
        return DIALECT

    async def close(self) -> None:
        async with self._lock:
            await self._connection.close()

    async def migrate(self) -> None:
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise DatabaseTooNew(version, len(MIGRATIONS))
        async with self._lock:
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                await self._connection.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                )

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def check_writable(self) -> None:
        try:
            async with self.transaction():
                pass
        except (OSError, sqlite3.Error, ValueError) as exc:  # ValueError: the connection closed
            raise DatabaseUnwritable(str(exc)) from exc

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        async with self._lock:
            return await self._tx.fetchone(sql, *params)

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        async with self._lock:
            return await self._tx.fetchall(sql, *params)

    async def execute(self, sql: str, *params: Any) -> int:
        async with self._lock:
            return await self._tx.execute(sql, *params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._lock:
            await self._tx.executemany(sql, rows)

    async def lock(self, *names: str) -> None:
        raise RuntimeError("locks are held by a transaction: take them in one")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error. The connection is left out of a
        transaction whatever happens, a cancellation (e.g. a timeout) included: the database
        thread finishes a statement it has started even when its caller stops waiting, so a
        BEGIN abandoned half-way would otherwise open a transaction nobody ends."""
        async with self._lock:
            try:
                await self._to_the_end("BEGIN IMMEDIATE")
            except BaseException:
                if self._connection.in_transaction:
                    await self._to_the_end("ROLLBACK")
                raise
            try:
                yield self._tx
                await self._to_the_end("COMMIT")
            except BaseException:
                if self._connection.in_transaction:
                    await self._to_the_end("ROLLBACK")
                raise

    async def _to_the_end(self, sql: str) -> None:
        """Run a statement, waiting for it even if the caller is cancelled meanwhile (the
        cancellation is passed on once it has finished)."""
        step = asyncio.ensure_future(self._connection.execute(sql))
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await step
            raise

    def atomic(self) -> AbstractAsyncContextManager[Executor]:
        return self.transaction()


def check_usable(path: Path | str, *, prepare: bool = True) -> None:
    """Raise OSError or sqlite3.Error if the bot could not keep its database at `path`: create
    it, read its schema version (DatabaseTooNew for a newer bot's, before anything in the file
    changes), switch it to WAL and take the write lock, synchronously (no worker thread to
    leave). `prepare=False` (python -m bot --check) changes nothing: the file must exist, and is
    only read and locked, never created or switched to WAL."""
    if prepare and str(path) != ":memory:":
        create_private_file(Path(path))
    target = str(path) if str(path) == ":memory:" else f"{Path(path).resolve().as_uri()}?mode=rw"
    connection = sqlite3.connect(target, uri=True, timeout=5)
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise DatabaseTooNew(version, len(MIGRATIONS))
        if prepare:
            connection.execute("PRAGMA journal_mode = WAL").fetchone()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def create_private_file(path: Path, *, exclusive: bool = False) -> None:
    """Create the database file, and any folder missing on its way, for the owner only
    (`exclusive`: a new file, never one that is already there).

    Folders that already exist (/tmp, a mounted volume) are left as they are."""
    missing: list[Path] = []
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with suppress(FileExistsError):  # made meanwhile by someone else
            folder.mkdir(mode=0o700)
    if exclusive:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    elif not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
