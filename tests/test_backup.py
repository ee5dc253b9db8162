"""Backups as an owner takes them: python -m bot.backup while the real bot runs and writes,
--verify on the copy, then the bot started on the restored copy in a new folder resumes every
video and delivers each exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import MIGRATIONS, DatabaseTooNew, check_usable, open_store
from bot.store.sqlite_backup import backup_database, expected_tables, inspect_database
from discord_double import DiscordStandIn
from tests.test_process import (
    USER_IDS,
    Cluster,
    base_env,
    delivered_rows,
    deliveries,
    start_bot,
    start_simulator,
    status_posts,
    video_command,
    wait_for,
    wait_ready,
)

pytestmark = pytest.mark.sqlite_only(
    "python -m bot.backup copies the SQLite file (PostgreSQL has pg_dump)"
)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    processes = Cluster(tmp_path)
    try:
        yield processes
    finally:
        await processes.close()


@pytest.fixture
async def discord_api() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn() as standin:
        yield standin


def backup_command(*args: str, database: Path, cwd: Path, **settings: str) -> tuple[int, str]:
    env = base_env()
    env["DATABASE_PATH"] = str(database)
    env.update(settings)
    result = subprocess.run(
        [sys.executable, "-m", "bot.backup", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_a_bot_on_postgresql_is_sent_to_its_own_backup_tools(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    database.write_bytes(b"")  # an old file left beside: not what the bot uses
    code, said = backup_command(
        str(tmp_path / "copy.db"), database=database, cwd=tmp_path,
        DATABASE_URL="postgresql://bot:secret@db.example:5432/bot",
    )  # fmt: skip
    assert code == 1
    assert "PostgreSQL (DATABASE_URL): back it up with PostgreSQL's own tools (pg_dump)" in said
    assert "secret" not in said and not (tmp_path / "copy.db").exists()


async def test_backup_while_videos_run_then_restore_elsewhere_delivers_each_once(
    cluster: Cluster, discord_api: DiscordStandIn
) -> None:
    sim = await start_simulator(cluster, task_seconds=6, pending_seconds=0.5)
    first = await start_bot(cluster, discord_api, sim, name="bot-first")
    await wait_ready(discord_api, first)
    ids = []
    for n, user in enumerate(USER_IDS):
        payload = video_command(user, f"scene {n}: a harbour at dusk, slow pan")
        ids.append(int(payload["id"]))
        await discord_api.send_interaction(payload)
    await wait_for(
        lambda: all(status_posts(discord_api, user) for user in USER_IDS),
        "three status messages",
        discord_api=discord_api,
        bot=first,
    )
    # The bot polls every 0.2 s meanwhile: the backup is taken while it writes.
    backup = cluster.tmp / "backups" / "bot-backup.db"
    backup.parent.mkdir()
    code, output = await asyncio.to_thread(
        backup_command, str(backup), database=first.db, cwd=cluster.tmp
    )
    assert code == 0, output
    assert f"Backed up {first.db} to {backup}" in output and "OK: integrity checked" in output
    assert "generations                   3 rows" in output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert not backup.with_name(backup.name + "-wal").exists(), "one self-contained file"

    # The machine is lost before any video is delivered.
    first.proc.signal(signal.SIGKILL)
    assert await first.proc.wait_exit() == -signal.SIGKILL
    assert not any(deliveries(discord_api, user) for user in USER_IDS), (
        "a video was delivered before the kill; the machine is too slow for task_seconds=6"
    )

    code, output = await asyncio.to_thread(
        backup_command, "--verify", str(backup), database=first.db, cwd=cluster.tmp
    )
    assert code == 0 and f"schema version {len(MIGRATIONS)}" in output, output

    restored = cluster.tmp / "new-host" / "data" / "bot.db"
    restored.parent.mkdir(parents=True)
    restored.write_bytes(backup.read_bytes())
    second = await start_bot(
        cluster, discord_api, sim, db=restored, token=first.token, api_key=first.api_key,
        name="bot-restored",
    )  # fmt: skip
    await wait_ready(discord_api, second, count=2)
    await wait_for(
        lambda: delivered_rows(restored) == 3,
        "three rows delivered from the restored database",
        discord_api=discord_api,
        bot=second,
    )
    for user in USER_IDS:
        assert len(deliveries(discord_api, user)) == 1, f"user {user}"
    tasks = await sim.tasks()
    assert len(tasks) == 3, "the restored rows followed the tasks already made, none repeated"


async def test_backup_of_a_database_written_meanwhile_is_consistent(tmp_path: Path) -> None:
    """Another connection commits rows as fast as it can while the backup reads."""
    live = tmp_path / "bot.db"
    store = await open_store(live)
    await store.close()
    stop = False

    def write() -> int:
        connection = sqlite3.connect(live, timeout=10)
        written = 0
        try:
            while not stop:
                with connection:
                    connection.execute(
                        "INSERT INTO audit_log (guild_id, moderator_id, action, created_at) "
                        "VALUES (1, 2, 'test', 0)"
                    )
                written += 1
        finally:
            connection.close()
        return written

    writer = asyncio.create_task(asyncio.to_thread(write))
    await asyncio.sleep(0.2)
    target = tmp_path / "copy.db"
    await asyncio.to_thread(backup_database, live, target)
    stop = True
    written = await writer
    report = inspect_database(target)
    assert report.problems == [] and report.integrity == ["ok"]
    assert 0 < report.row_counts["audit_log"] <= written
    assert sorted(report.row_counts) == expected_tables()


def test_verify_refuses_what_is_not_a_usable_backup(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    code, output = backup_command("--verify", str(garbage), database=garbage, cwd=tmp_path)
    assert code == 1 and "cannot be read as the bot's database" in output

    empty = tmp_path / "empty.db"
    with contextlib.closing(sqlite3.connect(empty)) as connection:
        connection.execute("CREATE TABLE generations (id INTEGER)")
    code, output = backup_command("--verify", str(empty), database=empty, cwd=tmp_path)
    assert code == 1 and "NOT usable as a backup" in output
    assert "schema version 0" in output and "table credit_ledger is missing" in output


def test_backup_never_overwrites_and_names_a_missing_database(tmp_path: Path) -> None:
    code, output = backup_command(
        str(tmp_path / "b.db"), database=tmp_path / "none.db", cwd=tmp_path
    )
    assert code == 1 and "There is no database at" in output

    live = tmp_path / "bot.db"
    asyncio.run(_make(live))
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    code, output = backup_command(str(existing), database=live, cwd=tmp_path)
    assert code == 1 and "already exists" in output and existing.read_bytes() == b"keep me"

    folder = tmp_path / "backups"
    folder.mkdir()
    code, output = backup_command(str(folder), database=live, cwd=tmp_path)
    assert code == 0, output
    [made] = os.listdir(folder)
    assert made.startswith("bot-") and made.endswith("Z.db")


async def _make(path: Path) -> None:
    store = await open_store(path)
    await store.close()


async def test_store_refuses_a_schema_newer_than_it_knows(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await _make(path)
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 3}")
    with pytest.raises(DatabaseTooNew) as refused:
        check_usable(path)
    assert refused.value.version == len(MIGRATIONS) + 3
    with pytest.raises(DatabaseTooNew):
        await open_store(path)


async def test_a_newer_bot_s_database_is_refused_before_anything_in_it_changes(
    tmp_path: Path,
) -> None:
    """Not even its journal mode: switching it to WAL writes -wal and -shm files beside a file
    this version must not touch."""
    path = tmp_path / "newer.db"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE kept (x)")
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    before = path.read_bytes()
    for check in (lambda: check_usable(path), lambda: check_usable(path, prepare=False)):
        with pytest.raises(DatabaseTooNew):
            check()
    with pytest.raises(DatabaseTooNew):
        await open_store(path)
    assert sorted(os.listdir(tmp_path)) == ["newer.db"], "no -wal or -shm file beside it"
    assert path.read_bytes() == before


def test_a_backup_that_fails_its_check_is_removed(tmp_path: Path) -> None:
    """A database of a newer bot copies fine but is no backup for this one: the copy this run
    made is removed, so that it is never restored by mistake; nothing else is touched."""
    live = tmp_path / "bot.db"
    asyncio.run(_make(live))
    with contextlib.closing(sqlite3.connect(live)) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    target = tmp_path / "copy.db"
    code, output = backup_command(str(target), database=live, cwd=tmp_path)
    assert code == 1 and "NOT usable as a backup" in output
    assert f"Removed {target}: it is not a usable backup." in output
    assert not target.exists() and not (tmp_path / "copy.db.partial").exists()
    folder = tmp_path / "backups"
    folder.mkdir()
    code, _ = backup_command(str(folder), database=live, cwd=tmp_path)
    assert code == 1 and os.listdir(folder) == []
    code, output = backup_command("--verify", str(live), database=live, cwd=tmp_path)
    assert code == 1 and live.exists(), "--verify alone never removes what it checks"
