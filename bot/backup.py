"""python -m bot.backup PATH: an online backup of the bot's database, safe while it runs;
python -m bot.backup --verify PATH: check a backup before trusting it.

DATABASE_PATH is read as the bot reads it: the environment first, then `.env` in the current
folder. Run it as the user the bot runs as, from the folder the bot is started from.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from dotenv import load_dotenv

from bot.settings import database_path
from bot.store.sqlite_backup import DatabaseReport, backup_database, inspect_database


def backup_target(path: Path, now: datetime) -> Path:
    """PATH itself, or a dated file inside it when PATH is a folder."""
    if path.is_dir():
        return path / f"bot-{now:%Y%m%d-%H%M%S}Z.db"
    return path


def take_backup(target: Path) -> int:
    if os.environ.get("DATABASE_URL", "").strip():
        print(
            "The bot keeps its database in PostgreSQL (DATABASE_URL): back it up with "
            "PostgreSQL's own tools (pg_dump), not with this command, which copies the SQLite "
            "file at DATABASE_PATH.",
            file=sys.stderr,
        )
        return 1
    source = database_path()
    if not source.is_file():
        print(f"There is no database at {source} (DATABASE_PATH) to back up.", file=sys.stderr)
        return 1
    target = backup_target(target, datetime.now(UTC))
    if target.exists():
        print(f"{target} already exists; choose a new name (a backup never overwrites).",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        backup_database(source, target)
    except (OSError, sqlite3.Error) as exc:
        print(f"The backup of {source} to {target} failed: {exc}", file=sys.stderr)
        return 1
    print(f"Backed up {source} to {target}.")
    if verify(target) != 0:
        # this run made it (the name was free, and the copy is created exclusively): a file
        # that fails the check must not be mistaken for a backup later
        target.unlink(missing_ok=True)
        print(f"Removed {target}: it is not a usable backup.", file=sys.stderr)
        return 1
    return 0


def verify(path: Path) -> int:
    if not path.is_file():
        print(f"There is no file at {path}.", file=sys.stderr)
        return 1
    try:
        report = inspect_database(path)
    except sqlite3.Error as exc:
        print(f"{path} cannot be read as the bot's database: {exc}", file=sys.stderr)
        return 1
    print(describe(path, report))
    return 1 if report.problems else 0


def describe(path: Path, report: DatabaseReport) -> str:
    lines = [f"{path}: schema version {report.version}"]
    lines += [f"  {name:<20} {count:>10,} rows" for name, count in report.row_counts.items()]
    if report.problems:
        lines.append("NOT usable as a backup:")
        lines += [f"  - {problem}" for problem in report.problems]
    else:
        lines.append("OK: integrity checked, every table present.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.backup",
        description="Back up the bot's SQLite database while it runs, or check a backup.",
    )
    parser.add_argument("path", type=Path, help="the backup file to write (or a folder for it)")
    parser.add_argument("--verify", action="store_true", help="check PATH instead of writing it")
    args = parser.parse_args(argv)
    load_dotenv(Path.cwd() / ".env")
    return verify(args.path) if args.verify else take_backup(args.path)


if __name__ == "__main__":
    sys.exit(main())
