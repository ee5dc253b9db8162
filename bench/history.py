"""Section 4: a year's history. 1,000,000 generations (and their ledger) across 100 servers and
50,000 members; `/videomod log` pages with each filter, `/credits`, and a 100,000-row CSV export.

`history-build` writes the fixture with plain sqlite3 into the bot's own schema (created by
`open_store`, so migrations are the bot's) and caches it by size, seed and schema; no ANALYZE is
run, because the bot never runs one: the query planner sees what it sees in production.
`history-query` and `history-export` call the service methods the commands call
(`Moderation.log_page`, `Credits.member`, `Moderation.export_csv`) through the bot's Store.

Shape: one large server (15 % of members and rows, the export's source) and 99 others; activity
within a server is skewed (a few members make most videos); 180 days of history, ids in time
order; statuses: 88.5 % completed, 6 % failed, 2 % expired, 3.5 % cancelled, the last 5 minutes
still in progress (a handful of videos per server, as at any quiet moment).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import os
import random
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from bench.common import peak_rss_kib, reset_peak_rss, rss_kib, summary
from bench.runtime import Profiler

NOW = 1_800_000_000.0
DAY = 86400.0
SPAN = 180 * DAY
FIXTURE_VERSION = 2  # bump when the shape below changes: the cache key includes it
ACTIVE_FOR = 300.0  # the last 5 minutes are still in progress: a few videos per server
GUILD0 = 1_200_000_000_000_000_000
USER0 = 1_210_000_000_000_000_000
BIG_SHARE = 0.15
STATUSES = (("completed", 0.885), ("failed", 0.06), ("expired", 0.02), ("cancelled", 0.035))
FAIL_CODES = ("content_policy_violation", "generation_failed_no_content", "service_error")
WORDS = (
    "a fox running through snow at dawn, cinematic, 35mm film grain; "
    "一只小猫在月光下奔跑, soft light; a drone shot over a neon city in the rain; "
    "=HYPERLINK(evil) formula-looking text; slow motion waves on black sand, golden hour; "
    "two astronauts playing chess on the moon, wide shot, 4k; "
).split(" ")

GEN_COLUMNS = (
    "id", "guild_id", "channel_id", "user_id", "locale", "prompt", "negative_prompt", "quality",
    "aspect_ratio", "duration", "seed", "prompt_extend", "audio_url", "idempotency_key",
    "task_id", "status", "progress", "estimated_seconds", "credits_reserved", "credits_used",
    "result_url", "error_code", "error_message", "status_message_id", "next_poll_at",
    "poll_count", "requested_at", "submitted_at", "finished_at", "delivered_at", "delivered_via",
    "delivery_message_id", "delivery_attempts", "next_delivery_at", "updated_at",
)  # fmt: skip
LEDGER_COLUMNS = (
    "guild_id", "user_id", "generation_id", "kind", "amount", "charged_at", "moderator_id",
    "reason", "created_at",
)  # fmt: skip


def _schema_hash() -> str:
    from bot.store import MIGRATIONS

    return hashlib.sha256("\n".join(MIGRATIONS).encode()).hexdigest()[:10]


def fixture_paths(params: dict[str, Any]) -> tuple[Path, Path]:
    key = f"history-{params['rows']}-{params['guilds']}-{params['members']}-s{params['seed']}"
    key += f"-v{FIXTURE_VERSION}"
    base = Path(params["cache_dir"]) / f"{key}-{_schema_hash()}"
    return base.with_suffix(".db"), base.with_suffix(".json")


def _prompts(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        words = rng.choices(WORDS, k=rng.randint(6, 60))
        out.append(" ".join(words).strip(" ;,"))
    return out


async def build(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    from bot.store import open_store

    database, meta_path = fixture_paths(params)
    if database.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        return {"cached": True, "path": str(database), **meta["build"]}
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_suffix(".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    started = time.time()
    store = await open_store(partial)  # the bot's schema, every migration
    await store.close()
    with prof:
        meta = _fill(partial, int(params["rows"]), int(params["guilds"]),
                     int(params["members"]), int(params["seed"]))  # fmt: skip
    _settle_file(partial, database)
    meta["build"] = {
        "seconds": time.time() - started,
        "size_mb": database.stat().st_size / 1e6,
        "rows": int(params["rows"]),
        "ledger_rows": meta.pop("ledger_rows"),
    }
    meta_path.write_text(json.dumps(meta))
    return {"cached": False, "path": str(database), **meta["build"]}


def _settle_file(partial: Path, database: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    os.replace(partial, database)


def _fill(path: Path, rows: int, guilds: int, members: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    prompts = _prompts(rng, 4000)
    # members per server: the large one has BIG_SHARE of them, the rest share equally
    big_members = max(1, int(members * BIG_SHARE))
    per_guild = [big_members] + [
        (members - big_members) // (guilds - 1) + (1 if g < (members - big_members) % (guilds - 1)
                                                   else 0)
        for g in range(guilds - 1)
    ]  # fmt: skip
    next_user = itertools.count(USER0)
    guild_users = [[next(next_user) for _ in range(k)] for k in per_guild]
    weights = [list(itertools.accumulate(1 / (i + 1) ** 1.1 for i in range(k))) for k in per_guild]
    status_cum = list(itertools.accumulate(p for _, p in STATUSES))

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -600000")
    gen_sql = (
        f"INSERT INTO generations ({', '.join(GEN_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in GEN_COLUMNS)})"
    )
    ledger_sql = (
        f"INSERT INTO credit_ledger ({', '.join(LEDGER_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in LEDGER_COLUMNS)})"
    )
    ledger_rows = 0
    start = NOW - SPAN
    step = SPAN / rows
    chunk = 50_000
    for first in range(1, rows + 1, chunk):
        gens: list[tuple[Any, ...]] = []
        ledger: list[tuple[Any, ...]] = []
        for gid in range(first, min(first + chunk, rows + 1)):
            g = 0 if rng.random() < BIG_SHARE else rng.randrange(1, guilds)
            guild_id = GUILD0 + g
            user_id = rng.choices(guild_users[g], cum_weights=weights[g])[0]
            requested = start + gid * step + rng.random() * step
            age = NOW - requested
            quality = "1080p" if rng.random() < 0.3 else "720p"
            duration = rng.choice((2, 5, 5, 5, 8, 10, 15))
            cost = (2.0 if quality == "1080p" else 1.0) * duration
            task_id = f"task-unified-{int(requested)}-{gid:08x}"
            if age < ACTIVE_FOR:
                status = rng.choice(("running", "submitted", "queued", "requested"))
            else:
                status = STATUSES[min(3, _bisect(status_cum, rng.random()))][0]
            done = status in ("completed", "failed", "expired", "cancelled")
            finished = requested + rng.uniform(40, 200) if done else None
            error = rng.choice(FAIL_CODES) if status == "failed" else None
            gens.append(
                (
                    gid, guild_id, guild_id + 7 + rng.randrange(3), user_id, "en-US",
                    rng.choice(prompts), "blurry" if rng.random() < 0.1 else None, quality,
                    "16:9", duration, rng.randrange(1, 2**31) if rng.random() < 0.2 else None,
                    None, None, f"bench-{gid}",
                    task_id if status not in ("queued", "requested") else None, status,
                    100 if status == "completed" else 50, 90.0, cost,
                    cost if status == "completed" else None,
                    f"https://files.evolink.ai/{task_id}.mp4" if status == "completed" else None,
                    error, "Generation failed." if error else None, 10**18 + gid, None,
                    rng.randrange(3, 20), requested, requested + 1 if status != "queued" else None,
                    finished, finished + 1 if finished else None,
                    "channel" if finished else None, 2 * 10**18 + gid if finished else None,
                    1 if finished else 0, None, finished or requested,
                )
            )  # fmt: skip
            ledger.append(
                (guild_id, user_id, gid, "reserve", -cost, requested, None, "estimate", requested)
            )
            if status in ("failed", "expired", "cancelled"):
                ledger.append(
                    (guild_id, user_id, gid, "refund", cost, requested, None, f"video {status}",
                     finished)
                )  # fmt: skip
            if rng.random() < 0.005:
                ledger.append(
                    (guild_id, user_id, None, "grant", 20.0, requested, USER0 - 1, "bench grant",
                     requested)
                )  # fmt: skip
        db.execute("BEGIN")
        db.executemany(gen_sql, gens)
        db.executemany(ledger_sql, ledger)
        db.execute("COMMIT")
        ledger_rows += len(ledger)

    busiest = db.execute(
        """SELECT guild_id, user_id, COUNT(*) AS n FROM generations
           GROUP BY guild_id, user_id ORDER BY n DESC LIMIT 50"""
    ).fetchall()
    active = db.execute("SELECT DISTINCT guild_id, user_id FROM generations").fetchall()
    big = GUILD0
    export_rows = min(100_000, db.execute(
        "SELECT COUNT(*) FROM generations WHERE guild_id = ?", (big,)).fetchone()[0])  # fmt: skip
    since = db.execute(
        """SELECT requested_at FROM generations WHERE guild_id = ?
           ORDER BY requested_at DESC LIMIT 1 OFFSET ?""",
        (big, export_rows - 1),
    ).fetchone()[0]
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    return {
        "now": NOW,
        "big_guild": big,
        "guilds": [GUILD0 + g for g in range(guilds)],
        "members": [list(m) for m in active],
        "busiest": [list(b) for b in busiest],
        "export_since": since,
        "export_rows": export_rows,
        "ledger_rows": ledger_rows,
    }


async def _target(params: dict[str, Any], database: Path) -> Path | str:
    """The database the queries run on: the fixture file (read once first, so its pages are
    cached), or the PostgreSQL copy of it (params["database_url"], made by to_postgres)."""
    if params.get("database_url"):
        return str(params["database_url"])
    await asyncio.to_thread(warm, database)
    return database


async def to_postgres(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    """Copy the cached fixture into the empty PostgreSQL database params["database_url"] with
    python -m bot.migrate's own copy (checked row by row), then ANALYZE it (the statistics
    PostgreSQL's autovacuum gathers on a live database)."""
    import asyncpg

    from bot.store.copy_to_postgres import copy_to_postgres

    database, _ = fixture_paths(params)
    started = time.perf_counter()
    report = await copy_to_postgres(database, params["database_url"])
    copied = time.perf_counter() - started
    connection = await asyncpg.connect(params["database_url"])
    try:
        await connection.execute("ANALYZE")
        size = await connection.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await connection.close()
    return {"rows": report.rows, "seconds": copied, "size_mb": int(size) / 1e6}


