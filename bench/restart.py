"""Section 3: a restart with 10,000 active tasks to resume.

`restart-prepare` (one process) writes the database a crashed bot would leave: 10,000 running
tasks, every one due for a query (the bot was down longer than a poll interval), their status
messages posted; and gives the simulator the same tasks (none ends during the measurement).
`restart` (a fresh process) then starts the bot as `python -m bot` would and times:
* process start -> imports done (interpreter start-up and `import bot.ui.client`);
* login -> ready: `bot.login()`, i.e. the REST login, `setup_hook` (database open and
  migrations check, EvoLink client, cogs) and the command sync; "ready" is when login returns:
  the bot can connect to the gateway and answer commands (the gateway itself is not simulated);
* ready -> first pass: until every task that was due at start has been queried once.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.common import peak_rss_kib, rss_kib
from bench.runtime import Profiler, production_logging

ACTIVE = "('requested', 'submitted', 'running')"


def _db(params: dict[str, Any]) -> Path:
    return Path(params["_run_dir"]) / "restart" / "bot.db"


async def prepare(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    from bench.botside import insert_active, load_plan, make_plan
    from bot.store import open_store

    database = _db(params)
    database.parent.mkdir(parents=True, exist_ok=True)
    store = await open_store(database)  # the bot's own schema and migrations
    await store.close()
    now = time.time()
    plan = make_plan(int(params["tasks"]), now, seed=11, lengths=(1800, 3600), min_remaining=900)
    await load_plan(params["sim_url"], plan, database.parent / "plan.json", None)
    rng = random.Random(2)
    await asyncio.to_thread(insert_active, database, plan, lambda p: now - rng.uniform(0, 60), now)
    return {"tasks": len(plan)}


def _due(database: Path, since: float) -> int:
    db = sqlite3.connect(database, timeout=10)
    try:
        row = db.execute(
            f"SELECT COUNT(*) FROM generations WHERE status IN {ACTIVE} AND next_poll_at <= ?",
            (since,),
        ).fetchone()
        return int(row[0])
    finally:
        db.close()


async def run(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    spawned = float(params["_spawned_at"])
    interpreter = float(params["_worker_started"])
    before_imports = time.time()
    from bot.ui.client import VideoBot  # what `python -m bot` imports

    imported = time.time()

    from bench.botside import BenchFakeDiscord, bench_settings, sim_stats
    from discord_double import start_bot
    from discord_double.routes import CHANNEL_MESSAGE

    database = _db(params)
    logs = production_logging(database.parent / "bot.log")
    fake = BenchFakeDiscord(lean=True)
    db = sqlite3.connect(database)
    try:
        pairs = db.execute("SELECT status_message_id, channel_id FROM generations").fetchall()
    finally:
        db.close()
    fake.add_status_messages(pairs)  # the members' status messages, still on Discord
    fake.install()
    settings = bench_settings(database, params["sim_url"], poll_interval=float(params["poll"]))
    due_at_start = _due(database, time.time())
    stats0 = await sim_stats(params["sim_url"])

    bot = VideoBot(settings)
    try:
        with prof:
            login = time.time()
            await start_bot(bot, fake)
            ready = time.time()
            rss_ready = rss_kib()
            left = due_at_start
            deadline = ready + 300
            while left > 0 and time.time() < deadline:
                await asyncio.sleep(0.02)
                left = await asyncio.to_thread(_due, database, login)
            first_pass = time.time()
        edits = fake.count("PATCH", CHANNEL_MESSAGE)
        stats1 = await sim_stats(params["sim_url"])
    finally:
        await bot.close()
        fake.uninstall()
    counts0, counts1 = stats0["counts"], stats1["counts"]
    return {
        "tasks": len(pairs),
        "due_at_start": due_at_start,
        "left_unqueried": left,
        "interpreter": interpreter - spawned,
        "imports": imported - before_imports,
        "login": ready - login,
        "to_ready": (interpreter - spawned) + (imported - before_imports) + (ready - login),
        "first_pass": first_pass - ready,
        "to_first_pass": (interpreter - spawned) + (imported - before_imports) + first_pass - login,
        "batch_queries": counts1.get("batch", 0) - counts0.get("batch", 0),
        "single_queries": counts1.get("query", 0) - counts0.get("query", 0),
        "edits": edits,
        "rss_ready_kib": rss_ready,
        "rss_peak_kib": peak_rss_kib(),
        "log_counts": dict(logs.counts),
        "log_first": logs.first,
    }
