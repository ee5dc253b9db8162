"""The credit ledger (append-only: every balance is a sum over it), the allowances moderators set
for members and roles, and each server's overrides of the .env limits.

Amounts are REAL in SQLite. Every sum leaves here as a float, converted in this module only, so a
backend that keeps exact numerics (PostgreSQL's numeric) hands back its own type and the credit
rules (bot/credits.py) still see floats. Signs are the ledger's: a reservation or a charge is
negative, a refund or a grant positive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from bot.store.database import Clock, Executor


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    kind: str
    amount: float
    generation_id: int | None
    moderator_id: int | None
    reason: str | None
    created_at: float


@dataclass(frozen=True)
class VideoCharge:
    """What one of a member's videos did to their credits: what its request held (the
    reservation), and what it costs now (what is still held while it is made; its final
    charge once it is over)."""

    generation_id: int
    status: str
    requested_at: float
    held: float
    cost: float


@dataclass(frozen=True)
class LimitOverrides:
    """A server's own limits, as stored: None where the .env value applies. A negative
    default_credits or guild_cap means unlimited (see bot/credits.py)."""

    default_credits: float | None
    period: str | None
    max_running: int | None
    max_queued: int | None
    cooldown: float | None
    guild_cap: float | None


LIMIT_NAMES = tuple(f.name for f in fields(LimitOverrides))


def member_lock(guild_id: int, user_id: int) -> str:
    """The lock on a member's spending and slots (see Ledger.hold_spending)."""
    return f"spending of member {user_id} in server {guild_id}"


