"""The history of generations as moderators and members read it: log pages (newest first, by
keyset, so page 1000 costs what page 1 costs), export batches, one video of a server by task id,
autocomplete suggestions, and a member's count of videos in progress. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.store.database import Executor, Row
from bot.store.generations import COLUMNS, STATUSES, Generation

LogCursor = tuple[float, int]  # (requested_at, id) of the last row read


@dataclass(frozen=True)
class LogFilter:
    """Which of a server's generations to read: a member's, those in some statuses, since."""

    guild_id: int
    user_id: int | None = None
    statuses: tuple[str, ...] | None = None
    since: float | None = None


IN_PROGRESS = ("queued", "requested", "submitted", "running")

_COLUMNS = ", ".join(COLUMNS)


class History:
    """Reads of the generations table, on the database or in a transaction."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def page(self, f: LogFilter, after: LogCursor | None, limit: int) -> list[Generation]:
        """Up to `limit` of the generations `f` picks, newest first, after the cursor `after`."""
        rows = await self._db.fetchall(*_log_query(f, after, limit))
        return [Generation.from_row(r) for r in rows]

    async def export_batch(self, f: LogFilter, after: LogCursor | None, limit: int) -> list[Row]:
        """As `page`, but rows rather than objects (an export of 100,000 videos builds none):
        every column of Generation by name, and from the ledger `held` (what the request
        reserved) and `charged` (what it costs in the end, refunds and moderators' refunds
        counted); both NULL for a request that never held anything."""
        return await self._db.fetchall(*_log_query(f, after, limit, with_charges=True))

    async def by_task_id(self, guild_id: int, task_id: str) -> Generation | None:
        """The server's generation with this EvoLink task id."""
        return await self._one(
            f"SELECT {_COLUMNS} FROM generations WHERE task_id = ? AND guild_id = ?",
            task_id, guild_id,
        )  # fmt: skip

    async def by_id(self, guild_id: int, generation_id: int) -> Generation | None:
        """The server's generation with this number (e.g. one that never got a task id)."""
        return await self._one(
            f"SELECT {_COLUMNS} FROM generations WHERE id = ? AND guild_id = ?",
            generation_id, guild_id,
        )  # fmt: skip

    async def recent_matching(
        self, guild_id: int, needle: str, *, scan: int, limit: int
    ) -> list[Generation]:
        """Of the server's `scan` latest generations, those whose task id or prompt (lowercased)
        contains `needle` (all of them when it is empty), newest first."""
        contains = self._db.dialect.contains
        rows = await self._db.fetchall(
            f"""SELECT {_COLUMNS} FROM (
                   SELECT * FROM generations WHERE guild_id = ?
                   ORDER BY requested_at DESC, id DESC LIMIT ?) AS latest
               WHERE ? = '' OR {contains("lower(COALESCE(task_id, ''))")}
                  OR {contains("lower(prompt)")}
               ORDER BY requested_at DESC, id DESC LIMIT ?""",
            guild_id, scan, needle, needle, needle, limit,
        )  # fmt: skip
        return [Generation.from_row(r) for r in rows]

    async def count_in_progress(self, guild_id: int, user_id: int) -> int:
        """The member's videos waiting or being made."""
        row = await self._db.fetchone(
            f"""SELECT COUNT(*) FROM generations WHERE guild_id = ? AND user_id = ?
               AND status IN ({", ".join("?" for _ in IN_PROGRESS)})""",
            guild_id, user_id, *IN_PROGRESS,
        )  # fmt: skip
        return int(row[0]) if row else 0

    async def _one(self, sql: str, *params: Any) -> Generation | None:
        row = await self._db.fetchone(sql, *params)
        return Generation.from_row(row) if row is not None else None


# What a generation held and what it costs in the end (ledger signs: spending is negative).
_CHARGES = """,
    (SELECT -SUM(amount) FROM credit_ledger
      WHERE generation_id = generations.id AND kind = 'reserve') AS held,
    (SELECT -SUM(amount) FROM credit_ledger
      WHERE generation_id = generations.id AND kind IN ('reserve', 'settle', 'refund'))
      AS charged"""


def _log_query(
    f: LogFilter, after: LogCursor | None, limit: int, *, with_charges: bool = False
) -> tuple[Any, ...]:
    conds: list[str] = ["guild_id = ?"]
    params: list[Any] = [f.guild_id]
    if f.user_id is not None:
        conds.append("user_id = ?")
        params.append(f.user_id)
    if f.statuses:
        # Written as literals, not parameters: only then can SQLite use the small partial index
        # of videos in progress (a parameter list could be anything, so the planner can't).
        unknown = set(f.statuses) - STATUSES
        if unknown:
            raise ValueError(f"unknown statuses: {sorted(unknown)}")
        conds.append(f"status IN ({', '.join(repr(s) for s in f.statuses)})")
    if f.since is not None:
        conds.append("requested_at >= ?")
        params.append(f.since)
    if after is not None:
        conds.append("(requested_at, id) < (?, ?)")
        params.extend(after)
    charges = _CHARGES if with_charges else ""
    sql = f"""SELECT {_COLUMNS}{charges} FROM generations WHERE {" AND ".join(conds)}
              ORDER BY requested_at DESC, id DESC LIMIT ?"""
    return (sql, *params, limit)
