"""Migrations: a database of every earlier version, with rows in it, reaches the current schema
with every row kept, and ends exactly as a new database begins."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.store import MIGRATIONS, MIGRATIONS_DIR, open_store

pytestmark = pytest.mark.sqlite_only(
    "SQLite's migrations, by PRAGMA user_version (PostgreSQL's history starts at its version 1)"
)

ROOT = Path(__file__).resolve().parent.parent
CURRENT = len(MIGRATIONS)

# Each migration as it shipped (the start of its SHA-256). A shipped file is never edited: the
# databases it made keep its schema, so a change is a new file, whose line is added here.
SHIPPED = {
    "0001_generations.sql": "04e880d34662a54d",
    "0002_credits.sql": "c27c7366b1965628",
    "0003_moderation.sql": "72883751dbcc2b0d",
    "0004_callback_token_and_upload_limit.sql": "32686ebbc41e7a09",
    "0005_active_and_ledger_indexes.sql": "b5847fa772c9ec36",
    "0006_member_status_time_index.sql": "a3f1e3242a7d141a",
    "0007_delivery_route.sql": "046f9cbdf0928aa6",
    "0008_append_only_refuses_replace.sql": "294418dc1559b953",
    "0009_member_name_delivered_file_bot_state.sql": "d2f7354387dfdde2",
    "0010_claims_and_shared_state.sql": "ef576119d9a7e65f",
}

# The version a column first exists at; earlier databases cannot hold it.
COLUMN_SINCE = {
    "callback_token": 4, "upload_limit": 4, "delivery_route": 7, "user_name": 9,
    "delivered_file": 9, "claimed_by": 10, "lease_until": 10,
}  # fmt: skip


def generation(id: int, status: str, **values: Any) -> dict[str, Any]:
    row = {
        "id": id, "guild_id": 10, "channel_id": 20, "user_id": 30 + id % 3, "locale": "zh-CN",
        "prompt": f"a cat, number {id}", "negative_prompt": "blur", "quality": "720p",
        "aspect_ratio": "16:9", "duration": 5, "seed": 42, "prompt_extend": 1,
        "audio_url": None, "idempotency_key": f"key-{id}", "task_id": None, "status": status,
        "progress": 0, "estimated_seconds": None, "credits_reserved": None, "credits_used": None,
        "result_url": None, "error_code": None, "error_message": None,
        "status_message_id": 900 + id, "next_poll_at": None, "poll_count": 0,
        "requested_at": 1_000.0 + id, "submitted_at": None, "finished_at": None,
        "delivered_at": None, "delivered_via": None, "delivery_message_id": None,
        "delivery_attempts": 0, "next_delivery_at": None, "updated_at": 1_000.0 + id,
        "callback_token": f"secret-{id}", "upload_limit": 10_485_760, "delivery_route": None,
        "user_name": f"Mei ({id})", "delivered_file": None, "claimed_by": None,
        "lease_until": None,
    }  # fmt: skip
    row.update(values)
    return row


def started(id: int, status: str, **values: Any) -> dict[str, Any]:
    return generation(
        id, status, task_id=f"task-{id}", submitted_at=1_010.0 + id, credits_reserved=5.0,
        estimated_seconds=90.0, **values,
    )  # fmt: skip


def finished(id: int, status: str, **values: Any) -> dict[str, Any]:
    return started(id, status, finished_at=1_100.0 + id, **values)


# fmt: off
GENERATIONS = [
    generation(1, "queued", delivery_route=None),
    generation(2, "requested", next_poll_at=1_060.0, poll_count=1),
    started(3, "submitted", next_poll_at=1_020.0),
    started(4, "running", progress=40, next_poll_at=1_030.0, poll_count=3),
    finished(
        5, "completed", progress=100, credits_used=5.0, result_url="https://files.example/5.mp4",
        delivered_at=1_110.0, delivered_via="channel", delivery_message_id=955,
        delivery_attempts=1, delivered_file=1,
    ),
    finished(
        6, "failed", error_code="content_policy_violation", error_message="refused",
        next_delivery_at=1_106.0, delivery_route="dm",
    ),
    finished(7, "expired", error_code="expired", next_delivery_at=1_107.0, delivery_attempts=2),
    generation(
        8, "cancelled", error_code="cancelled", finished_at=1_108.0, delivered_at=1_108.0,
        delivered_via="interaction",
    ),
    generation(
        9, "failed", guild_id=None, error_code="invalid_request", delivered_at=1_109.0,
        delivered_via="undeliverable", prompt_extend=None,
    ),
]
LEDGER = [
    {"id": 1, "guild_id": 10, "user_id": 32, "generation_id": 5, "kind": "reserve",
     "amount": -5.0, "charged_at": 1_005.0, "moderator_id": None, "reason": "estimate",
     "created_at": 1_005.0},
    {"id": 2, "guild_id": 10, "user_id": 32, "generation_id": 5, "kind": "settle",
     "amount": 0.5, "charged_at": 1_005.0, "moderator_id": None, "reason": "final charge",
     "created_at": 1_105.0},
    {"id": 3, "guild_id": 10, "user_id": 30, "generation_id": 6, "kind": "reserve",
     "amount": -5.0, "charged_at": 1_006.0, "moderator_id": None, "reason": "estimate",
     "created_at": 1_006.0},
    {"id": 4, "guild_id": 10, "user_id": 30, "generation_id": 6, "kind": "refund",
     "amount": 5.0, "charged_at": 1_006.0, "moderator_id": None, "reason": "video failed",
     "created_at": 1_106.0},
    {"id": 5, "guild_id": 10, "user_id": 31, "generation_id": None, "kind": "grant",
     "amount": 12.5, "charged_at": 1_200.0, "moderator_id": 77, "reason": "contest",
     "created_at": 1_200.0},
    {"id": 6, "guild_id": 10, "user_id": 31, "generation_id": None, "kind": "take",
     "amount": -2.0, "charged_at": 1_201.0, "moderator_id": 77, "reason": "spam",
     "created_at": 1_201.0},

]
ROWS: dict[str, tuple[int, list[dict[str, Any]]]] = {
    # table: (the version it first exists at, its rows)
    "generations": (1, GENERATIONS),
    "credit_ledger": (2, LEDGER),
    "credit_allowances": (2, [
        {"guild_id": 10, "kind": "member", "target_id": 31, "credits": 25.0, "set_by": 77,
         "set_at": 1_300.0},
        {"guild_id": 10, "kind": "role", "target_id": 500, "credits": None, "set_by": 77,
         "set_at": 1_301.0},
    ]),
    "guild_limits": (2, [
        {"guild_id": 10, "default_credits": -1.0, "period": "weekly", "max_running": 3,
         "max_queued": None, "cooldown": 30.0, "guild_cap": 500.0, "updated_by": 77,
         "updated_at": 1_302.0},
    ]),
    "guild_config": (3, [
        {"guild_id": 10, "log_channel_id": 4242, "updated_by": 77, "updated_at": 1_303.0},
    ]),
    "bans": (3, [
        {"guild_id": 10, "user_id": 66, "banned_by": 77, "reason": "spam", "banned_at": 1_304.0},
    ]),
    "blocklist": (3, [
        {"id": 1, "guild_id": 10, "pattern": "gore", "is_regex": 0, "added_by": 77,
         "added_at": 1_305.0},
        {"id": 2, "guild_id": 10, "pattern": "bl(o|0)od", "is_regex": 1, "added_by": 77,
         "added_at": 1_306.0},
    ]),
    "bot_state": (9, [{"name": "commands_guild", "value": "10"}]),
    "audit_log": (3, [
        {"id": 1, "guild_id": 10, "moderator_id": 77, "action": "ban", "target_user_id": 66,
         "details": "{}", "reason": "spam", "created_at": 1_304.0},
        {"id": 2, "guild_id": 10, "moderator_id": 77, "action": "blocklist_add",
         "target_user_id": None, "details": '{"pattern":"gore"}', "reason": None,
         "created_at": 1_305.0},
    ]),
}
# fmt: on


def build(path: Path, version: int) -> None:
    """A database as the bot of `version` left it: the first `version` migrations, each applied
    as the bot applies it, then rows that version could hold."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        for number, script in enumerate(MIGRATIONS[:version], start=1):
            script = f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            db.executescript(script)
        for table, (since, rows) in ROWS.items():
            if since > version:
                continue
            for row in rows:
                held = held_at(row, version)
                db.execute(
                    f"INSERT INTO {table} ({', '.join(held)}) VALUES "
                    f"({', '.join('?' for _ in held)})",
                    tuple(held.values()),
                )


