"""SQLite storage: one connection, versioned migrations, queries named by what they are for.

The database is the single source of truth: the tracker and the delivery code act only on what
it says, so a restart resumes exactly where the last process stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import aiosqlite

# Each entry moves the schema one version up; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE generations (
        id                  INTEGER PRIMARY KEY,
        guild_id            INTEGER,
        channel_id          INTEGER NOT NULL,
        user_id             INTEGER NOT NULL,
        locale              TEXT,
        prompt              TEXT NOT NULL,
        negative_prompt     TEXT,
        quality             TEXT,
        aspect_ratio        TEXT,
        duration            INTEGER,
        seed                INTEGER,
        prompt_extend       INTEGER,
        audio_url           TEXT,
        idempotency_key     TEXT NOT NULL UNIQUE,
        task_id             TEXT UNIQUE,
        status              TEXT NOT NULL DEFAULT 'requested' CHECK (status IN ('queued',
                            'requested', 'submitted', 'running', 'completed', 'failed', 'expired',
                            'cancelled')),
        progress            INTEGER NOT NULL DEFAULT 0,
        estimated_seconds   REAL,
        credits_reserved    REAL,
        credits_used        REAL,
        result_url          TEXT,
        error_code          TEXT,
        error_message       TEXT,
        status_message_id   INTEGER,
        next_poll_at        REAL,
        poll_count          INTEGER NOT NULL DEFAULT 0,
        requested_at        REAL NOT NULL,
        submitted_at        REAL,
        finished_at         REAL,
        delivered_at        REAL,
        delivered_via       TEXT,
        delivery_message_id INTEGER,
        delivery_attempts   INTEGER NOT NULL DEFAULT 0,
        next_delivery_at    REAL,
        updated_at          REAL NOT NULL
    );
    CREATE INDEX generations_polling ON generations (next_poll_at)
        WHERE status IN ('requested', 'submitted', 'running');
    CREATE INDEX generations_delivery ON generations (next_delivery_at)
        WHERE delivered_at IS NULL AND status IN ('completed', 'failed', 'expired');
    CREATE INDEX generations_guild_time ON generations (guild_id, requested_at);
    CREATE INDEX generations_user_time ON generations (user_id, requested_at);
    """,
    # 2: credits. The ledger is append-only; every balance is a sum over it.
    """
    CREATE TABLE credit_ledger (
        id              INTEGER PRIMARY KEY,
        guild_id        INTEGER NOT NULL,
        user_id         INTEGER NOT NULL,
        generation_id   INTEGER REFERENCES generations (id),
        kind            TEXT NOT NULL
                        CHECK (kind IN ('reserve', 'settle', 'refund', 'grant', 'take')),
        amount          REAL NOT NULL,
        charged_at      REAL NOT NULL,   -- when the spending it belongs to happened
        moderator_id    INTEGER,
        reason          TEXT,
        created_at      REAL NOT NULL
    );
    CREATE INDEX credit_ledger_member ON credit_ledger (guild_id, user_id, charged_at);
    CREATE INDEX credit_ledger_guild ON credit_ledger (guild_id, charged_at);
    CREATE INDEX credit_ledger_time ON credit_ledger (charged_at);
    CREATE INDEX credit_ledger_generation ON credit_ledger (generation_id);
    CREATE TRIGGER credit_ledger_no_update BEFORE UPDATE ON credit_ledger
        BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;
    CREATE TRIGGER credit_ledger_no_delete BEFORE DELETE ON credit_ledger
        BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;

    CREATE TABLE credit_allowances (
        guild_id    INTEGER NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('member', 'role')),
        target_id   INTEGER NOT NULL,
        credits     REAL,            -- NULL: unlimited
        set_by      INTEGER,
        set_at      REAL NOT NULL,
        PRIMARY KEY (guild_id, kind, target_id)
    );

    CREATE TABLE guild_limits (
        guild_id        INTEGER PRIMARY KEY,
        default_credits REAL,        -- NULL: inherit the .env default; negative: unlimited
        period          TEXT,
        max_running     INTEGER,
        max_queued      INTEGER,
        cooldown        REAL,
        guild_cap       REAL,        -- NULL: inherit; negative: no cap
        updated_by      INTEGER,
        updated_at      REAL NOT NULL
    );
    CREATE INDEX generations_member_status ON generations (guild_id, user_id, status);
    CREATE INDEX generations_queued ON generations (guild_id, user_id, id) WHERE status = 'queued';
    """,
    # 3: moderation (bot/moderation.py). The audit log is append-only.
    """
    CREATE TABLE guild_config (
        guild_id        INTEGER PRIMARY KEY,
        log_channel_id  INTEGER,
        updated_by      INTEGER,
        updated_at      REAL NOT NULL
    );
    CREATE TABLE bans (
        guild_id    INTEGER NOT NULL,
        user_id     INTEGER NOT NULL,
        banned_by   INTEGER NOT NULL,
        reason      TEXT,
        banned_at   REAL NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE blocklist (
        id          INTEGER PRIMARY KEY,
        guild_id    INTEGER NOT NULL,
        pattern     TEXT NOT NULL,
        is_regex    INTEGER NOT NULL CHECK (is_regex IN (0, 1)),
        added_by    INTEGER NOT NULL,
        added_at    REAL NOT NULL,
        UNIQUE (guild_id, pattern, is_regex)
    );
    CREATE TABLE audit_log (
        id              INTEGER PRIMARY KEY,
        guild_id        INTEGER NOT NULL,
        moderator_id    INTEGER NOT NULL,
        action          TEXT NOT NULL,
        target_user_id  INTEGER,
        details         TEXT NOT NULL DEFAULT '{}',   -- JSON object
        reason          TEXT,
        created_at      REAL NOT NULL
    );
    CREATE INDEX audit_log_guild ON audit_log (guild_id, id);
    CREATE INDEX audit_log_moderator ON audit_log (guild_id, moderator_id, id);
    CREATE INDEX audit_log_target ON audit_log (guild_id, target_user_id, id);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    -- the /videomod log filters, newest first: by member, by status
    CREATE INDEX generations_guild_user_time ON generations (guild_id, user_id, requested_at);
    CREATE INDEX generations_guild_status_time ON generations (guild_id, status, requested_at);
    """,
    # 4: a per-task secret in the callback URL (a forged call is told apart), and the upload
    # limit of the server the request came from (the finished file is attached if it fits).
    """
    ALTER TABLE generations ADD COLUMN callback_token TEXT;
    ALTER TABLE generations ADD COLUMN upload_limit INTEGER;
    """,
    # 5: found by the benchmark on a million rows: the log filtered to videos in progress, and a
    # member's latest ledger rows, each took a scan of a whole server's (or member's) history.
    """
    CREATE INDEX generations_guild_active ON generations (guild_id, requested_at)
        WHERE status IN ('queued', 'requested', 'submitted', 'running');
    CREATE INDEX generations_member_active ON generations (guild_id, user_id, requested_at)
        WHERE status IN ('queued', 'requested', 'submitted', 'running');
    CREATE INDEX credit_ledger_member_recent ON credit_ledger (guild_id, user_id, id);
    """,
    # 6: the log filtered by member and status walked every row of that status in the server
    # (10 ms on a server of 150,000 videos, growing with it); the same index, one column longer,
    # gives the page in order.
    """
    DROP INDEX generations_member_status;
    CREATE INDEX generations_member_status_time
        ON generations (guild_id, user_id, status, requested_at);
    """,
    # 7: the fallback a delivery is being sent by (follow-up, DM) while it is on its way, so a
    # restart does not post it a second time elsewhere.
    """
    ALTER TABLE generations ADD COLUMN delivery_route TEXT;
    """,
    # 8: the append-only tables also refuse `INSERT OR REPLACE` / `REPLACE INTO` of an existing
    # row: SQLite's REPLACE deletes the old row without firing the delete trigger.
    """
    CREATE TRIGGER credit_ledger_no_replace BEFORE INSERT ON credit_ledger
        WHEN EXISTS (SELECT 1 FROM credit_ledger WHERE id = NEW.id)
        BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;
    CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
        WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
)

ACTIVE = ("submitted", "running")
FINISHED = ("completed", "failed", "expired")


class DatabaseTooNew(Exception):
    """The database was moved forward by a newer version of the bot: migrations only go forward,
    so this version must not touch it."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.known = len(MIGRATIONS)
        super().__init__(
            f"its schema is version {version}, made by a newer version of the bot; this version "
            f"knows versions up to {self.known}"
        )


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

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Generation:
        values = dict(zip(row.keys(), row, strict=True))
        if values["prompt_extend"] is not None:
            values["prompt_extend"] = bool(values["prompt_extend"])
        return cls(**values)


