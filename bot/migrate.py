"""python -m bot.migrate --to postgresql://...: move a single host's SQLite database into an
empty PostgreSQL database, every table, checked row by row; nothing is written unless all of
it is copied and reads back the same (bot/store/copy_to_postgres.py).

The SQLite file is DATABASE_PATH, read as the bot reads it (the environment first, then `.env`
in the current folder), or --from PATH. Stop the bot first: what it writes after the copy has
begun would not be copied. The file is only read; keep it as a backup.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import asyncpg
from dotenv import load_dotenv

from bot.settings import database_path
from bot.store import DatabaseTooNew, is_postgres_url
from bot.store.copy_to_postgres import CopyRefused, CopyReport, copy_to_postgres
from bot.store.postgres import describe
from bot.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS


def report_text(source: Path, where: str, report: CopyReport) -> str:
    lines = [f"Copied {source} (schema version {report.source_version}) into {where}:"]
    if report.source_version < len(SQLITE_MIGRATIONS):
        lines.append(
            f"  (its rows as schema version {len(SQLITE_MIGRATIONS)} has them; the file itself "
            "was not changed)"
        )
    lines += [f"  {t.name:<18} {t.rows:>10,} rows  sha256 {t.digest[:16]}" for t in report.tables]
    lines.append(
        f"Done: {report.rows:,} rows in {len(report.tables)} tables, each read back from "
        "PostgreSQL and compared column by column."
    )
    lines.append(
        "Next: set DATABASE_URL to this database in .env and start the bot; keep "
        f"{source} as a backup (the bot no longer uses it)."
    )
    return "\n".join(lines)


def run(source: Path, url: str) -> int:
    where = describe(url)
    try:
        report = asyncio.run(copy_to_postgres(source, url))
    except CopyRefused as exc:
        print(f"Nothing was copied: {exc} Nothing was written to {where}.", file=sys.stderr)
        return 1
    except DatabaseTooNew as exc:
        print(f"Nothing was copied: a database of a newer bot ({exc}).", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(
            f"Nothing was copied: {type(exc).__name__}: {exc}. Nothing was written to {where}.",
            file=sys.stderr,
        )
        return 1
    print(report_text(source, where, report))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.migrate",
        description="Copy the bot's SQLite database into an empty PostgreSQL database, checked "
        "row by row. Stop the bot first.",
    )
    parser.add_argument(
        "--to", required=True, metavar="URL", help="the PostgreSQL database: postgresql://..."
    )
    parser.add_argument(
        "--from", dest="source", type=Path, metavar="PATH",
        help="the SQLite file (default: DATABASE_PATH)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not is_postgres_url(args.to):
        parser.error("--to must be a postgresql:// URL")
    load_dotenv(Path.cwd() / ".env")
    return run(args.source or database_path(), args.to)


if __name__ == "__main__":
    sys.exit(main())
