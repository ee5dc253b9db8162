"""Moving a single host to PostgreSQL: every table of an SQLite database copied into an empty
PostgreSQL database, then read back and compared, row by row and column by column.

All of it is one PostgreSQL transaction - the schema, the rows, the identities moved past the
copied ids, the comparison - so a target that is not empty, a row that does not fit, or a
difference found on reading back leaves the target exactly as it was. The SQLite file is only
read (an older schema is brought up to date in a copy in memory, never in the file).

Values cross as they are, except money: SQLite's REAL amounts become numeric through their
shortest decimal spelling, which reads back as the same float (see bot/store/postgres.py).
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from bot.store.database import DatabaseTooNew
from bot.store.postgres import MIGRATION_LOCK, apply_next_migration, lock_key
from bot.store.postgres import MIGRATIONS as POSTGRES_MIGRATIONS
from bot.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS

# every table of the bot, parents first, each with the key its rows are compared in order of
TABLES: dict[str, tuple[str, ...]] = {
    "generations": ("id",),
    "credit_ledger": ("id",),
    "credit_allowances": ("guild_id", "kind", "target_id"),
    "guild_limits": ("guild_id",),
    "guild_config": ("guild_id",),
    "bans": ("guild_id", "user_id"),
    "blocklist": ("id",),
    "audit_log": ("id",),
    "bot_state": ("name",),
}
IDENTITIES = ("generations", "credit_ledger", "blocklist", "audit_log")  # their `id` counts on
BATCH = 4096
BIGINT = (-(2**63), 2**63 - 1)


class CopyRefused(Exception):
    """Why nothing was copied, in a sentence for the owner."""


@dataclass(frozen=True)
class TableCopied:
    name: str
    rows: int
    digest: str  # SHA-256 of every value, in key order: the same on both sides


@dataclass(frozen=True)
class CopyReport:
    source_version: int
    tables: list[TableCopied]

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


# --- values -------------------------------------------------------------------------------------


class DoesNotFit(ValueError):
    pass


def _bigint(value: Any) -> int:
    if isinstance(value, int) and BIGINT[0] <= value <= BIGINT[1]:
        return value
    raise DoesNotFit("not a whole number PostgreSQL's bigint can hold")


def _double(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise DoesNotFit("not a number")


def _numeric(value: Any) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))  # the shortest spelling: it reads back as this float
    raise DoesNotFit("not a finite amount of credits")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise DoesNotFit("not text")
    if "\x00" in value:
        raise DoesNotFit("text with a NUL character, which PostgreSQL cannot store")
    return value


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "bigint": _bigint,
    "double precision": _double,
    "numeric": _numeric,
    "text": _text,
}


def _convert(
    table: str, columns: list[str], types: list[str], row: tuple[Any, ...]
) -> tuple[Any, ...]:
    values: list[Any] = []
    for column, kind, value in zip(columns, types, row, strict=True):
        if value is None:
            values.append(None)
            continue
        try:
            values.append(CONVERTERS[kind](value))
        except DoesNotFit as exc:
            key = ", ".join(f"{k} {row[columns.index(k)]!r}" for k in TABLES[table])
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
            raise CopyRefused(
                f"the row of {table} with {key} does not fit PostgreSQL: its {column} is "
                f"{shown}, {exc} ({kind})."
            ) from exc
    return tuple(values)


# --- the source ---------------------------------------------------------------------------------


def open_source(path: Path) -> tuple[sqlite3.Connection, int]:
    """The SQLite database, read-only, at the current schema (a copy in memory if older), and
    the schema version of the file."""
    if not path.is_file():
        raise CopyRefused(f"there is no database at {path}.")
    source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        version = int(source.execute("PRAGMA user_version").fetchone()[0])
        if version > len(SQLITE_MIGRATIONS):
            raise DatabaseTooNew(version, len(SQLITE_MIGRATIONS))
        if version == 0:
            raise CopyRefused(f"{path} is not the bot's database (it has no schema version).")
        if version == len(SQLITE_MIGRATIONS):
            source.execute("BEGIN")  # one snapshot for the copy and its check
            return source, version
        upgraded = sqlite3.connect(":memory:", isolation_level=None)
        source.backup(upgraded)
        for number, script in enumerate(SQLITE_MIGRATIONS[version:], start=version + 1):
            upgraded.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        source.close()
        return upgraded, version
    except BaseException:
        source.close()
        raise


def _source_rows(
    source: sqlite3.Connection, table: str, columns: list[str]
) -> Iterator[list[tuple[Any, ...]]]:
    names = ", ".join(columns)
    order = ", ".join(TABLES[table])
    cursor = source.execute(f"SELECT {names} FROM {table} ORDER BY {order}")
    while batch := cursor.fetchmany(BATCH):
        yield [tuple(row) for row in batch]


# --- the copy -----------------------------------------------------------------------------------


async def copy_to_postgres(source_path: Path, url: str) -> CopyReport:
    """Copy every table of the SQLite database at `source_path` into the empty PostgreSQL
    database at `url`, then check it; CopyRefused (nothing written) if it cannot be done."""
    try:
        source, version = open_source(source_path)
    except sqlite3.Error as exc:
        raise CopyRefused(f"{source_path} cannot be read as the bot's database: {exc}.") from exc
    try:
        connection = await asyncpg.connect(url, timeout=30)
        try:
            async with connection.transaction():
                tables = await _copy_all(source, connection)
        finally:
            await connection.close()
    except sqlite3.Error as exc:
        raise CopyRefused(f"{source_path} could not be read to the end: {exc}.") from exc
    finally:
        source.close()
    return CopyReport(version, tables)


async def _copy_all(source: sqlite3.Connection, target: asyncpg.Connection) -> list[TableCopied]:
    await target.execute("SELECT pg_advisory_xact_lock($1)", lock_key(MIGRATION_LOCK))
    while await apply_next_migration(target) < len(POSTGRES_MIGRATIONS):
        pass
    await _refuse_rows_there(target)
    copied = []
    for table in TABLES:
        columns, types = await _columns(source, target, table)
        count = 0
        for batch in _source_rows(source, table, columns):
            records = [_convert(table, columns, types, row) for row in batch]
            try:
                await target.copy_records_to_table(table, records=records, columns=columns)
            except asyncpg.PostgresError as exc:
                raise CopyRefused(f"PostgreSQL refused a row of {table}: {exc}") from exc
            count += len(records)
        copied.append(await _compare(source, target, table, columns, types, count))
    for table in IDENTITIES:
        await target.execute(
            f"""SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id))
                FROM {table} HAVING MAX(id) IS NOT NULL"""
        )
    return copied


async def _refuse_rows_there(target: asyncpg.Connection) -> None:
    found = []
    for table in TABLES:
        rows = await target.fetchval(f"SELECT COUNT(*) FROM {table}")
        if rows:
            found.append(f"{table} ({rows:,} rows)")
    if found:
        raise CopyRefused(
            "the PostgreSQL database is not empty: "
            + ", ".join(found)
            + ". Copy into a new, empty database (CREATE DATABASE ...)."
        )


async def _columns(
    source: sqlite3.Connection, target: asyncpg.Connection, table: str
) -> tuple[list[str], list[str]]:
    rows = await target.fetch(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position""",
        table,
    )
    columns = [str(r["column_name"]) for r in rows]
    mine = sorted(str(r[1]) for r in source.execute(f"PRAGMA table_info({table})"))
    if sorted(columns) != mine:
        raise CopyRefused(f"the two schemas differ in {table}: {mine} against {sorted(columns)}.")
    return columns, [str(r["data_type"]) for r in rows]


async def _compare(
    source: sqlite3.Connection,
    target: asyncpg.Connection,
    table: str,
    columns: list[str],
    types: list[str],
    count: int,
) -> TableCopied:
    """Read every row back from PostgreSQL, in key order, and compare each value."""
    names = ", ".join(columns)
    order = ", ".join(TABLES[table])
    digest = hashlib.sha256()
    theirs = target.cursor(f"SELECT {names} FROM {table} ORDER BY {order}", prefetch=BATCH)
    read_back = theirs.__aiter__()
    seen = 0
    for batch in _source_rows(source, table, columns):
        for row in batch:
            expected = _convert(table, columns, types, row)
            try:
                got = tuple(await read_back.__anext__())
            except StopAsyncIteration:
                raise CopyRefused(f"{table} has fewer rows in PostgreSQL than in SQLite.") from None
            if got != expected:
                raise CopyRefused(f"a row of {table} reads back differently: {got} for {expected}.")
            digest.update(repr(expected).encode())
            seen += 1
    try:
        await read_back.__anext__()
        raise CopyRefused(f"{table} has more rows in PostgreSQL than in SQLite.")
    except StopAsyncIteration:
        pass
    assert seen == count
    return TableCopied(table, count, digest.hexdigest())