def held_at(row: dict[str, Any], version: int) -> dict[str, Any]:
    return {k: v for k, v in row.items() if COLUMN_SINCE.get(k, 1) <= version}


def schema(db: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
    return [(kind, name, table, " ".join((sql or "").split())) for kind, name, table, sql in rows]


def table_rows(db: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    db.row_factory = sqlite3.Row
    try:
        columns = len(db.execute(f"SELECT * FROM {table} LIMIT 0").description)
        order = ", ".join(str(n) for n in range(1, min(columns, 3) + 1))  # bot_state has 2
        return [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]
    finally:
        db.row_factory = None


@pytest.mark.parametrize("version", range(CURRENT))
async def test_a_populated_database_of_every_earlier_version_migrates_to_the_current_one(
    tmp_path: Path, version: int
) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    build(old, version)
    store = await open_store(old)  # what the bot does at start
    try:
        assert await store.schema_version() == CURRENT
        for row in GENERATIONS if version else []:
            kept = await store.generations.get(row["id"])
            assert kept is not None and kept.status == row["status"]
            assert kept.prompt_extend == (None if row["prompt_extend"] is None else True)
    finally:
        await store.close()
    fresh = await open_store(new)
    await fresh.close()

    with contextlib.closing(sqlite3.connect(old)) as migrated:
        for table, (since, rows) in ROWS.items():
            expected = [
                {**dict.fromkeys(row, None), **held_at(row, version)} for row in rows
            ] if since <= version else []  # fmt: skip
            assert table_rows(migrated, table) == expected, table
        with contextlib.closing(sqlite3.connect(new)) as made_new:
            assert schema(migrated) == schema(made_new)  # every table, index and trigger
        assert migrated.execute("PRAGMA integrity_check").fetchone() == ("ok",)


APPEND_ONLY_EDITS = [
    "UPDATE credit_ledger SET amount = 1000 WHERE id = 1",
    "DELETE FROM credit_ledger WHERE id = 1",
    "REPLACE INTO credit_ledger (id, guild_id, user_id, kind, amount, charged_at, created_at) "
    "VALUES (1, 10, 32, 'grant', 1000, 0, 0)",
    "UPDATE audit_log SET reason = 'edited' WHERE id = 1",
    "DELETE FROM audit_log WHERE id = 1",
    "INSERT OR REPLACE INTO audit_log (id, guild_id, moderator_id, action, created_at) "
    "VALUES (1, 10, 77, 'unban', 0)",
]


@pytest.mark.parametrize("version", range(2, CURRENT))
async def test_a_migrated_ledger_and_audit_log_refuse_every_edit(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "old.db"
    build(path, version)
    await (await open_store(path)).close()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        if version < 3:  # the audit log came with version 3: give it a row to edit
            db.execute(
                "INSERT INTO audit_log (id, guild_id, moderator_id, action, created_at) "
                "VALUES (1, 10, 77, 'ban', 0)"
            )
        before = {t: table_rows(db, t) for t in ("credit_ledger", "audit_log")}
        for edit in APPEND_ONLY_EDITS:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(edit)
        assert {t: table_rows(db, t) for t in before} == before


def test_the_migrations_are_numbered_files_that_an_installed_bot_carries() -> None:
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    assert [f.name[:5] for f in files] == [f"{n:04d}_" for n in range(1, CURRENT + 1)]
    assert tuple(f.read_text(encoding="utf-8") for f in files) == MIGRATIONS
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    package = ".".join(MIGRATIONS_DIR.relative_to(ROOT).parts)  # bot.store.migrations.sqlite
    assert package in setuptools["packages"]
    shipped = {
        path
        for pattern in setuptools["package-data"][package]
        for path in (ROOT / package.replace(".", "/")).glob(pattern)
    }
    assert set(files) <= shipped


def test_a_shipped_migration_is_never_edited() -> None:
    found = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for path in sorted(MIGRATIONS_DIR.glob("*.sql"))
    }
    assert found == SHIPPED
