"""Section 1: N members send /video at once.

The real bot (production wiring: wall clock, tracker running) on the recorded Discord layer; the
EvoLink simulator in its own process. Each INTERACTION_CREATE payload is fed to
`bot._connection.parsers["INTERACTION_CREATE"]` as discord.py's gateway reader does, one message
per turn of the event loop, all N back to back (`yields`), or all N parsed before any handler
runs (`yields=False`: a burst already buffered in the websocket, the worst case). Timestamps
(time.perf_counter):
* sent: just before the payload is parsed;
* acknowledged: the interaction callback reaching the Discord layer (a private "thinking…",
  `{"type": 5}`, once the request was admitted; a refusal would be the answer itself);
* status: the status message (with the task id) posted in the channel.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.botside import (
    BENCH_CHANNEL,
    BENCH_GUILD,
    BENCH_USER,
    BenchFakeDiscord,
    bench_settings,
    sim_stats,
)
from bench.common import summary
from bench.runtime import Profiler, production_logging
from discord_double.routes import WEBHOOK as FOLLOWUP


async def run(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    from bot.ui.client import VideoBot
    from discord_double import TaskTracker, option, slash_command, start_bot

    n = int(params["n"])
    gateway_yields = bool(params.get("yields", True))
    run_dir = Path(params["_run_dir"]) / f"burst-{n}-{'yield' if gateway_yields else 'tight'}"
    run_dir.mkdir(parents=True, exist_ok=True)
    logs = production_logging(run_dir / "bot.log")
    settings = bench_settings(run_dir / "bot.db", params["sim_url"])
    fake = BenchFakeDiscord(clock=time.perf_counter)
    fake.install()
    bot = VideoBot(settings)
    errors: list[str] = []
    try:
        await start_bot(bot, fake)
        await asyncio.sleep(0.5)  # start-up work (the EvoLink key check) is over: not a burst's
        payloads = [
            slash_command(
                "video",
                [option("prompt", f"member {i}: a paper boat drifting down a rainy street")],
                user_id=BENCH_USER + i,
                guild_id=BENCH_GUILD,
                channel_id=BENCH_CHANNEL,
            )
            for i in range(n)
        ]
        for payload in payloads:
            fake.register_interaction(payload)
        parse = bot._connection.parsers["INTERACTION_CREATE"]
        sent: dict[int, float] = {}
        with TaskTracker() as tracker:
            with prof:
                started = time.perf_counter()
                for payload in payloads:
                    sent[int(payload["id"])] = time.perf_counter()
                    parse(payload)
                    if gateway_yields:  # the gateway reader awaits the next message
                        await asyncio.sleep(0)
                injected = time.perf_counter()
                await tracker.settle(max_wait=600, reraise=False)
            drained = time.perf_counter()
        for task in tracker.tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                errors.append(repr(task.exception())[:300])
        stats = await sim_stats(params["sim_url"])
    finally:
        await bot.close()
        fake.uninstall()

    acks = [fake.acks[i][0] - t for i, t in sent.items() if i in fake.acks]
    kinds = Counter(str(fake.acks[i][1]) for i in sent if i in fake.acks)
    status = [
        fake.statuses[user] - sent[int(p["id"])]
        for p in payloads
        if (user := int(p["member"]["user"]["id"])) in fake.statuses
    ]
    db = sqlite3.connect(settings.database_path)
    try:
        rows = dict(db.execute("SELECT status, COUNT(*) FROM generations GROUP BY status"))
    finally:
        db.close()
    return {
        "n": n,
        "yields": gateway_yields,
        "ack": summary(acks),
        "acked": len(acks),
        "ack_kinds": dict(kinds),
        "status": summary(status),
        "status_shown": len(status),
        "followups": fake.count("POST", FOLLOWUP),
        "rows": rows,
        "creates": stats["counts"].get("create", 0),
        "inject_seconds": injected - started,
        "drain_seconds": drained - started,
        "errors": errors[:5],
        "log_counts": dict(logs.counts),
        "log_first": logs.first,
    }