def warm(database: Path) -> float:
    """Read the database file once, so that its pages are in the OS cache, as on a bot that has
    been running for a while (the fixture may have been built long ago). Returns the seconds."""
    started = time.perf_counter()
    with open(database, "rb") as f:
        while f.read(8 << 20):
            pass
    return time.perf_counter() - started


def _bisect(cumulative: list[float], x: float) -> int:
    for i, edge in enumerate(cumulative):
        if x < edge:
            return i
    return len(cumulative) - 1


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


async def _timed(count: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(count):
        t = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - t)
    return out


def _split(times: list[float], on_big: list[bool]) -> dict[str, Any]:
    """All queries (the target's figure), and the largest server's apart from the others."""
    big = [t for t, b in zip(times, on_big, strict=True) if b]
    other = [t for t, b in zip(times, on_big, strict=True) if not b]
    return {**summary(times), "big": summary(big), "other": summary(other)}


async def query(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    from bench.botside import bench_settings
    from bot import moderation as mod_module
    from bot.credits import Credits, Limits, Prices
    from bot.moderation import LogFilter, Moderation
    from bot.store import open_store

    database, meta_path = fixture_paths(params)
    meta = json.loads(meta_path.read_text())
    now = float(meta["now"])
    target = await _target(params, database)
    store = await open_store(target, clock=lambda: now)
    mod = Moderation(store)
    settings = bench_settings(database, "http://127.0.0.1:9", default_user_credits=50.0)
    credits = Credits(store, Limits.from_settings(settings), Prices.from_settings(settings),
                      clock=lambda: now)  # fmt: skip
    count = int(params["queries"])
    rng = random.Random(21)
    big = int(meta["big_guild"])
    guilds = [int(g) for g in meta["guilds"]]
    by_guild: dict[int, list[int]] = {}
    for guild_id, user_id in meta["members"]:
        by_guild.setdefault(int(guild_id), []).append(int(user_id))
    busiest_in: dict[int, int] = {}
    for guild_id, user_id, _ in meta["busiest"]:
        busiest_in.setdefault(int(guild_id), int(user_id))
    in_progress = getattr(mod_module, "STATUS_FILTERS", {}).get(
        "in_progress", ("queued", "requested", "submitted", "running")
    )
    max_id = int(meta["build"]["rows"])

    def since(text: str) -> float:
        return float(mod_module.parse_since(text, now))

    def guild_for(i: int) -> int:
        return big if i % 2 == 0 else rng.choice(guilds)  # half on the largest server

    def member_of(guild_id: int) -> int:
        return rng.choice(by_guild[guild_id])

    async def cursor_in(guild_id: int) -> tuple[float, int]:
        row = await store.fetchone(
            "SELECT requested_at, id FROM generations WHERE guild_id = ? AND id >= ? "
            "ORDER BY id LIMIT 1",
            guild_id, rng.randrange(1, max_id),
        )  # fmt: skip
        if row is None:
            return (now, max_id + 1)
        return (float(row[0]), int(row[1]))

    filters: list[tuple[str, Callable[[int], LogFilter]]] = [
        ("no filter", lambda g: LogFilter(g)),
        ("member", lambda g: LogFilter(g, user_id=member_of(g))),
        ("busiest member", lambda g: LogFilter(g, user_id=busiest_in.get(g, member_of(g)))),
        ("status completed", lambda g: LogFilter(g, statuses=("completed",))),
        ("status failed", lambda g: LogFilter(g, statuses=("failed",))),
        ("status expired", lambda g: LogFilter(g, statuses=("expired",))),
        ("status cancelled", lambda g: LogFilter(g, statuses=("cancelled",))),
        ("status in progress", lambda g: LogFilter(g, statuses=tuple(in_progress))),
        ("since 24h", lambda g: LogFilter(g, since=since("24h"))),
        ("since 30d", lambda g: LogFilter(g, since=since("30d"))),
        ("member + status failed",
         lambda g: LogFilter(g, user_id=member_of(g), statuses=("failed",))),
        ("status failed + since 7d",
         lambda g: LogFilter(g, statuses=("failed",), since=since("7d"))),
        ("member + since 7d", lambda g: LogFilter(g, user_id=member_of(g), since=since("7d"))),
    ]  # fmt: skip
    results: dict[str, Any] = {"log": {}, "credits": {}}
    with prof:
        for name, make in filters:
            cases = [make(guild_for(i)) for i in range(count)]
            times = await _timed(count, lambda i, cases=cases: mod.log_page(cases[i]))  # type: ignore[misc]
            results["log"][name] = _split(times, [c.guild_id == big for c in cases])
        cursors = []
        for i in range(count):
            g = guild_for(i)
            cursors.append((LogFilter(g), await cursor_in(g)))
        times = await _timed(count, lambda i: mod.log_page(cursors[i][0], cursors[i][1]))
        on_big = [c[0].guild_id == big for c in cursors]
        results["log"]["next page deep in history"] = _split(times, on_big)
        who = [(g, member_of(g)) for g in (rng.choice(guilds) for _ in range(count))]
        times = await _timed(count, lambda i: credits.member(who[i][0], who[i][1], ()))
        results["credits"]["random member"] = summary(times)
        top = [(int(g), int(u)) for g, u, _ in meta["busiest"]]
        times = await _timed(count, lambda i: credits.member(*top[i % len(top)], ()))
        results["credits"]["busiest members"] = summary(times)
    results["busiest_rows"] = int(meta["busiest"][0][2])
    await store.close()
    return results


async def export(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    import gzip
    import shutil

    from bot.moderation import LogFilter, Moderation
    from bot.store import open_store

    database, meta_path = fixture_paths(params)
    meta = json.loads(meta_path.read_text())
    now = float(meta["now"])
    target = await _target(params, database)
    store = await open_store(target, clock=lambda: now)
    mod = Moderation(store)
    wanted = LogFilter(int(meta["big_guild"]), since=float(meta["export_since"]))
    try:
        from cogs.moderation import _gzip as pack  # the cog's own compression step
    except ImportError:

        def pack(source: IO[bytes], target: IO[bytes]) -> None:
            with gzip.GzipFile(fileobj=target, mode="wb") as packed:
                shutil.copyfileobj(source, packed)

    rss_before = rss_kib()
    hwm_reset = reset_peak_rss()
    with tempfile.TemporaryFile() as raw, tempfile.TemporaryFile() as packed:
        # as the cog writes it: UTF-8 with a byte-order mark into a temporary file
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        with prof:
            t = time.perf_counter()
            rows = await mod.export_csv(wanted, text)
            text.flush()
            seconds = time.perf_counter() - t
        csv_bytes = raw.tell()
        text.detach()
        rss_peak = peak_rss_kib()
        raw.seek(0)
        t = time.perf_counter()
        pack(raw, packed)
        gzip_seconds = time.perf_counter() - t
        gzip_bytes = packed.tell()

    tracemalloc.start()
    with tempfile.TemporaryFile() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        await mod.export_csv(wanted, text)
        text.flush()
        text.detach()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    await store.close()
    return {
        "rows": rows,
        "seconds": seconds,
        "csv_bytes": csv_bytes,
        "gzip_bytes": gzip_bytes,
        "gzip_seconds": gzip_seconds,
        "rss_before_kib": rss_before,
        "rss_growth_kib": (rss_peak - rss_before) if hwm_reset else None,
        "rss_peak_kib": rss_peak,
        "traced_peak_bytes": traced_peak,
    }
