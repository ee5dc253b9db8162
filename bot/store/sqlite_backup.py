"""The SQLite file as a whole, for python -m bot.backup: an online backup, and a read-only check
of a backup (integrity, schema version, tables, rows). Synchronous: it runs as its own command,
not inside the bot."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.store.sqlite import MIGRATIONS, create_private_file


@dataclass(frozen=True)
class DatabaseReport:
    """What python -m bot.backup --verify found in a database file."""

    integrity: list[str]  # ["ok"] when SQLite found nothing wrong
    version: int
    missing_tables: list[str]
    row_counts: dict[str, int]

    @property
    def problems(self) -> list[str]:
        found = [] if self.integrity == ["ok"] else [f"integrity: {p}" for p in self.integrity]
        if not 0 < self.version <= len(MIGRATIONS):
            found.append(f"schema version {self.version} (this bot knows 1 to {len(MIGRATIONS)})")
        found.extend(f"table {name} is missing" for name in self.missing_tables)
        return found


def backup_database(source: Path, target: Path) -> None:
    """Copy the live database to `target` (a new file, owner-only) with SQLite's online backup:
    one consistent snapshot even while the bot writes, saved as a single self-contained file."""
    partial = target.with_name(target.name + ".partial")
    create_private_file(partial, exclusive=True)
    try:
        live = sqlite3.connect(source, timeout=30)
        try:
            copy = sqlite3.connect(partial)
            try:
                live.backup(copy)  # all pages in one step, under one read transaction
                copy.execute("PRAGMA journal_mode = DELETE").fetchone()  # no -wal file beside it
            finally:
                copy.close()
        finally:
            live.close()
        if target.exists():
            raise FileExistsError(f"{target} already exists")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def expected_tables() -> list[str]:
    """The tables a database of this version of the bot has (read from the migrations)."""
    connection = sqlite3.connect(":memory:")
    try:
        for script in MIGRATIONS:
            connection.executescript(script)
        rows = connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        return sorted(str(row[0]) for row in rows)
    finally:
        connection.close()


def inspect_database(path: Path) -> DatabaseReport:
    """Read a database file without changing it: integrity, schema version, tables, rows."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        integrity = [str(row[0]) for row in connection.execute("PRAGMA integrity_check")]
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        present = {
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        }
        counts = {
            name: int(connection.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0])
            for name in expected_tables()
            if name in present
        }
    finally:
        connection.close()
    missing = [name for name in expected_tables() if name not in present]
    return DatabaseReport(integrity, version, missing, counts)
