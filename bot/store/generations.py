"""Generations and their lifecycle: a request is stored, submitted (or queued first), polled,
finished and delivered; plus the counts that admission and the task gauges need. (The history
as moderators read it is bot/store/history.py.)

Work is taken in bot/store/work.py (claimed, with a lease) and by `add` and `promote_waiting`
(the process that admits or starts a request claims it). The writes that record a step of the
work end the lease of the process that did it, and keep its name on the row (see work.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from typing import Any

from bot.store.database import Claimant, Clock, Executor, Row

ACTIVE = ("submitted", "running")
FINISHED = ("completed", "failed", "expired")
STATUSES = frozenset(("queued", "requested", *ACTIVE, *FINISHED, "cancelled"))
MAX_ROW_ID = 2**63 - 1  # the largest integer id SQLite (and PostgreSQL's bigint) can hold


@dataclass(frozen=True)
class Generation:
    id: int
    guild_id: int | None
    channel_id: int
    user_id: int
    locale: str | None
    prompt: str
    negative_prompt: str | None
    quality: str | None
    aspect_ratio: str | None
    duration: int | None
    seed: int | None
    prompt_extend: bool | None
    audio_url: str | None
    idempotency_key: str
    task_id: str | None
    status: str
    progress: int
    estimated_seconds: float | None
    credits_reserved: float | None
    credits_used: float | None
    result_url: str | None
    error_code: str | None
    error_message: str | None
    status_message_id: int | None
    next_poll_at: float | None
    poll_count: int
    requested_at: float
    submitted_at: float | None
    finished_at: float | None
    delivered_at: float | None
    delivered_via: str | None
    delivery_message_id: int | None
    delivery_attempts: int
    next_delivery_at: float | None
    updated_at: float
    callback_token: str | None = None
    upload_limit: int | None = None
    delivery_route: str | None = None
    user_name: str | None = None  # as the member was called when they asked
    delivered_file: bool | None = None  # the delivered message carries the video's file

    @classmethod
    def from_row(cls, row: Row) -> Generation:
        values = dict(zip(row.keys(), row, strict=True))
        for flag in ("prompt_extend", "delivered_file"):
            if values[flag] is not None:
                values[flag] = bool(values[flag])
        return cls(**values)


COLUMNS = tuple(f.name for f in fields(Generation))
_COLUMNS = ", ".join(COLUMNS)


@dataclass(frozen=True)
class NewGeneration:
    """What a request brings; the store adds ids, status and timestamps."""

    guild_id: int | None
    channel_id: int
    user_id: int
    locale: str | None
    prompt: str
    negative_prompt: str | None
    quality: str | None
    aspect_ratio: str | None
    duration: int | None
    seed: int | None
    prompt_extend: bool | None
    audio_url: str | None
    idempotency_key: str
    next_poll_at: float
    status: str = "requested"
    callback_token: str | None = None
    upload_limit: int | None = None
    user_name: str | None = None


@dataclass(frozen=True)
class WaitingRequest:
    """A request waiting in the bot's queue (see Generations.queued_in_order)."""

    id: int
    guild_id: int | None
    user_id: int
    running: int  # the member's videos started and not yet finished
    mine: bool = True  # admitted by this process (which shows the member its place)


@dataclass(frozen=True)
class ProgressUpdate:
    """A non-final poll answer to store (see Generations.record_progress_many)."""

    generation_id: int
    status: str
    progress: int
    next_poll_at: float


