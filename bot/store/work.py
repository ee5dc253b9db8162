"""The rows each background job works on, claimed by one process at a time.

Every job of the tracker takes its rows here: requests whose create must be repeated, tasks due
for a look, finished videos due for delivery. Taking a row claims it: the row names this process
(`claimed_by`) and until when it works on it (`lease_until`). A row under another process's live
lease is passed over, and so are rows another process is claiming at this very moment (FOR
UPDATE SKIP LOCKED on PostgreSQL; SQLite runs one write at a time), so no row is worked on by
two processes at once, in any number of processes.

The write that records the work done ends its lease (bot/store/generations.py) but keeps the
name: the process that looked at a task last keeps it while it lives (its predictions of the
task, the member's interaction), until the row is `grace` seconds past due; then any process
takes it. A process renews the leases of the work it has in flight (`renew`) and gives its rows
back when it stops (`release_all`); one that dies leaves leases that run out, so its rows are
taken over within one lease.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from bot.store.database import Claimant, Clock, Executor
from bot.store.generations import COLUMNS, Generation

_COLUMNS = ", ".join(COLUMNS)
UNSUBMITTED = "status = 'requested'"
ACTIVE = "status IN ('submitted', 'running')"
POLLED = "status IN ('requested', 'submitted', 'running')"  # rows next_poll_at is for
UNDELIVERED = "delivered_at IS NULL AND status IN ('completed', 'failed', 'expired')"
# the lease ran out before its process wrote the end of the work: the process died (or stalled)
CUT_OFF = "(lease_until IS NOT NULL AND lease_until <= ?)"


class Work:
    """Claims on the generations table, for one process (its Claimant)."""

    def __init__(self, db: Executor, clock: Clock, claimant: Claimant, *, shared: bool) -> None:
        self._db = db
        self._clock = clock
        self._claimant = claimant
        self._shared = shared  # other processes may claim rows of this database

    @property
    def claimant(self) -> Claimant:
        return self._claimant

    # --- taking work -----------------------------------------------------------------------------

    async def unsubmitted(self, now: float, limit: int, *, settle: float) -> list[Generation]:
        """Requests whose create call may or may not have reached EvoLink (a crash, a lost
        answer), due for the same call again; and those whose process died during their create
        (its lease ran out), once that call can no longer be in flight: `settle` seconds after
        it began."""
        return await self._claim(
            f"{UNSUBMITTED} AND (next_poll_at <= ? OR ({CUT_OFF} AND updated_at + ? <= ?))",
            (now, now, settle, now), "next_poll_at", limit, now,
        )  # fmt: skip

    async def polls(
        self, due_by: float, limit: int, *, wanted: Callable[[Generation], bool] | None = None
    ) -> list[Generation]:
        """Running tasks due for a look by `due_by`, soonest first; with `wanted`, only those
        it accepts are claimed (read first, then claimed by id: the rows left for later are
        never written, so a pass that looks ahead costs no writes for them)."""
        now = self._clock()
        if wanted is None:
            return await self._claim(f"{ACTIVE} AND next_poll_at <= ?", (due_by,),
                                     "next_poll_at", limit, now)  # fmt: skip
        claimable, claim_params = self._claimable("next_poll_at", now)
        rows = await self._db.fetchall(
            f"""SELECT {_COLUMNS} FROM generations
               WHERE {ACTIVE} AND next_poll_at <= ? AND {claimable}
               ORDER BY next_poll_at LIMIT ?""",
            due_by, *claim_params, limit,
        )  # fmt: skip
        chosen = [g.id for g in map(Generation.from_row, rows) if wanted(g)]
        if not chosen:
            return []
        by_id, ids = self._db.dialect.in_list("id", chosen)
        return await self._claim(f"{ACTIVE} AND {by_id}", ids, "next_poll_at", limit, now)

    async def deliveries(self, limit: int, *, skip: Collection[int] = ()) -> list[Generation]:
        """Finished rows due for delivery, leaving out `skip` (deliveries in flight here)."""
        now = self._clock()
        not_skipped, ids = self._db.dialect.not_in_list("id", skip)
        return await self._claim(
            f"{UNDELIVERED} AND next_delivery_at <= ? AND {not_skipped}", (now, *ids),
            "next_delivery_at", limit, now,
        )  # fmt: skip

    async def _claim(
        self, where: str, params: tuple[Any, ...], due: str, limit: int, now: float
    ) -> list[Generation]:
        claimable, claim_params = self._claimable(due, now)
        rows = await self._db.fetchall(
            f"""UPDATE generations SET claimed_by = ?, lease_until = ?
               WHERE id IN (SELECT id FROM generations WHERE {where} AND {claimable}
                            ORDER BY {due} LIMIT ? {self._db.dialect.skip_locked()})
               RETURNING {_COLUMNS}""",
            self._claimant.name, now + self._claimant.lease, *params, *claim_params, limit,
        )  # fmt: skip
        found = [Generation.from_row(row) for row in rows]
        return sorted(found, key=lambda g: (getattr(g, due) or 0.0, g.id))

    def _claimable(self, due: str, now: float) -> tuple[str, tuple[Any, ...]]:
        """This process may take the row: it is its own; or it is nobody's; or its process's
        lease ran out before that process wrote the end of its work (it died, or stalled); or
        its process ended its lease and left it `grace` past due (it is gone, or cannot keep
        up)."""
        return (
            f"""(claimed_by = ? OR claimed_by IS NULL OR lease_until <= ?
                 OR (lease_until IS NULL AND {due} <= ?))""",
            (self._claimant.name, now, now - self._claimant.grace),
        )

    # --- when to look for work next --------------------------------------------------------------

    async def next_poll_at(self, *, settle: float) -> float | None:
        """When the next create repeat or look may be taken by this process (`settle`: as for
        `unsubmitted`)."""
        if not self._shared:
            return await self._next("next_poll_at", POLLED)
        dialect = self._db.dialect
        cut_off = dialect.lesser("next_poll_at", dialect.greater("lease_until", "updated_at + ?"))
        due = f"""CASE WHEN {UNSUBMITTED} AND lease_until IS NOT NULL THEN {cut_off}
                      ELSE next_poll_at END"""
        return await self._next(due, POLLED, settle, first=True)

    async def next_delivery_at(self, *, skip: Collection[int] = ()) -> float | None:
        """When the next delivery may be taken by this process, leaving out `skip`."""
        not_skipped, ids = self._db.dialect.not_in_list("id", skip)
        return await self._next("next_delivery_at", f"{UNDELIVERED} AND {not_skipped}", *ids)

    async def _next(self, due: str, where: str, *params: Any, first: bool = False) -> float | None:
        """The earliest `due` of the rows `where` this process may take; `params` fill the `?`
        of `where`, or of `due` (`first`: its own appear before `where`'s)."""
        due_params, where_params = (params, ()) if first else ((), params)
        if not self._shared:  # every row is this process's: the earliest due, off the index
            row = await self._db.fetchone(f"SELECT MIN({due}) FROM generations WHERE {where}",
                                          *due_params, *where_params)  # fmt: skip
        else:  # another's row when it may be taken: `grace` past due, and its lease run out
            later = self._db.dialect.greater(f"({due}) + ?", "COALESCE(lease_until, 0)")
            row = await self._db.fetchone(
                f"""SELECT MIN(CASE WHEN claimed_by IS NULL OR claimed_by = ? THEN {due}
                                    ELSE {later} END)
                   FROM generations WHERE {where}""",
                self._claimant.name, *due_params, *due_params, self._claimant.grace,
                *where_params,
            )  # fmt: skip
        return float(row[0]) if row is not None and row[0] is not None else None

    # --- leases ----------------------------------------------------------------------------------

    async def renew(self) -> int:
        """Extend the lease of every row this process works on (a lease still running). Rows
        being written this moment are passed over, not waited for (that write ends their lease,
        and waiting for it from here could deadlock against it)."""
        now = self._clock()
        return await self._db.execute(
            f"""UPDATE generations SET lease_until = ?
               WHERE id IN (SELECT id FROM generations
                            WHERE claimed_by = ? AND lease_until IS NOT NULL AND lease_until > ?
                            {self._db.dialect.skip_locked()})""",
            now + self._claimant.lease, self._claimant.name, now,
        )  # fmt: skip

    async def release_all(self) -> int:
        """This process stops: every row it holds may be taken at once by another."""
        return await self._db.execute(
            "UPDATE generations SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = ?",
            self._claimant.name,
        )

    async def forget_earlier_runs(self) -> int:
        """On a database only this process uses (SQLite): what an earlier run of the bot
        claimed, it claimed before it stopped; its rows are due as they are."""
        if self._shared:
            raise RuntimeError("another process may hold these claims")
        return await self._db.execute(
            """UPDATE generations SET claimed_by = NULL, lease_until = NULL
               WHERE claimed_by IS NOT NULL AND claimed_by <> ?""",
            self._claimant.name,
        )
