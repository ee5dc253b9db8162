"""8. Several bot processes on one PostgreSQL database: the tracking load of section 2 (batch
route, the bot's predicted looks), shared by 1, 2 and 3 processes, each process's share the
same (`--tasks` each: 3 processes follow three times the tasks of one); then the load of 3 on
one process alone, for comparison.

Every process is the real bot with its real tracker over the one database (a fresh database per
run, the rows claimed with leases: bot/store/work.py), against one simulator process. The first
process loads the work (the simulator's tasks, the rows, the new submissions of the window) and
measures; the others only run the bot. Lag = the video recorded delivered (by whichever process)
minus the moment the task turned terminal at the API.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.backends import fresh_database, postgres_server
from bench.common import SimProcess, Table, progress, run_job, sec

if TYPE_CHECKING:
    from bench.config import Config

PROCESS_COUNTS = (1, 2, 3)
STARTUP = 12.0  # seconds for every process to import discord.py and start, on a busy machine


def _params(cfg: Config, processes: int, tasks: int) -> dict[str, Any]:
    return {
        "tasks": tasks, "poll": cfg.poll, "window": cfg.window,
        "min_length": cfg.min_length, "max_length": cfg.max_length,
        "naive_interval": cfg.naive_interval, "seed": cfg.seed,
        "discord_latency_ms": cfg.discord_latency_ms, "poll_concurrency": cfg.poll_concurrency,
        "metrics": False, "variant": "batch", "processes": processes,
    }  # fmt: skip


def _run(
    cfg: Config, run_dir: Path, admin: str, processes: int, tasks: int
) -> list[dict[str, Any]]:
    with (
        SimProcess(
            batch=True, video_bytes=cfg.video_kb * 1024, latency_ms=cfg.api_latency_ms
        ) as sim,
        fresh_database(admin, f"bench_scale_{processes}") as url,
    ):
        done = run_dir / f"scale-{processes}-done-{time.monotonic_ns()}"
        t0 = time.time() + STARTUP + 2.0 * processes
        shared = {**_params(cfg, processes, tasks), "sim_url": sim.url, "database_url": url,
                  "t0": t0, "done_file": str(done)}  # fmt: skip
        with ThreadPoolExecutor(max_workers=processes) as pool:
            jobs = [
                pool.submit(run_job, "tracking", {**shared, "index": i}, run_dir, cfg.profile)
                for i in range(processes)
            ]
            return [job.result() for job in jobs]


def scale(cfg: Config, run_dir: Path) -> list[Table]:
    results: dict[int, list[dict[str, Any]]] = {}
    with postgres_server(cfg.database_url) as admin:
        for n in PROCESS_COUNTS:
            progress(f"tracking {cfg.tasks * n:,} tasks with {n} process(es) on PostgreSQL")
            results[n] = _run(cfg, run_dir, admin, n, cfg.tasks * n)
        most = max(PROCESS_COUNTS)
        progress(f"tracking {cfg.tasks * most:,} tasks with 1 process on PostgreSQL")
        alone = _run(cfg, run_dir, admin, 1, cfg.tasks * most)[0]

    t = Table(f"8. Several processes on one PostgreSQL: {cfg.tasks:,} active tasks per process")
    one = results[1][0]
    for n, runs in results.items():
        first = runs[0]
        lag = first["lag"]
        cpu = " + ".join(f"{100 * r['cpu_share']:.0f} %" for r in runs)
        t.add(
            f"{n} process(es): {first['tasks']:,} tasks, ended -> delivered",
            f"{first['delivered']:,}/{first['ended']:,}",
            "all",
            first["delivered"] == first["ended"],
        )
        t.add(f"{n} process(es): lag p50 · p95 · max",
              f"{sec(lag['p50'])} · {sec(lag['p95'])} · {sec(lag['max'])}")  # fmt: skip
        t.add(f"{n} process(es): CPU of each (% of one core)", cpu)
        if n > 1:
            followed = first["tasks"] / one["tasks"]
            same_lag = lag["p95"] <= max(one["lag"]["p95"] * 1.25, one["lag"]["p95"] + 0.5)
            t.add(f"{n} process(es): tasks followed / one process's, lag p95 kept",
                  f"{followed:.1f}x, p95 {sec(lag['p95'])} vs {sec(one['lag']['p95'])}",
                  "3 processes: >= 2.5x at the same lag" if n == 3 else "",
                  same_lag if n == 3 else None)  # fmt: skip
    lag = alone["lag"]
    t.add(f"1 process alone with {alone['tasks']:,} tasks: ended -> delivered",
          f"{alone['delivered']:,}/{alone['ended']:,}")  # fmt: skip
    t.add(f"1 process alone with {alone['tasks']:,} tasks: lag p50 · p95 · max",
          f"{sec(lag['p50'])} · {sec(lag['p95'])} · {sec(lag['max'])}")  # fmt: skip
    t.add(f"1 process alone with {alone['tasks']:,} tasks: CPU (% of one core)",
          f"{100 * alone['cpu_share']:.0f} %")  # fmt: skip

    from bot.request_budget import RequestBudget  # the bot's own figures, imported late
    from bot.settings import DEFAULTS

    limit = DEFAULTS.discord_rate_limit
    runs = [r for n in PROCESS_COUNTS for r in results[n]]
    posts = sum(r["posts"] for r in runs)
    if posts:
        per_video = sum(r["posts"] + r["edits"] + r["deletes"] for r in runs) / posts
        rate = RequestBudget(limit).rate
        t.add("bot-token requests per video (post, status edits, status removed)",
              f"{per_video:.1f}")  # fmt: skip
        t.add("videos a second one bot token sustains, every process together",
              f"{rate / per_video:.0f} (Discord's {limit:.0f} requests/s, "
              f"{rate:.0f} of them spent steadily)")  # fmt: skip
    t.notes += [
        "the stand-in Discord has no global limit here (DISCORD_GLOBAL_RATE_LIMIT lifted), so "
        "the figures are the trackers'; the last two rows say what Discord's limit allows, "
        "shared by every process through the database (bot/request_budget.py).",
        "each run: a fresh PostgreSQL database (a throwaway server, fsync off, or "
        "--database-url), one simulator process (batch route), N bot processes started "
        "together; every process polls, delivers and claims from the same rows.",
        "all processes share this machine's cores with PostgreSQL and the simulator: the "
        "figures show the claims' overhead and the lag kept, not a cluster's capacity.",
    ]
    return [t]
