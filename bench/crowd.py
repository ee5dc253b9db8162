"""Section 7: a crowd of members send /video at once to an EvoLink that takes only a few creates a
second (`POST /_sim/faults {"create_rate_limit_per_second": N}`).

The real bot (production wiring: wall clock, tracker running) on the recorded Discord layer;
the simulator in its own process, its videos short. Nobody may be refused: a create EvoLink does
not take waits in line and is made after Retry-After, in the order members asked. Measured: who
was refused, when each request's task was made (the bot's `submitted_at`) and when each video was
posted, against the order of the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from bench.botside import BENCH_CHANNEL, BENCH_GUILD, BENCH_USER, BenchFakeDiscord, bench_settings
from bench.runtime import Profiler, production_logging
from discord_double.routes import WEBHOOK as FOLLOWUP


def out_of_order(values: list[float]) -> int:
    """Neighbours in the wrong order (0: sorted)."""
    return sum(1 for a, b in itertools.pairwise(values) if b < a)


async def run(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    from bot.ui.client import VideoBot
    from discord_double import TaskTracker, option, slash_command, start_bot

    n = int(params["n"])
    run_dir = Path(params["_run_dir"]) / f"crowd-{n}"
    run_dir.mkdir(parents=True, exist_ok=True)
    logs = production_logging(run_dir / "bot.log")
    async with httpx.AsyncClient(base_url=params["sim_url"]) as sim:
        limit = {"create_rate_limit_per_second": float(params["creates_per_second"])}
        (await sim.post("/_sim/faults", json=limit)).raise_for_status()
    settings = bench_settings(run_dir / "bot.db", params["sim_url"], poll_interval=10.0)
    fake = BenchFakeDiscord()
    fake.install()
    bot = VideoBot(settings)
    try:
        await start_bot(bot, fake)
        await asyncio.sleep(0.5)  # start-up work (the EvoLink key check) is over
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
        everyone = fake.delivered(set(range(1, n + 1)))
        parse = bot._connection.parsers["INTERACTION_CREATE"]
        with TaskTracker() as handlers:
            with prof:
                started = time.time()
                for payload in payloads:
                    parse(payload)
                    await asyncio.sleep(0)  # the gateway reader awaits the next message
                await handlers.settle(max_wait=120, reraise=False)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(float(params["timeout"])):
                        await everyone.wait()
            finished = time.time()
    finally:
        await bot.close()
        fake.uninstall()

    db = sqlite3.connect(settings.database_path)
    try:
        made = dict(db.execute("SELECT id, submitted_at FROM generations ORDER BY id").fetchall())
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM generations GROUP BY status"))
    finally:
        db.close()
    created = [made[i] for i in sorted(made) if made[i] is not None]
    posted = [fake.deliveries[i] for i in sorted(fake.deliveries)]
    return {
        "n": n,
        "refused": fake.count("POST", FOLLOWUP),
        "created": len(created),
        "delivered": len(fake.deliveries),
        "created_out_of_order": out_of_order(created),
        "delivered_out_of_order": out_of_order(posted),
        "all_created_after": max(created) - started if created else None,
        "all_delivered_after": max(posted) - started if posted else None,
        "seconds": finished - started,
        "statuses": statuses,
        "log_counts": dict(logs.counts),
        "log_first": logs.first,
    }