_COLUMNS = ", ".join(f.name for f in fields(Generation))


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


@dataclass(frozen=True)
class ProgressUpdate:
    """A non-final poll answer to store (see Store.record_progress_many)."""

    generation_id: int
    status: str
    progress: int
    next_poll_at: float


Clock = Callable[[], float]
MAX_ROW_ID = 2**63 - 1  # SQLite's largest integer


class Transaction:
    """Statements run inside one `BEGIN IMMEDIATE ... COMMIT` (see Store.transaction)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetchone(self, sql: str, *params: Any) -> aiosqlite.Row | None:
        async with self._db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, *params: Any) -> list[aiosqlite.Row]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def execute(self, sql: str, *params: Any) -> int:
        async with self._db.execute(sql, params) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many rows in a single call to the database thread."""
        await self._db.executemany(sql, rows)


class Store:
    """One connection shared by the whole process.

    Every statement goes through `fetchone`, `fetchall`, `execute` or `transaction()`, which take
    one lock: a transaction is then never interleaved with another coroutine's statements (on a
    shared connection those would silently join it, and vanish with its rollback).
    """

    def __init__(self, db: aiosqlite.Connection, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tx = Transaction(db)

    @property
    def clock(self) -> Clock:
        return self._clock

    @classmethod
    async def open(cls, path: Path | str, clock: Clock = time.time) -> Store:
        path = str(path)
        if path != ":memory:":
            _create_private_file(Path(path))
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            async with db.execute("PRAGMA user_version") as cursor:  # before anything changes
                row = await cursor.fetchone()
            if row is not None and int(row[0]) > len(MIGRATIONS):
                raise DatabaseTooNew(int(row[0]))
            for pragma in (
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA busy_timeout = 5000",
            ):
                await db.execute(pragma)
            store = cls(db, clock)
            await store.migrate()
        except BaseException:
            await db.close()  # else its thread keeps the process alive
            raise
        return store

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    async def migrate(self) -> None:
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise DatabaseTooNew(version)
        async with self._lock:
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                await self._db.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                )

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def fetchone(self, sql: str, *params: Any) -> aiosqlite.Row | None:
        async with self._lock:
            return await self._tx.fetchone(sql, *params)

    async def fetchall(self, sql: str, *params: Any) -> list[aiosqlite.Row]:
        async with self._lock:
            return await self._tx.fetchall(sql, *params)

    async def execute(self, sql: str, *params: Any) -> int:
        """Run one statement; returns the number of rows it changed."""
        async with self._lock:
            return await self._tx.execute(sql, *params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error. The connection is left out of a
        transaction whatever happens, a cancellation (e.g. a timeout) included: the database
        thread finishes a statement it has started even when its caller stops waiting, so a
        BEGIN abandoned half-way would otherwise open a transaction nobody ends."""
        async with self._lock:
            try:
                await self._to_the_end("BEGIN IMMEDIATE")
            except BaseException:
                if self._db.in_transaction:
                    await self._to_the_end("ROLLBACK")
                raise
            try:
                yield self._tx
                await self._to_the_end("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    await self._to_the_end("ROLLBACK")
                raise

    async def _to_the_end(self, sql: str) -> None:
        """Run a statement, waiting for it even if the caller is cancelled meanwhile (the
        cancellation is passed on once it has finished)."""
        step = asyncio.ensure_future(self._db.execute(sql))
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await step
            raise

    # --- generations: creation and submission ------------------------------------------------

    async def add_generation(self, new: NewGeneration, tx: Transaction | None = None) -> Generation:
        """Store the intent before anything is paid for (inside `tx` when one is given)."""
        now = self._clock()
        values = {f.name: getattr(new, f.name) for f in fields(NewGeneration)}
        values |= {"requested_at": now, "updated_at": now}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        sql = f"INSERT INTO generations ({names}) VALUES ({marks}) RETURNING {_COLUMNS}"
        if tx is not None:
            row = await tx.fetchone(sql, *values.values())
        else:
            row = await self.fetchone(sql, *values.values())
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
        tx: Transaction | None = None,
    ) -> Generation:
        now = self._clock()
        row_status = "running" if status == "processing" else "submitted"
        generation = await self._one_in(
            tx,
            f"""UPDATE generations SET task_id = ?, status = ?, progress = ?,
                   credits_reserved = ?, estimated_seconds = ?, next_poll_at = ?,
                   submitted_at = ?, updated_at = ?
               WHERE id = ? AND status = 'requested' RETURNING {_COLUMNS}""",
            task_id, row_status, progress, credits_reserved, estimated_seconds, next_poll_at,
            now, now, generation_id,
        )  # fmt: skip
        if generation is None:
            raise LookupError(f"generation {generation_id} is not waiting for submission")
        return generation

    async def fail_unsubmitted(
        self,
        generation_id: int,
        code: str,
        message: str,
        *,
        member_told: bool,
        tx: Transaction | None = None,
    ) -> Generation | None:
        """No task was made. A member told at once counts as delivered; else delivery tells."""
        now = self._clock()
        return await self._one_in(
            tx,
            f"""UPDATE generations SET status = 'failed', error_code = ?, error_message = ?,
                   finished_at = ?, delivered_at = ?, delivered_via = ?, next_poll_at = NULL,
                   next_delivery_at = ?, updated_at = ?
               WHERE id = ? AND status = 'requested' RETURNING {_COLUMNS}""",
            code, message, now, now if member_told else None,
            "interaction" if member_told else None, None if member_told else now, now,
            generation_id,
        )  # fmt: skip

    async def retry_unsubmitted_later(
        self, generation_id: int, at: float, *, counted: bool = True
    ) -> None:
        """Repeat the create at `at`; `counted`: this was one of its attempts (an answer lost)."""
        await self.execute(
            """UPDATE generations SET next_poll_at = ?, poll_count = poll_count + ?, updated_at = ?
               WHERE id = ? AND status = 'requested'""",
            at, 1 if counted else 0, self._clock(), generation_id,
        )  # fmt: skip

    async def unsubmitted_due_at(self, at: float, settle: float) -> int:
        """Make every `requested` row due once its last create can no longer be in flight:
        `settle` seconds after that attempt began (each attempt's start writes `updated_at`), or
        `at` if that is later. Called at start, before any create; returns how many rows."""
        return await self.execute(
            """UPDATE generations SET next_poll_at = MAX(?, updated_at + ?)
               WHERE status = 'requested'""",
            at, settle,
        )  # fmt: skip

    async def set_status_message(self, generation_id: int, message_id: int) -> None:
        await self.execute(
            "UPDATE generations SET status_message_id = ?, updated_at = ? WHERE id = ?",
            message_id, self._clock(), generation_id,
        )  # fmt: skip

    async def due_unsubmitted(self, now: float, limit: int) -> list[Generation]:
        """Requests whose create call may or may not have reached EvoLink (a crash in between)."""
        return await self._many(
            f"""SELECT {_COLUMNS} FROM generations
               WHERE status = 'requested' AND next_poll_at <= ? ORDER BY next_poll_at LIMIT ?""",
            now, limit,
        )  # fmt: skip

    async def promote_queued(
        self, guild_id: int, user_id: int, max_running: int, next_poll_at: float
    ) -> list[Generation]:
        """Move the member's oldest waiting requests into free slots, as one transaction."""
        async with self.transaction() as tx:
            row = await tx.fetchone(
                """SELECT COUNT(*) FROM generations WHERE guild_id = ? AND user_id = ?
                   AND status IN ('requested', 'submitted', 'running')""",
                guild_id, user_id,
            )  # fmt: skip
            free = max_running - (int(row[0]) if row else 0)
            if free <= 0:
                return []
            rows = await tx.fetchall(
                f"""UPDATE generations SET status = 'requested', next_poll_at = ?, updated_at = ?
                   WHERE id IN (SELECT id FROM generations WHERE guild_id = ? AND user_id = ?
                                AND status = 'queued' ORDER BY id LIMIT ?)
                   RETURNING {_COLUMNS}""",
                next_poll_at, self._clock(), guild_id, user_id, free,
            )  # fmt: skip
        return sorted((Generation.from_row(r) for r in rows), key=lambda g: g.id)

    async def cancel_queued(
        self, generation_id: int, user_id: int, tx: Transaction
    ) -> Generation | None:
        """The requester withdraws one waiting request (told at once, in the interaction)."""
        cancelled = await self._cancel_waiting(
            tx, "id = ? AND user_id = ?", (generation_id, user_id), told_via="interaction"
        )
        return cancelled[0] if cancelled else None

    async def cancel_all_queued(
        self, guild_id: int, user_id: int, tx: Transaction
    ) -> list[Generation]:
        """Every request the member still has waiting (e.g. they were banned)."""
        return await self._cancel_waiting(
            tx, "guild_id = ? AND user_id = ?", (guild_id, user_id), told_via="withdrawn"
        )

    async def _cancel_waiting(
        self, tx: Transaction, where: str, params: tuple[Any, ...], *, told_via: str
    ) -> list[Generation]:
        now = self._clock()
        rows = await tx.fetchall(
            f"""UPDATE generations SET status = 'cancelled', error_code = 'cancelled',
                   finished_at = ?, delivered_at = ?, delivered_via = ?,
                   next_poll_at = NULL, updated_at = ?
               WHERE {where} AND status = 'queued' RETURNING {_COLUMNS}""",
            now, now, told_via, now, *params,
        )  # fmt: skip
        return sorted((Generation.from_row(r) for r in rows), key=lambda g: g.id)

    async def queued_of(self, guild_id: int | None, user_id: int) -> list[Generation]:
        return await self._many(
            f"""SELECT {_COLUMNS} FROM generations
               WHERE guild_id IS ? AND user_id = ? AND status = 'queued' ORDER BY id""",
            guild_id, user_id,
        )  # fmt: skip

    async def has_queued(self, guild_id: int | None, user_id: int) -> bool:
        row = await self.fetchone(
            """SELECT 1 FROM generations WHERE guild_id IS ? AND user_id = ? AND status = 'queued'
               LIMIT 1""",
            guild_id, user_id,
        )  # fmt: skip
        return row is not None

    async def queue_position(self, generation: Generation) -> int | None:
        """1 for the member's next request to start; None once it is no longer waiting."""
        row = await self.fetchone(
            """SELECT COUNT(*) FROM generations WHERE guild_id = ? AND user_id = ?
               AND status = 'queued' AND id <= ?
               AND EXISTS (SELECT 1 FROM generations WHERE id = ? AND status = 'queued')""",
            generation.guild_id, generation.user_id, generation.id, generation.id,
        )  # fmt: skip
        position = int(row[0]) if row else 0
        return position or None

    # --- tracking ------------------------------------------------------------------------------

    async def due_for_poll(self, now: float, limit: int) -> list[Generation]:
        return await self._many(
            f"""SELECT {_COLUMNS} FROM generations
               WHERE status IN ('submitted', 'running') AND next_poll_at <= ?
               ORDER BY next_poll_at LIMIT ?""",
            now, limit,
        )  # fmt: skip

    async def next_poll_at(self) -> float | None:
        return await self._scalar(
            """SELECT MIN(next_poll_at) FROM generations
               WHERE status IN ('requested', 'submitted', 'running')"""
        )

    async def record_progress(
        self, generation_id: int, *, status: str, progress: int, next_poll_at: float
    ) -> bool:
        """Store a non-final poll answer; False if the row was no longer active."""
        update = ProgressUpdate(generation_id, status, progress, next_poll_at)
        return bool(await self.record_progress_many([update], show=[generation_id]))

    async def record_progress_many(
        self, updates: Sequence[ProgressUpdate], *, show: Collection[int] = ()
    ) -> list[Generation]:
        """Store many non-final poll answers in one transaction. Returns the rows of `show`
        (those whose change is worth showing) that are still active afterwards."""
        now = self._clock()
        rows = [
            ("running" if u.status == "processing" else "submitted", u.progress, u.next_poll_at,
             now, u.generation_id)
            for u in updates
        ]  # fmt: skip
        async with self.transaction() as tx:
            await tx.executemany(
                """UPDATE generations SET status = ?, progress = MAX(progress, ?),
                       next_poll_at = ?, poll_count = poll_count + 1, updated_at = ?
                   WHERE id = ? AND status IN ('submitted', 'running')""",
                rows,
            )
            if not show:
                return []
            found = await tx.fetchall(
                f"""SELECT {_COLUMNS} FROM generations
                   WHERE id IN (SELECT value FROM json_each(?))
                     AND status IN ('submitted', 'running')""",
                json.dumps(list(show)),
            )
        return [Generation.from_row(row) for row in found]

    async def callback_token(self, generation_id: int) -> str | None:
        """The secret a callback for this generation must carry (one read by primary key)."""
        row = await self.fetchone(
            "SELECT callback_token FROM generations WHERE id = ?", generation_id
        )
        return None if row is None else row[0]

    async def poll_soon(self, generation_id: int, at: float) -> bool:
        """Bring an active task's next query forward (a callback said it may be done)."""
        changed = await self.execute(
            """UPDATE generations SET next_poll_at = MIN(next_poll_at, ?)
               WHERE id = ? AND status IN ('submitted', 'running')""",
            at, generation_id,
        )  # fmt: skip
        return changed == 1

    async def reschedule_poll(self, generation_id: int, next_poll_at: float) -> None:
        await self.reschedule_polls([generation_id], next_poll_at)

    async def reschedule_polls(self, generation_ids: Sequence[int], next_poll_at: float) -> None:
        async with self.transaction() as tx:
            await tx.executemany(
                """UPDATE generations SET next_poll_at = ?, poll_count = poll_count + 1
                   WHERE id = ? AND status IN ('submitted', 'running')""",
                [(next_poll_at, generation_id) for generation_id in generation_ids],
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
        tx: Transaction | None = None,
    ) -> Generation | None:
        """Move an active task to its final state once; None if it was already final."""
        assert status in FINISHED
        now = self._clock()
        return await self._one_in(
            tx,
            f"""UPDATE generations SET status = ?, progress = CASE WHEN ? = 'completed'
                   THEN 100 ELSE progress END, result_url = ?, error_code = ?, error_message = ?,
                   credits_used = COALESCE(?, credits_used), finished_at = ?, next_poll_at = NULL,
                   next_delivery_at = ?, poll_count = poll_count + 1, updated_at = ?
               WHERE id = ? AND status IN ('submitted', 'running') RETURNING {_COLUMNS}""",
            status, status, result_url, error_code, error_message, credits_used, now, now, now,
            generation_id,
        )  # fmt: skip

    # --- delivery ------------------------------------------------------------------------------

    async def due_for_delivery(
        self, now: float, limit: int, *, skip: Collection[int] = ()
    ) -> list[Generation]:
        """Finished rows waiting to be delivered, leaving out `skip` (deliveries in flight)."""
        return await self._many(
            f"""SELECT {_COLUMNS} FROM generations
               WHERE delivered_at IS NULL AND status IN ('completed', 'failed', 'expired')
                 AND next_delivery_at <= ? AND id NOT IN (SELECT value FROM json_each(?))
               ORDER BY next_delivery_at LIMIT ?""",
            now, json.dumps(list(skip)), limit,
        )  # fmt: skip

    async def next_delivery_at(self, *, skip: Collection[int] = ()) -> float | None:
        return await self._scalar(
            """SELECT MIN(next_delivery_at) FROM generations
               WHERE delivered_at IS NULL AND status IN ('completed', 'failed', 'expired')
                 AND id NOT IN (SELECT value FROM json_each(?))""",
            json.dumps(list(skip)),
        )

    async def set_delivery_route(self, generation_id: int, route: str | None) -> None:
        await self.execute(
            "UPDATE generations SET delivery_route = ? WHERE id = ?", route, generation_id
        )

    async def mark_delivered(self, generation_id: int, *, via: str, message_id: int | None) -> bool:
        now = self._clock()
        changed = await self.execute(
            """UPDATE generations SET delivered_at = ?, delivered_via = ?,
                   delivery_message_id = ?, delivery_attempts = delivery_attempts + 1,
                   next_delivery_at = NULL, updated_at = ?
               WHERE id = ? AND delivered_at IS NULL""",
            now, via, message_id, now, generation_id,
        )  # fmt: skip
        return changed == 1

    async def delivery_failed(self, generation_id: int, *, retry_at: float | None) -> None:
        """Count a failed attempt; with no retry time the delivery is given up (recorded)."""
        now = self._clock()
        via = None if retry_at is not None else "undeliverable"
        await self.execute(
            """UPDATE generations SET delivery_attempts = delivery_attempts + 1,
                   next_delivery_at = ?, delivered_via = COALESCE(?, delivered_via),
                   delivered_at = CASE WHEN ? IS NULL THEN NULL ELSE ? END, updated_at = ?
               WHERE id = ? AND delivered_at IS NULL""",
            retry_at, via, via, now, now, generation_id,
        )  # fmt: skip

    # --- operations: health and metrics ---------------------------------------------------------

    async def check_writable(self) -> None:
        """Take and release the write lock: raises if the database cannot be written now."""
        async with self.transaction():
            pass

    async def task_counts(self) -> dict[str, int]:
        """Videos in each unfinished state, and finished ones not yet delivered. Each count walks
        a partial index of unfinished rows only, so it stays cheap however long the history."""
        # INDEXED BY: without statistics the planner would walk a whole-history index instead
        rows = await self.fetchall(
            """SELECT status, COUNT(*) FROM generations INDEXED BY generations_polling
               WHERE status IN ('requested', 'submitted', 'running') GROUP BY status
               UNION ALL SELECT 'queued', COUNT(*) FROM generations INDEXED BY generations_queued
               WHERE status = 'queued'
               UNION ALL SELECT 'undelivered', COUNT(*) FROM generations
               INDEXED BY generations_delivery
               WHERE delivered_at IS NULL AND status IN ('completed', 'failed', 'expired')"""
        )
        counts = dict.fromkeys(("queued", "requested", "submitted", "running", "undelivered"), 0)
        counts.update({str(row[0]): int(row[1]) for row in rows})
        return counts

    # --- helpers -------------------------------------------------------------------------------

    async def _one(self, sql: str, *params: Any) -> Generation | None:
        row = await self.fetchone(sql, *params)
        return Generation.from_row(row) if row is not None else None

    async def _one_in(self, tx: Transaction | None, sql: str, *params: Any) -> Generation | None:
        row = await (tx.fetchone(sql, *params) if tx else self.fetchone(sql, *params))
        return Generation.from_row(row) if row is not None else None

    async def _many(self, sql: str, *params: Any) -> list[Generation]:
        return [Generation.from_row(row) for row in await self.fetchall(sql, *params)]

    async def _scalar(self, sql: str, *params: Any) -> float | None:
        row = await self.fetchone(sql, *params)
        return float(row[0]) if row is not None and row[0] is not None else None


def check_usable(path: Path | str, *, prepare: bool = True) -> None:
    """Raise OSError or sqlite3.Error if the bot could not keep its database at `path`: create
    it, read its schema version (DatabaseTooNew for a newer bot's, before anything in the file
    changes), switch it to WAL and take the write lock, synchronously (no worker thread to
    leave). `prepare=False` (python -m bot --check) changes nothing: the file must exist, and is
    only read and locked, never created or switched to WAL."""
    if prepare and str(path) != ":memory:":
        _create_private_file(Path(path))
    target = str(path) if str(path) == ":memory:" else f"{Path(path).resolve().as_uri()}?mode=rw"
    connection = sqlite3.connect(target, uri=True, timeout=5)
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise DatabaseTooNew(version)
        if prepare:
            connection.execute("PRAGMA journal_mode = WAL").fetchone()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    finally:
        connection.close()


# --- backups ------------------------------------------------------------------------------------


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
    _create_private_file(partial, exclusive=True)
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


def _create_private_file(path: Path, *, exclusive: bool = False) -> None:
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
