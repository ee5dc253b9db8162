"""Storage: schema, migrations, file permissions, and the state transitions the tracker uses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from bot.store import MIGRATIONS, DatabaseTooNew, NewGeneration, ProgressUpdate, Store, open_store
from bot.store.generations import Generations
from bot.store.postgres import MIGRATIONS as POSTGRES_MIGRATIONS
from bot.store.work import Work
from tests.backends import REFUSED, Backend, PostgresServer


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def new(user_id: int = 7, key: str = "key-1") -> NewGeneration:
    return NewGeneration(
        guild_id=1, channel_id=2, user_id=user_id, locale="en-US", prompt="a cat",
        negative_prompt=None, quality="1080p", aspect_ratio="1:1", duration=4, seed=9,
        prompt_extend=True, audio_url=None, idempotency_key=key, next_poll_at=1_000_060.0,
    )  # fmt: skip


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[tuple[Store, FakeClock]]:
    clock = FakeClock()
    s = await open_store(backend.target, clock=clock)
    yield s, clock
    await s.close()


@pytest.fixture
def generations(store: tuple[Store, FakeClock]) -> tuple[Generations, FakeClock]:
    s, clock = store
    return s.generations, clock


@pytest.fixture
def work(store: tuple[Store, FakeClock]) -> Work:
    return store[0].work


@pytest.mark.sqlite_only("the file's permissions and its WAL journal")
async def test_database_is_private_wal_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "data" / "bot.db"
    s = await open_store(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert await s.schema_version() == len(MIGRATIONS)
    row = await s.fetchone("PRAGMA journal_mode")
    assert row is not None and row[0] == "wal"
    await s.close()
    again = await open_store(path)  # re-opening applies nothing twice
    assert await again.schema_version() == len(MIGRATIONS)
    await again.close()


@pytest.mark.sqlite_only("folders made for the database file")
async def test_folders_the_bot_creates_are_owner_only_and_existing_ones_untouched(
    tmp_path: Path,
) -> None:
    os.chmod(tmp_path, 0o755)  # an existing folder, like /tmp or a mounted volume
    path = tmp_path / "data" / "nested" / "bot.db"
    s = await open_store(path)
    await s.close()
    assert stat.S_IMODE(os.stat(tmp_path / "data").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "data" / "nested").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755


async def test_a_row_keeps_every_request_parameter(
    generations: tuple[Generations, FakeClock],
) -> None:
    s, clock = generations
    g = await s.add(new())
    assert (g.status, g.guild_id, g.channel_id, g.user_id) == ("requested", 1, 2, 7)
    assert (g.quality, g.aspect_ratio, g.duration, g.seed, g.prompt_extend) == (
        "1080p",
        "1:1",
        4,
        9,
        True,
    )
    assert g.requested_at == clock.now and g.task_id is None


async def test_lifecycle_submitted_running_completed_delivered(
    generations: tuple[Generations, FakeClock],
    work: Work,
) -> None:
    s, clock = generations
    g = await s.add(new())
    clock.now += 1
    g = await s.mark_submitted(
        g.id, task_id="task-1", status="pending", progress=0, credits_reserved=8.0,
        estimated_seconds=120, next_poll_at=clock.now + 10,
    )  # fmt: skip
    assert (g.status, g.task_id, g.credits_reserved, g.submitted_at) == (
        "submitted",
        "task-1",
        8.0,
        clock.now,
    )
    with pytest.raises(LookupError):  # a second submission of the same row is refused
        await s.mark_submitted(
            g.id, task_id="task-2", status="pending", progress=0, credits_reserved=8.0,
            estimated_seconds=120, next_poll_at=0,
        )  # fmt: skip
    assert await work.polls(clock.now, 10) == []
    clock.now += 10
    assert [d.id for d in await work.polls(clock.now, 10)] == [g.id]
    assert await s.record_progress(g.id, status="processing", progress=40, next_poll_at=clock.now)
    assert await s.record_progress(g.id, status="processing", progress=30, next_poll_at=clock.now)
    assert (await s.get(g.id)).progress == 40  # type: ignore[union-attr]  # never goes back
    done = await s.record_finished(g.id, status="completed", result_url="https://v/x.mp4")
    assert done is not None and done.progress == 100 and done.finished_at == clock.now
    assert await s.record_finished(g.id, status="failed") is None  # final only once
    assert [d.id for d in await work.deliveries(10)] == [g.id]
    assert await work.deliveries(10, skip={g.id}) == []  # in flight already
    assert await work.next_delivery_at(skip=[g.id]) is None
    assert await s.mark_delivered(g.id, via="channel", message_id=55)
    assert not await s.mark_delivered(g.id, via="dm", message_id=56)  # delivered only once
    final = await s.get(g.id)
    assert final is not None and final.delivered_via == "channel"
    assert final.delivery_message_id == 55 and await work.deliveries(10) == []


async def test_refused_create_told_at_once_is_not_delivered_again(
    generations: tuple[Generations, FakeClock],
    work: Work,
) -> None:
    s, clock = generations
    g = await s.add(new())
    await s.fail_unsubmitted(g.id, "insufficient_quota", "top up", member_told=True)
    row = await s.get(g.id)
    assert row is not None and row.status == "failed" and row.delivered_via == "interaction"
    clock.now += 100
    assert await work.deliveries(10) == []


async def test_refused_reconcile_goes_to_delivery(
    generations: tuple[Generations, FakeClock],
    work: Work,
) -> None:
    s, _clock = generations
    g = await s.add(new())
    await s.fail_unsubmitted(g.id, "invalid_request", "bad", member_told=False)
    assert [d.id for d in await work.deliveries(10)] == [g.id]


async def test_lost_creates_wait_their_turn(
    generations: tuple[Generations, FakeClock], work: Work
) -> None:
    s, clock = generations
    g = await s.add(new())
    assert await work.unsubmitted(clock.now, 10, settle=35) == []
    clock.now += 60
    assert [d.id for d in await work.unsubmitted(clock.now, 10, settle=35)] == [g.id]
    await s.retry_unsubmitted_later(g.id, clock.now + 60)
    assert await work.unsubmitted(clock.now, 10, settle=35) == []
    assert await work.next_poll_at(settle=35) == clock.now + 60


async def test_failed_delivery_is_retried_then_recorded_as_undeliverable(
    generations: tuple[Generations, FakeClock],
    work: Work,
) -> None:
    s, clock = generations
    g = await s.add(new())
    await s.mark_submitted(
        g.id, task_id="t", status="processing", progress=5, credits_reserved=None,
        estimated_seconds=None, next_poll_at=clock.now,
    )  # fmt: skip
    await s.record_finished(g.id, status="failed", error_code="service_error")
    await s.delivery_failed(g.id, retry_at=clock.now + 30)
    assert await work.deliveries(10) == []
    assert await work.next_delivery_at() == clock.now + 30
    await s.delivery_failed(g.id, retry_at=None)
    row = await s.get(g.id)
    assert row is not None and row.delivered_via == "undeliverable" and row.delivery_attempts == 2


async def test_many_progress_answers_are_stored_together(
    generations: tuple[Generations, FakeClock],
) -> None:
    s, clock = generations
    ids = []
    for n in range(3):
        g = await s.add(new(user_id=n, key=f"key-{n}"))
        await s.mark_submitted(
            g.id, task_id=f"task-{n}", status="pending", progress=0, credits_reserved=8.0,
            estimated_seconds=120, next_poll_at=clock.now,
        )  # fmt: skip
        ids.append(g.id)
    await s.record_finished(ids[2], status="failed")  # finished meanwhile (a callback)
    updates = [ProgressUpdate(i, "processing", 50, clock.now + 10) for i in ids]
    shown = await s.record_progress_many(updates, show=[ids[0], ids[2]])
    assert [(g.id, g.status, g.progress) for g in shown] == [(ids[0], "running", 50)]
    second = await s.get(ids[1])
    assert second is not None and (second.status, second.progress) == ("running", 50)
    assert second.next_poll_at == clock.now + 10
    finished = await s.get(ids[2])
    assert finished is not None and finished.status == "failed"  # left alone


APPEND_ONLY = {
    "credit_ledger": (
        "INSERT INTO credit_ledger (guild_id, user_id, kind, amount, charged_at, created_at) "
        "VALUES (1, 7, 'grant', 5, 0, 0)",
        "(id, guild_id, user_id, kind, amount, charged_at, created_at) "
        "VALUES (1, 1, 7, 'grant', 5000, 0, 0)",
        "amount = 5000",
    ),
    "audit_log": (
        "INSERT INTO audit_log (guild_id, moderator_id, action, reason, created_at) "
        "VALUES (1, 9, 'ban', 'spam', 0)",
        "(id, guild_id, moderator_id, action, reason, created_at) "
        "VALUES (1, 1, 9, 'ban', 'edited', 0)",
        "reason = 'edited'",
    ),
}
EDITS = {  # the ways each backend spells a change to an existing row
    "update": "UPDATE {table} SET {change}",
    "delete": "DELETE FROM {table}",
    "upsert": "INSERT INTO {table} {row} ON CONFLICT (id) DO UPDATE SET {change}",
    "insert over": "INSERT INTO {table} {row}",
    "insert or nothing": "INSERT INTO {table} {row} ON CONFLICT (id) DO NOTHING",
}
SQLITE_EDITS = {
    "update or replace": "UPDATE OR REPLACE {table} SET {change}",
    "insert or replace": "INSERT OR REPLACE INTO {table} {row}",
    "replace into": "REPLACE INTO {table} {row}",
}
POSTGRES_EDITS = {"truncate": "TRUNCATE {table}"}


@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.parametrize("table", list(APPEND_ONLY))
async def test_the_ledger_and_the_audit_log_refuse_every_kind_of_edit(
    store: tuple[Store, FakeClock], table: str, edit: str
) -> None:
    await refused_edit(store[0], table, EDITS[edit])


@pytest.mark.sqlite_only("SQLite's own ways to replace a row")
@pytest.mark.parametrize("edit", list(SQLITE_EDITS))
@pytest.mark.parametrize("table", list(APPEND_ONLY))
async def test_the_ledger_and_the_audit_log_refuse_sqlites_replace(
    store: tuple[Store, FakeClock], table: str, edit: str
) -> None:
    await refused_edit(store[0], table, SQLITE_EDITS[edit])


@pytest.mark.postgres_only("TRUNCATE, which SQLite does not have")
@pytest.mark.parametrize("edit", list(POSTGRES_EDITS))
@pytest.mark.parametrize("table", list(APPEND_ONLY))
async def test_the_ledger_and_the_audit_log_refuse_postgresqls_truncate(
    store: tuple[Store, FakeClock], table: str, edit: str
) -> None:
    await refused_edit(store[0], table, POSTGRES_EDITS[edit])


async def refused_edit(s: Store, table: str, edit: str) -> None:
    first, row, change = APPEND_ONLY[table]
    await s.execute(first)
    before = [tuple(r) for r in await s.fetchall(f"SELECT * FROM {table}")]
    with pytest.raises(REFUSED, match="append-only"):
        await s.execute(edit.format(table=table, row=row, change=change))
    assert [tuple(r) for r in await s.fetchall(f"SELECT * FROM {table}")] == before
    await s.execute(first)  # appending still works
    assert len(await s.fetchall(f"SELECT * FROM {table}")) == 2


@pytest.mark.sqlite_only("SQLite's migration 8")
async def test_a_database_of_the_previous_version_gains_the_replace_guard(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as old:
        for number, script in enumerate(MIGRATIONS[:7], start=1):
            old.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        old.execute(APPEND_ONLY["credit_ledger"][0])
    s = await open_store(path)
    try:
        assert await s.schema_version() == len(MIGRATIONS)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await s.execute("REPLACE INTO credit_ledger " + APPEND_ONLY["credit_ledger"][1])
        row = await s.fetchone("SELECT amount FROM credit_ledger WHERE id = 1")
        assert row is not None and row[0] == 5
    finally:
        await s.close()


@pytest.mark.sqlite_only("SQLite's write lock, held by another program")
async def test_a_transaction_given_up_while_waiting_for_the_lock_leaves_none_open(
    tmp_path: Path,
) -> None:
    """A health probe's timeout, say, while another program holds the write lock: the BEGIN the
    database thread finishes after the caller has gone must not leave a transaction open."""
    path = tmp_path / "bot.db"
    db = await open_store(path)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2), db.transaction():
                pass
        holder.execute("ROLLBACK")
        await db.generations.add(new())  # one transaction after another, as before the lock
        async with db.transaction() as tx:
            await tx.execute("UPDATE generations SET progress = 5")
        row = await db.generations.get(1)
        assert row is not None and row.progress == 5
        holder.execute("BEGIN IMMEDIATE")  # the bot holds no write lock once it is done
        holder.execute("ROLLBACK")
    finally:
        holder.close()
        await db.close()


# --- PostgreSQL's own schema history ---------------------------------------------------------


@pytest.fixture
def empty_postgres(backend: Backend, postgres_server: PostgresServer) -> Iterator[str]:
    """A second database on the test's server, without any table."""
    name = postgres_server.fresh_database(empty=True)
    yield postgres_server.url(name)
    postgres_server.drop(name)