class Ledger:
    """The credit tables, on the database (each call commits alone) or in a transaction."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # --- locks: read-then-write steps that must not run side by side ----------------------------

    async def hold_spending(
        self, guild_id: int, user_id: int, *, server: bool = False, bot: bool = False
    ) -> None:
        """In a transaction, before reading what a member may still spend: have the member's
        spending to this transaction (and, with `server`/`bot`, the server's or the bot's under
        its cap) until it ends, so two admissions never both spend the same last credits."""
        names = [member_lock(guild_id, user_id)]
        if server:
            names.append(f"spending of server {guild_id}")
        if bot:
            names.append("spending of the bot")
        await self._db.lock(*names)

    async def hold_generation(self, generation_id: int) -> None:
        """In a transaction, before reading what a generation was charged to change it: two
        settlements of one generation run one after the other."""
        await self._db.lock(f"charges of generation {generation_id}")

    # --- per-server limits -----------------------------------------------------------------------

    async def limit_overrides(self, guild_id: int) -> LimitOverrides | None:
        row = await self._db.fetchone(
            f"SELECT {', '.join(LIMIT_NAMES)} FROM guild_limits WHERE guild_id = ?", guild_id
        )
        return LimitOverrides(*row) if row is not None else None

    async def set_limit_overrides(
        self, guild_id: int, moderator_id: int, changes: Mapping[str, Any]
    ) -> None:
        """Store each change (None clears that override); the server has a row afterwards."""
        unknown = set(changes) - set(LIMIT_NAMES)
        if unknown:  # the names go into the statement: only columns of guild_limits
            raise ValueError(f"unknown limits: {sorted(unknown)}")
        async with self._db.atomic() as db:
            await db.execute(
                """INSERT INTO guild_limits (guild_id, updated_at) VALUES (?, ?)
                   ON CONFLICT (guild_id) DO NOTHING""",
                guild_id, self._clock(),
            )  # fmt: skip
            for name, value in changes.items():
                await db.execute(
                    f"UPDATE guild_limits SET {name} = ?, updated_by = ?, updated_at = ? "
                    "WHERE guild_id = ?",
                    value, moderator_id, self._clock(), guild_id,
                )  # fmt: skip

    async def clear_limit_overrides(self, guild_id: int) -> bool:
        return await self._db.execute("DELETE FROM guild_limits WHERE guild_id = ?", guild_id) > 0

    # --- allowances ------------------------------------------------------------------------------

    async def set_allowance(
        self, guild_id: int, kind: str, target_id: int, credits: float | None, moderator_id: int
    ) -> None:
        """A member's or a role's allowance per period (`kind` "member" or "role"; None:
        unlimited), replacing the one set before."""
        await self._db.execute(
            """INSERT INTO credit_allowances (guild_id, kind, target_id, credits, set_by, set_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (guild_id, kind, target_id) DO UPDATE SET credits = excluded.credits,
                   set_by = excluded.set_by, set_at = excluded.set_at""",
            guild_id, kind, target_id, credits, moderator_id, self._clock(),
        )  # fmt: skip

    async def clear_allowance(self, guild_id: int, kind: str, target_id: int) -> bool:
        changed = await self._db.execute(
            "DELETE FROM credit_allowances WHERE guild_id = ? AND kind = ? AND target_id = ?",
            guild_id, kind, target_id,
        )  # fmt: skip
        return changed > 0

    async def allowances(
        self, guild_id: int, user_id: int, role_ids: Sequence[int]
    ) -> list[tuple[str, float | None]]:
        """(kind, credits) of the member's own allowance and those of the roles given."""
        marks = ",".join("?" for _ in role_ids) or "NULL"
        rows = await self._db.fetchall(
            f"""SELECT kind, credits FROM credit_allowances WHERE guild_id = ?
                  AND ((kind = 'member' AND target_id = ?)
                       OR (kind = 'role' AND target_id IN ({marks})))""",
            guild_id, user_id, *role_ids,
        )  # fmt: skip
        return [(str(row[0]), None if row[1] is None else float(row[1])) for row in rows]

    # --- the ledger ------------------------------------------------------------------------------

    async def append(
        self,
        guild_id: int,
        user_id: int,
        kind: str,
        amount: float,
        *,
        generation_id: int | None = None,
        charged_at: float | None = None,
        moderator_id: int | None = None,
        reason: str | None = None,
    ) -> None:
        """One more row: `kind` reserve, settle, refund (of a generation) or grant, take.
        `charged_at`: when the spending it belongs to happened (default: now)."""
        now = self._clock()
        await self._db.execute(
            """INSERT INTO credit_ledger (guild_id, user_id, generation_id, kind, amount,
                   charged_at, moderator_id, reason, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            guild_id, user_id, generation_id, kind, amount,
            now if charged_at is None else charged_at, moderator_id, reason, now,
        )  # fmt: skip

    async def member_total_since(self, guild_id: int, user_id: int, since: float) -> float:
        """Every change to the member's credits charged since `since`: spending and moderators'
        grants and takes (negative: they have spent more than they were given)."""
        return await self._sum(
            """SELECT COALESCE(SUM(amount), 0) FROM credit_ledger
               WHERE guild_id = ? AND user_id = ? AND charged_at >= ?""",
            guild_id, user_id, since,
        )  # fmt: skip

    async def server_spending_since(self, guild_id: int, since: float) -> float:
        """What videos of the server cost since `since` (negative), grants and takes aside."""
        return await self._sum(
            """SELECT COALESCE(SUM(amount), 0) FROM credit_ledger
               WHERE guild_id = ? AND charged_at >= ?
                 AND kind IN ('reserve', 'settle', 'refund')""",
            guild_id, since,
        )  # fmt: skip

    async def bot_spending_since(self, since: float) -> float:
        """What videos of every server cost since `since` (negative), grants and takes aside."""
        return await self._sum(
            """SELECT COALESCE(SUM(amount), 0) FROM credit_ledger
               WHERE charged_at >= ? AND kind IN ('reserve', 'settle', 'refund')""",
            since,
        )

    async def generation_net(self, generation_id: int) -> tuple[float, float] | None:
        """What the generation costs so far (negative) and when its reservation was charged;
        None when nothing was ever reserved for it."""
        row = await self._db.fetchone(
            """SELECT COALESCE(SUM(amount), 0), MIN(charged_at), COUNT(*) FROM credit_ledger
               WHERE generation_id = ? AND kind IN ('reserve', 'settle', 'refund')""",
            generation_id,
        )
        if row is None or row[2] == 0:
            return None
        return float(row[0]), float(row[1])

    async def member_totals(
        self, guild_id: int, user_id: int, since: float
    ) -> tuple[float, float, float]:
        """In one read, without the write lock: the member's total since `since` (as
        member_total_since), what their requests in progress hold (negative), and what
        moderators granted (positive) or took (negative) since `since`."""
        row = await self._db.fetchone(
            """SELECT
                 (SELECT COALESCE(SUM(amount), 0) FROM credit_ledger
                   WHERE guild_id = ? AND user_id = ? AND charged_at >= ?),
                 (SELECT COALESCE(SUM(l.amount), 0) FROM credit_ledger l
                   JOIN generations g ON g.id = l.generation_id
                   WHERE g.guild_id = ? AND g.user_id = ?
                     AND g.status IN ('queued', 'requested', 'submitted', 'running')),
                 (SELECT COALESCE(SUM(amount), 0) FROM credit_ledger
                   WHERE guild_id = ? AND user_id = ? AND charged_at >= ?
                     AND kind IN ('grant', 'take'))""",
            guild_id, user_id, since, guild_id, user_id, guild_id, user_id, since,
        )  # fmt: skip
        return (float(row[0]), float(row[1]), float(row[2])) if row else (0.0, 0.0, 0.0)

    async def video_charges(self, guild_id: int, user_id: int, limit: int) -> list[VideoCharge]:
        """The member's latest videos that held credits, newest first, each with what it held
        and what it costs (see VideoCharge)."""
        rows = await self._db.fetchall(
            """SELECT g.id, g.status, g.requested_at,
                 (SELECT COALESCE(-SUM(amount), 0) FROM credit_ledger
                   WHERE generation_id = g.id AND kind = 'reserve'),
                 (SELECT COALESCE(-SUM(amount), 0) FROM credit_ledger
                   WHERE generation_id = g.id AND kind IN ('reserve', 'settle', 'refund'))
               FROM generations g
               WHERE g.guild_id = ? AND g.user_id = ?
                 AND EXISTS (SELECT 1 FROM credit_ledger WHERE generation_id = g.id)
               ORDER BY g.requested_at DESC, g.id DESC LIMIT ?""",
            guild_id, user_id, limit,
        )  # fmt: skip
        return [
            VideoCharge(int(r[0]), str(r[1]), float(r[2]), float(r[3]) + 0.0, float(r[4]) + 0.0)
            for r in rows
        ]

    async def recent(
        self, guild_id: int, user_id: int, limit: int, *, adjustments_only: bool = False
    ) -> list[LedgerEntry]:
        """The member's latest rows, newest first (`adjustments_only`: moderators' grants and
        takes only)."""
        kinds = "AND kind IN ('grant', 'take')" if adjustments_only else ""
        rows = await self._db.fetchall(
            f"""SELECT id, kind, amount, generation_id, moderator_id, reason, created_at
               FROM credit_ledger WHERE guild_id = ? AND user_id = ? {kinds}
               ORDER BY id DESC LIMIT ?""",
            guild_id, user_id, limit,
        )  # fmt: skip
        return [
            LedgerEntry(row[0], row[1], float(row[2]), row[3], row[4], row[5], row[6])
            for row in rows
        ]

    async def _sum(self, sql: str, *params: Any) -> float:
        row = await self._db.fetchone(sql, *params)
        return float(row[0]) if row else 0.0
