"""python -m bot.migrate --to postgresql://...: a single host's SQLite history moved into an empty
PostgreSQL database, checked row by row, or nothing written at all."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.store import MIGRATIONS, NewGeneration, Store, open_store
from bot.store.copy_to_postgres import TABLES
from tests.backends import PostgresServer
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[1]
GUILD, ALICE, BOB, MOD = 10**17 + 1, 10**17 + 2, 10**17 + 3, 10**17 + 4


@pytest.fixture
def empty_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new PostgreSQL database without any table."""
    name = postgres_server.fresh_database(empty=True)
    yield postgres_server.url(name)
    postgres_server.drop(name)


def migrate(source: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.migrate", "--to", url, "--from", str(source)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def request(user_id: int, key: str, **fields: object) -> NewGeneration:
    values: dict[str, object] = {
        "guild_id": GUILD, "channel_id": 5, "user_id": user_id, "locale": "zh-CN",
        "prompt": f"一只猫 {key} 'quoted' \"and\" \\ back", "negative_prompt": None,
        "quality": "1080p", "aspect_ratio": "16:9", "duration": 5, "seed": 2**62,
        "prompt_extend": False, "audio_url": None, "idempotency_key": key, "next_poll_at": 1.5,
    }  # fmt: skip
    values.update(fields)
    return NewGeneration(**values)  # type: ignore[arg-type]


async def populate(store: Store, clock: FakeClock) -> None:
    """A little of everything the bot keeps, with the awkward values: thirds of credits,
    large ids, NULLs, Chinese text, quotes."""
    done = await store.generations.add(request(ALICE, "done", user_name="Alice (alice_99)"))
    await store.generations.mark_submitted(
        done.id, task_id="task-1", status="processing", progress=10,
        credits_reserved=1 / 3, estimated_seconds=61.25, next_poll_at=clock() + 10,
    )  # fmt: skip
    clock.advance(0.1)
    await store.generations.record_finished(
        done.id, status="completed", result_url="https://cdn.example/v.mp4", credits_used=0.1
    )
    await store.generations.add(request(BOB, "waiting", status="queued", prompt_extend=None))
    for kind, amount in (("reserve", -10 / 3), ("settle", 0.1), ("grant", 7.0), ("take", -0.2)):
        clock.advance(0.001)
        await store.ledger.append(GUILD, ALICE, kind, amount, generation_id=done.id,
                                  moderator_id=MOD, reason="原因")  # fmt: skip
    await store.ledger.set_allowance(GUILD, "member", ALICE, 12.5, MOD)
    await store.ledger.set_allowance(GUILD, "role", 77, None, MOD)
    await store.ledger.set_limit_overrides(GUILD, MOD, {"guild_cap": 99.9, "cooldown": 2.5})
    await store.moderation.add_ban(GUILD, BOB, MOD, "spam")
    await store.moderation.add_blocklist_entry(GUILD, "猫(?!狗)", True, MOD)
    await store.moderation.add_blocklist_entry(GUILD, "dog", False, MOD)
    await store.moderation.set_log_channel(GUILD, 555, MOD)
    await store.moderation.record_audit(GUILD, MOD, "ban", BOB, {"why": "spam", "n": 1}, None)
    await store.state.put("commands_guild", str(GUILD))


@pytest.fixture
async def sqlite_history(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "bot.db"
    store = await open_store(path, clock=FakeClock())
    await populate(store, FakeClock())
    await store.close()
    yield path


async def every_row(target: Path | str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table as the bot reads it (money as floats), in key order."""
    store = await open_store(target, pool_size=1)
    try:
        return {
            table: [tuple(r) for r in await store.fetchall(
                f"SELECT * FROM {table} ORDER BY {', '.join(key)}")]
            for table, key in TABLES.items()
        }  # fmt: skip
    finally:
        await store.close()


async def test_every_table_is_copied_and_reads_back_as_the_bot_wrote_it(
    sqlite_history: Path, empty_database: str
) -> None:
    before = await every_row(sqlite_history)
    done = migrate(sqlite_history, empty_database)
    assert done.returncode == 0, done.stderr
    assert "Done: " in done.stdout and "compared column by column" in done.stdout
    assert "generations" in done.stdout and "audit_log" in done.stdout
    assert "postgres@" not in done.stdout  # the URL's user (or password) is never printed

    after = await every_row(empty_database)
    assert set(after) == set(TABLES) and all(before[t] for t in TABLES), "every table has rows"
    for table in TABLES:
        columns = await column_names(sqlite_history, table)
        pg_columns = await column_names(empty_database, table)
        assert [dict(zip(columns, r, strict=True)) for r in before[table]] == [
            dict(zip(pg_columns, r, strict=True)) for r in after[table]
        ], table

    store = await open_store(empty_database, clock=FakeClock())
    try:
        assert await store.ledger.member_total_since(GUILD, ALICE, 0) == pytest.approx(
            -10 / 3 + 0.1 + 7.0 - 0.2, abs=1e-12
        )
        generation = await store.generations.get(1)
        assert generation is not None and generation.credits_reserved == 1 / 3
        assert generation.prompt_extend is False and generation.seed == 2**62
        newer = await store.generations.add(request(ALICE, "after the move"))
        assert newer.id == 3, "ids go on after the copied ones"
        entry = await store.moderation.add_blocklist_entry(GUILD, "fox", False, MOD)
        assert entry is not None and entry.id == 3
    finally:
        await store.close()


async def column_names(target: Path | str, table: str) -> list[str]:
    store = await open_store(target, pool_size=1)
    try:
        row = await store.fetchone(f"SELECT * FROM {table} LIMIT 1")
        assert row is not None
        return list(row.keys())
    finally:
        await store.close()


async def test_a_database_with_rows_already_is_refused_and_left_as_it_was(
    sqlite_history: Path, postgres_server: PostgresServer
) -> None:
    name = postgres_server.fresh_database()
    url = postgres_server.url(name)
    try:
        store = await open_store(url)
        await store.moderation.add_ban(GUILD, ALICE, MOD, "already here")
        await store.close()

        done = migrate(sqlite_history, url)
        assert done.returncode == 1
        assert "the PostgreSQL database is not empty: bans (1 rows)" in done.stderr
        assert "Nothing was written" in done.stderr

        rows = await every_row(url)
        assert [len(rows[t]) for t in TABLES] == [0, 0, 0, 0, 0, 1, 0, 0, 0]
    finally:
        postgres_server.drop(name)


async def nothing_in(url: str) -> bool:
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetchval(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return bool(tables == 0)
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("UPDATE generations SET seed = 'forty-two' WHERE id = 2",
         "the row of generations with id 2 does not fit PostgreSQL: its seed is 'forty-two', "
         "not a whole number"),
        ("UPDATE generations SET prompt = 'a' || char(0) || 'b' WHERE id = 1",
         "its prompt is 'a\\x00b', text with a NUL character"),
        ("UPDATE guild_limits SET guild_cap = 'lots'",
         f"the row of guild_limits with guild_id {GUILD} does not fit PostgreSQL: its "
         "guild_cap is 'lots', not a finite amount of credits"),
    ],
    ids=["text-in-a-number", "nul-in-text", "text-in-money"],
)  # fmt: skip
async def test_a_row_that_does_not_fit_stops_the_copy_with_nothing_written(
    sqlite_history: Path, empty_database: str, change: str, said: str
) -> None:
    with contextlib.closing(sqlite3.connect(sqlite_history)) as db, db:
        db.execute(change)
    done = migrate(sqlite_history, empty_database)
    assert done.returncode == 1
    assert said in done.stderr
    assert "Nothing was written to PostgreSQL at 127.0.0.1" in done.stderr
    assert await nothing_in(empty_database), "not even the schema"


async def test_an_older_sqlite_file_is_copied_at_the_current_schema_and_left_unchanged(
    tmp_path: Path, empty_database: str
) -> None:
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as old:
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            old.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        old.execute(
            """INSERT INTO generations (guild_id, channel_id, user_id, prompt, idempotency_key,
                   requested_at, updated_at) VALUES (1, 2, 3, 'a fox', 'k', 1.0, 1.0)"""
        )
    done = migrate(path, empty_database)
    assert done.returncode == 0, done.stderr
    assert "schema version 3" in done.stdout
    with contextlib.closing(sqlite3.connect(path)) as old:
        assert old.execute("PRAGMA user_version").fetchone()[0] == 3
    rows = await every_row(empty_database)
    assert [(r[0], r[5]) for r in rows["generations"]] == [(1, "a fox")]