@pytest.mark.postgres_only("PostgreSQL's migrations and its schema_version table")
async def test_a_new_postgresql_database_is_migrated_once_even_by_stores_opening_together(
    empty_postgres: str,
) -> None:
    stores = await asyncio.gather(*(open_store(empty_postgres, pool_size=1) for _ in range(4)))
    try:
        assert {await s.schema_version() for s in stores} == {len(POSTGRES_MIGRATIONS)}
        rows = await stores[0].fetchall("SELECT version FROM schema_version")
        assert [tuple(r) for r in rows] == [(len(POSTGRES_MIGRATIONS),)]
        await stores[1].generations.add(new())
        assert (await stores[2].generations.get(1)) is not None
    finally:
        for s in stores:
            await s.close()


@pytest.mark.postgres_only("PostgreSQL's schema_version table")
async def test_a_postgresql_database_of_a_newer_bot_is_refused_and_left_unchanged(
    empty_postgres: str,
) -> None:
    await (await open_store(empty_postgres)).close()
    newer = len(POSTGRES_MIGRATIONS) + 1
    connection = await asyncpg.connect(empty_postgres)
    try:
        await connection.execute("UPDATE schema_version SET version = $1", newer)
        with pytest.raises(DatabaseTooNew, match=f"version {newer}, made by a newer version"):
            await open_store(empty_postgres)
        assert await connection.fetchval("SELECT version FROM schema_version") == newer
    finally:
        await connection.close()


@pytest.mark.postgres_only("exact numeric money")
async def test_credits_are_exact_in_postgresql_and_read_back_as_the_floats_written(
    store: tuple[Store, FakeClock],
) -> None:
    s, _ = store
    for amount in (0.1, 0.2, -1 / 3, 2.675, 1e-9):
        await s.ledger.append(1, 7, "grant", amount)
    row = await s.fetchone(
        "SELECT SUM(amount) = 0.1 + 0.2 - 0.3333333333333333 + 2.675 + 0.000000001"
        " FROM credit_ledger"
    )
    assert row is not None and row[0] is True, "the sum in the database is exact"
    assert [e.amount for e in reversed(await s.ledger.recent(1, 7, 10))] == [
        0.1,
        0.2,
        -1 / 3,
        2.675,
        1e-9,
    ]
    assert await s.ledger.member_total_since(1, 7, 0) == float(
        Decimal("0.1")
        + Decimal("0.2")
        - Decimal("0.3333333333333333")
        + Decimal("2.675")
        + Decimal("0.000000001")
    )