class Generations:
    """The generations table, on the database (each call commits alone) or in a transaction."""

    def __init__(self, db: Executor, clock: Clock, claimant: Claimant) -> None:
        self._db = db
        self._clock = clock
        self._me = claimant.name
        self._lease = claimant.lease

    # --- creation and submission -----------------------------------------------------------------

    async def add(self, new: NewGeneration) -> Generation:
        """Store the intent before anything is paid for, claimed by this process (a request
        to be created at once: leased while its create is in flight)."""
        now = self._clock()
        values = {f.name: getattr(new, f.name) for f in fields(NewGeneration)}
        values |= {"requested_at": now, "updated_at": now, "claimed_by": self._me}
        values["lease_until"] = now + self._lease if new.status == "requested" else None
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        sql = f"INSERT INTO generations ({names}) VALUES ({marks}) RETURNING {_COLUMNS}"
        row = await self._db.fetchone(sql, *values.values())
        assert row is not None
        return Generation.from_row(row)

    async def get(self, generation_id: int) -> Generation | None:
        if not 0 < generation_id <= MAX_ROW_ID:  # e.g. a forged button id
            return None
        return await self._one(f"SELECT {_COLUMNS} FROM generations WHERE id = ?", generation_id)

    async def by_task_id(self, task_id: str) -> Generation | None:
        return await self._one(f"SELECT {_COLUMNS} FROM generations WHERE task_id = ?", task_id)

    async def mark_submitted(
        self,
        generation_id: int,
        *,
        task_id: str,
        status: str,
        progress: int,
        credits_reserved: float | None,
        estimated_seconds: float | None,
        next_poll_at: float,
    ) -> Generation:
        now = self._clock()
        row_status = "running" if status == "processing" else "submitted"
        generation = await self._one(
            f"""UPDATE generations SET task_id = ?, status = ?, progress = ?,
                   credits_reserved = ?, estimated_seconds = ?, next_poll_at = ?,
                   submitted_at = ?, updated_at = ?, lease_until = NULL
               WHERE id = ? AND status = 'requested' RETURNING {_COLUMNS}""",
            task_id, row_status, progress, credits_reserved, estimated_seconds, next_poll_at,
            now, now, generation_id,
        )  # fmt: skip
        if generation is None:
            raise LookupError(f"generation {generation_id} is not waiting for submission")
        return generation

    async def fail_unsubmitted(
        self, generation_id: int, code: str, message: str, *, member_told: bool
    ) -> Generation | None:
        """No task was made. A member told at once counts as delivered; else delivery tells."""
        now = self._clock()
        return await self._one(
            f"""UPDATE generations SET status = 'failed', error_code = ?, error_message = ?,
                   finished_at = ?, delivered_at = ?, delivered_via = ?, next_poll_at = NULL,
                   next_delivery_at = ?, updated_at = ?, lease_until = NULL,
                   claimed_by = CASE WHEN ? THEN NULL ELSE claimed_by END
               WHERE id = ? AND status = 'requested' RETURNING {_COLUMNS}""",
            code, message, now, now if member_told else None,
            "interaction" if member_told else None, None if member_told else now, now,
            member_told, generation_id,
        )  # fmt: skip

    async def retry_unsubmitted_later(
        self, generation_id: int, at: float, *, counted: bool = True, starting: bool = False
    ) -> None:
        """Repeat the create at `at`; `counted`: this was one of its attempts (an answer lost).
        `starting`: an attempt begins now (its lease runs on while its call is in flight);
        otherwise the attempt is over, and so is the lease."""
        await self._db.execute(
            """UPDATE generations SET next_poll_at = ?, poll_count = poll_count + ?, updated_at = ?,
                   lease_until = CASE WHEN ? THEN lease_until ELSE NULL END
               WHERE id = ? AND status = 'requested'""",
            at, 1 if counted else 0, self._clock(), starting, generation_id,
        )  # fmt: skip

    async def unsubmitted_due_at(self, at: float, settle: float) -> int:
        """Make every `requested` row due once its last create can no longer be in flight:
        `settle` seconds after that attempt began (each attempt's start writes `updated_at`), or
        `at` if that is later. Called at start, before any create; returns how many rows.
        A row another process has under a live lease is its create in flight: left alone."""
        due = self._db.dialect.greater("?", "updated_at + ?")
        return await self._db.execute(
            f"""UPDATE generations SET next_poll_at = {due} WHERE status = 'requested'
                  AND (claimed_by IS NULL OR claimed_by = ? OR lease_until IS NULL
                       OR lease_until <= ?)""",
            at, settle, self._me, at,
        )  # fmt: skip

    async def set_status_message(self, generation_id: int, message_id: int) -> None:
        await self._db.execute(
            "UPDATE generations SET status_message_id = ?, updated_at = ? WHERE id = ?",
            message_id, self._clock(), generation_id,
        )  # fmt: skip

    # --- the queue -------------------------------------------------------------------------------

    async def cancel_queued(self, generation_id: int, user_id: int) -> Generation | None:
        """The requester withdraws one waiting request (told at once, in the interaction)."""
        cancelled = await self._cancel_waiting(
            "id = ? AND user_id = ?", (generation_id, user_id), told_via="interaction"
        )
        return cancelled[0] if cancelled else None

    async def cancel_all_queued(self, guild_id: int, user_id: int) -> list[Generation]:
        """Every request the member still has waiting (e.g. they were banned)."""
        return await self._cancel_waiting(
            "guild_id = ? AND user_id = ?", (guild_id, user_id), told_via="withdrawn"
        )

    async def _cancel_waiting(
        self, where: str, params: tuple[Any, ...], *, told_via: str
    ) -> list[Generation]:
        now = self._clock()
        rows = await self._db.fetchall(
            f"""UPDATE generations SET status = 'cancelled', error_code = 'cancelled',
                   finished_at = ?, delivered_at = ?, delivered_via = ?,
                   next_poll_at = NULL, updated_at = ?, claimed_by = NULL, lease_until = NULL
               WHERE {where} AND status = 'queued' RETURNING {_COLUMNS}""",
            now, now, told_via, now, *params,
        )  # fmt: skip
        return sorted((Generation.from_row(r) for r in rows), key=lambda g: g.id)

    async def queued_of(self, guild_id: int | None, user_id: int) -> list[Generation]:
        return await self._many(
            f"""SELECT {_COLUMNS} FROM generations
               WHERE {self._db.dialect.null_safe_equal("guild_id")} AND user_id = ?
                 AND status = 'queued' ORDER BY id""",
            guild_id, user_id,
        )  # fmt: skip

    async def has_queued(self, guild_id: int | None, user_id: int) -> bool:
        row = await self._db.fetchone(
            f"""SELECT 1 FROM generations WHERE {self._db.dialect.null_safe_equal("guild_id")}
               AND user_id = ? AND status = 'queued' LIMIT 1""",
            guild_id, user_id,
        )  # fmt: skip
        return row is not None

    async def queue_position(self, generation: Generation) -> int | None:
        """1 for the member's next request to start; None once it is no longer waiting."""
        row = await self._db.fetchone(
            """SELECT COUNT(*) FROM generations WHERE guild_id = ? AND user_id = ?
               AND status = 'queued' AND id <= ?
               AND EXISTS (SELECT 1 FROM generations WHERE id = ? AND status = 'queued')""",
            generation.guild_id, generation.user_id, generation.id, generation.id,
        )  # fmt: skip
        position = int(row[0]) if row else 0
        return position or None

    # --- the line of requests waiting for EvoLink (bot/busy_line.py) ------------------------------

    async def queued_in_order(self) -> list[WaitingRequest]:
        """Every waiting request, oldest first, with how many videos its member has started."""
        rows = await self._db.fetchall(
            """SELECT q.id, q.guild_id, q.user_id,
                      (SELECT COUNT(*) FROM generations AS a
                       WHERE a.guild_id = q.guild_id AND a.user_id = q.user_id
                         AND a.status IN ('requested', 'submitted', 'running')) AS running,
                      q.claimed_by
               FROM generations AS q WHERE q.status = 'queued' ORDER BY q.id"""
        )
        return [
            WaitingRequest(int(r[0]), r[1], int(r[2]), int(r[3]), mine=r[4] == self._me)
            for r in rows
        ]

    async def promote_waiting(
        self, generation_id: int, max_running: int, next_poll_at: float
    ) -> Generation | None:
        """Move one waiting request to `requested` (its create is about to be made, by this
        process: claimed), if it is still waiting, is its member's oldest, and the member has a
        free slot; else None. Where processes run side by side, the caller holds the member's
        lock (Ledger.hold_spending), so that two of them cannot both fill the last slot."""
        now = self._clock()
        return await self._one(
            f"""UPDATE generations SET status = 'requested', next_poll_at = ?, updated_at = ?,
                   claimed_by = ?, lease_until = ?
               WHERE id = ? AND status = 'queued'
                 AND id = (SELECT MIN(o.id) FROM generations AS o WHERE o.status = 'queued'
                           AND o.guild_id = generations.guild_id
                           AND o.user_id = generations.user_id)
                 AND (SELECT COUNT(*) FROM generations AS a
                      WHERE a.guild_id = generations.guild_id
                        AND a.user_id = generations.user_id
                        AND a.status IN ('requested', 'submitted', 'running')) < ?
               RETURNING {_COLUMNS}""",
            next_poll_at, now, self._me, now + self._lease, generation_id, max_running,
        )  # fmt: skip

    async def hold_request(self, generation_id: int) -> Generation | None:
        """EvoLink made no task for this request (busy, or not reached): back to waiting, its
        reservation kept. None if it was no longer `requested`."""
        return await self._one(
            f"""UPDATE generations SET status = 'queued', next_poll_at = NULL, updated_at = ?,
                   lease_until = NULL
               WHERE id = ? AND status = 'requested' RETURNING {_COLUMNS}""",
            self._clock(), generation_id,
        )  # fmt: skip

    # --- admission -------------------------------------------------------------------------------

    async def last_requested_at(
        self, guild_id: int, user_id: int, statuses: Sequence[str]
    ) -> float | None:
        """When the member last asked for a video that is now in one of `statuses`."""
        return await self._scalar(
            f"""SELECT MAX(requested_at) FROM generations WHERE guild_id = ? AND user_id = ?
               AND status IN ({", ".join("?" for _ in statuses)})""",
            guild_id, user_id, *statuses,
        )  # fmt: skip

    async def unfinished_counts(self, guild_id: int, user_id: int) -> dict[str, int]:
        """How many of the member's requests are in each unfinished status (absent: none)."""
        rows = await self._db.fetchall(
            """SELECT status, COUNT(*) FROM generations WHERE guild_id = ? AND user_id = ?
               AND status IN ('queued', 'requested', 'submitted', 'running') GROUP BY status""",
            guild_id, user_id,
        )  # fmt: skip
        return {str(row[0]): int(row[1]) for row in rows}

    # --- tracking --------------------------------------------------------------------------------

    async def record_progress(
        self, generation_id: int, *, status: str, progress: int, next_poll_at: float
    ) -> bool:
        """Store a non-final poll answer; False if the row was no longer active."""
        update = ProgressUpdate(generation_id, status, progress, next_poll_at)
        return bool(await self.record_progress_many([update], show=[generation_id]))

    async def record_progress_many(
        self, updates: Sequence[ProgressUpdate], *, show: Collection[int] = ()
    ) -> list[Generation]:
        """Store many non-final poll answers in one transaction, each ending this process's
        lease on its row (an answer to a look whose row another process has taken since is
        dropped). Returns the rows of `show` (those whose change is worth showing) that are
        still active, and this process's, afterwards."""
        now = self._clock()
        rows = [
            ("running" if u.status == "processing" else "submitted", u.progress, u.next_poll_at,
             now, u.generation_id, self._me)
            for u in updates
        ]  # fmt: skip
        dialect = self._db.dialect
        progress = dialect.greater("progress", "?")  # never goes back
        async with self._db.atomic() as db:
            await db.executemany(
                f"""UPDATE generations SET status = ?, progress = {progress},
                       next_poll_at = ?, poll_count = poll_count + 1, updated_at = ?,
                       lease_until = NULL
                   WHERE id = ? AND status IN ('submitted', 'running') AND claimed_by = ?""",
                rows,
            )
            if not show:
                return []
            shown, ids = dialect.in_list("id", show)
            found = await db.fetchall(
                f"""SELECT {_COLUMNS} FROM generations
                   WHERE {shown} AND status IN ('submitted', 'running') AND claimed_by = ?""",
                *ids, self._me,
            )  # fmt: skip
        return [Generation.from_row(row) for row in found]

    async def callback_token(self, generation_id: int) -> str | None:
        """The secret a callback for this generation must carry (one read by primary key)."""
        row = await self._db.fetchone(
            "SELECT callback_token FROM generations WHERE id = ?", generation_id
        )
        return None if row is None else row[0]

    async def poll_soon(self, generation_id: int, at: float) -> bool:
        """Bring an active task's next query forward (a callback said it may be done), for this
        process to make: the row becomes its own, unless another is looking at it right now."""
        soonest = self._db.dialect.lesser("next_poll_at", "?")
        changed = await self._db.execute(
            f"""UPDATE generations SET next_poll_at = {soonest},
                   claimed_by = CASE WHEN lease_until IS NOT NULL AND lease_until > ?
                                THEN claimed_by ELSE ? END
               WHERE id = ? AND status IN ('submitted', 'running')""",
            at, at, self._me, generation_id,
        )  # fmt: skip
        return changed == 1

    async def reschedule_poll(self, generation_id: int, next_poll_at: float) -> None:
        await self.reschedule_polls([generation_id], next_poll_at)

    async def reschedule_polls(self, generation_ids: Sequence[int], next_poll_at: float) -> None:
        async with self._db.atomic() as db:
            await db.executemany(
                """UPDATE generations SET next_poll_at = ?, poll_count = poll_count + 1,
                       lease_until = NULL
                   WHERE id = ? AND status IN ('submitted', 'running') AND claimed_by = ?""",
                [(next_poll_at, generation_id, self._me) for generation_id in generation_ids],
            )

    async def record_finished(
        self,
        generation_id: int,
        *,
        status: str,
        result_url: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        credits_used: float | None = None,
    ) -> Generation | None:
        """Move an active task to its final state once; None if it was already final. The row
        is then this process's, leased: its delivery starts here at once."""
        assert status in FINISHED
        now = self._clock()
        return await self._one(
            f"""UPDATE generations SET status = ?, progress = CASE WHEN ? = 'completed'
                   THEN 100 ELSE progress END, result_url = ?, error_code = ?, error_message = ?,
                   credits_used = COALESCE(?, credits_used), finished_at = ?, next_poll_at = NULL,
                   next_delivery_at = ?, poll_count = poll_count + 1, updated_at = ?,
                   claimed_by = ?, lease_until = ?
               WHERE id = ? AND status IN ('submitted', 'running') RETURNING {_COLUMNS}""",
            status, status, result_url, error_code, error_message, credits_used, now, now, now,
            self._me, now + self._lease, generation_id,
        )  # fmt: skip

    # --- delivery --------------------------------------------------------------------------------

    async def set_delivery_route(self, generation_id: int, route: str | None) -> None:
        await self._db.execute(
            "UPDATE generations SET delivery_route = ? WHERE id = ?", route, generation_id
        )

    async def mark_delivered(
        self, generation_id: int, *, via: str, message_id: int | None, attached: bool | None = None
    ) -> bool:
        """`attached`: whether that message carries the video's file (None: no video in it)."""
        now = self._clock()
        changed = await self._db.execute(
            """UPDATE generations SET delivered_at = ?, delivered_via = ?,
                   delivery_message_id = ?, delivered_file = ?,
                   delivery_attempts = delivery_attempts + 1, next_delivery_at = NULL,
                   updated_at = ?, claimed_by = NULL, lease_until = NULL
               WHERE id = ? AND delivered_at IS NULL""",
            now, via, message_id, None if attached is None else int(attached), now,
            generation_id,
        )  # fmt: skip
        return changed == 1

    async def delivery_failed(self, generation_id: int, *, retry_at: float | None) -> None:
        """Count a failed attempt; with no retry time the delivery is given up (recorded)."""
        now = self._clock()
        via = None if retry_at is not None else "undeliverable"
        await self._db.execute(
            """UPDATE generations SET delivery_attempts = delivery_attempts + 1,
                   next_delivery_at = ?, delivered_via = COALESCE(?, delivered_via),
                   delivered_at = ?, updated_at = ?, lease_until = NULL,
                   claimed_by = CASE WHEN ? THEN NULL ELSE claimed_by END
               WHERE id = ? AND delivered_at IS NULL""",
            retry_at, via, None if via is None else now, now, via is not None, generation_id,
        )  # fmt: skip

    # --- the task gauges -------------------------------------------------------------------------

    async def task_counts(self) -> dict[str, int]:
        """Videos in each unfinished state, and finished ones not yet delivered. Each count walks
        a partial index of unfinished rows only, so it stays cheap however long the history."""
        # named indexes: without statistics the planner would walk a whole-history index instead
        polling, queued, delivery = (
            self._db.dialect.use_index(index)
            for index in ("generations_polling", "generations_queued", "generations_delivery")
        )
        rows = await self._db.fetchall(
            f"""SELECT status, COUNT(*) FROM generations {polling}
               WHERE status IN ('requested', 'submitted', 'running') GROUP BY status
               UNION ALL SELECT 'queued', COUNT(*) FROM generations {queued}
               WHERE status = 'queued'
               UNION ALL SELECT 'undelivered', COUNT(*) FROM generations {delivery}
               WHERE delivered_at IS NULL AND status IN ('completed', 'failed', 'expired')"""
        )
        counts = dict.fromkeys(("queued", "requested", "submitted", "running", "undelivered"), 0)
        counts.update({str(row[0]): int(row[1]) for row in rows})
        return counts

    # --- helpers ---------------------------------------------------------------------------------

    async def _one(self, sql: str, *params: Any) -> Generation | None:
        row = await self._db.fetchone(sql, *params)
        return Generation.from_row(row) if row is not None else None

    async def _many(self, sql: str, *params: Any) -> list[Generation]:
        return [Generation.from_row(row) for row in await self._db.fetchall(sql, *params)]

    async def _scalar(self, sql: str, *params: Any) -> float | None:
        row = await self._db.fetchone(sql, *params)
        return float(row[0]) if row is not None and row[0] is not None else None
