"""6. SQLite vs PostgreSQL for one bot process: the tracking run (batch route) and the history
queries of sections 2 and 4, once on each backend, side by side.

PostgreSQL: the server at --database-url (a user who may create databases; the section makes
and drops its own), or else a throwaway one that .ci/postgres starts and stops, tuned like the
tests' (no fsync: the figures are the bot's work, not the disk's). The history fixture is the
cached SQLite file of section 4, copied into PostgreSQL with python -m bot.migrate's own copy
(timed: it is also the figure of a move to PostgreSQL), then ANALYZEd.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from bench.common import SimProcess, Table, ms, progress, run_job, sec

if TYPE_CHECKING:
    from bench.config import Config

CI_POSTGRES = Path(__file__).resolve().parents[1] / ".ci" / "postgres"


@contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    """The admin URL of a server to make databases on: `url`, or a throwaway one."""
    if url:
        yield url
        return
    progress("starting a throwaway PostgreSQL (.ci/postgres)")
    done = subprocess.run([str(CI_POSTGRES), "start"], capture_output=True, text=True, check=True)
    started, folder = done.stdout.split()
    try:
        yield started
    finally:
        subprocess.run([str(CI_POSTGRES), "stop", folder], check=False)


def _admin(url: str, statement: str) -> None:
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@contextmanager
def fresh_database(admin_url: str, name: str) -> Iterator[str]:
    name = f"{name}_{os.getpid()}"
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tracking_params(cfg: Config) -> dict[str, Any]:
    return {
        "tasks": cfg.tasks, "poll": cfg.poll, "window": cfg.window,
        "min_length": cfg.min_length, "max_length": cfg.max_length,
        "naive_interval": cfg.naive_interval, "seed": cfg.seed,
        "discord_latency_ms": cfg.discord_latency_ms, "poll_concurrency": cfg.poll_concurrency,
        "metrics": cfg.metrics, "variant": "batch",
    }  # fmt: skip


def _history_params(cfg: Config) -> dict[str, Any]:
    return {
        "rows": cfg.history_rows, "guilds": cfg.guilds, "members": cfg.members,
        "seed": cfg.seed, "cache_dir": str(cfg.cache_dir), "queries": cfg.queries,
    }  # fmt: skip


def _side(a: str, b: str) -> str:
    return f"SQLite {a} · PostgreSQL {b}"


def backends(cfg: Config, run_dir: Path) -> list[Table]:
    tracked: dict[str, dict[str, Any]] = {}
    queried: dict[str, dict[str, Any]] = {}
    history = _history_params(cfg)
    with postgres_server(cfg.database_url) as admin:
        for name in ("sqlite", "postgres"):
            progress(f"tracking {cfg.tasks:,} tasks on {name} (batch route)")
            with SimProcess(batch=True, video_bytes=cfg.video_kb * 1024,
                            latency_ms=cfg.api_latency_ms) as sim:  # fmt: skip
                params = {**_tracking_params(cfg), "sim_url": sim.url}
                if name == "postgres":
                    with fresh_database(admin, "bench_tracking") as url:
                        tracked[name] = run_job("tracking", {**params, "database_url": url},
                                                run_dir, cfg.profile)  # fmt: skip
                else:
                    tracked[name] = run_job("tracking", params, run_dir, cfg.profile)
        progress(f"history fixture: {cfg.history_rows:,} generations")
        run_job("history-build", history, run_dir)
        queried["sqlite"] = run_job("history-query", history, run_dir, cfg.profile)
        with fresh_database(admin, "bench_history") as url:
            progress("history fixture copied into PostgreSQL (python -m bot.migrate's copy)")
            copied = run_job("history-to-postgres", {**history, "database_url": url}, run_dir)
            queried["postgres"] = run_job("history-query", {**history, "database_url": url},
                                          run_dir, cfg.profile)  # fmt: skip

    t = Table(f"6. SQLite vs PostgreSQL, one process: tracking {cfg.tasks:,} tasks, "
              f"history of {cfg.history_rows:,}")  # fmt: skip
    s, p = tracked["sqlite"], tracked["postgres"]
    t.add("tracking: ended -> delivered", _side(f"{s['delivered']:,}/{s['ended']:,}",
          f"{p['delivered']:,}/{p['ended']:,}"), "all",
          s["delivered"] == s["ended"] and p["delivered"] == p["ended"])  # fmt: skip
    for q in ("p50", "p95", "max"):
        t.add(f"tracking: completion -> delivery, {q}", _side(sec(s["lag"][q]), sec(p["lag"][q])))
    t.add("tracking: bot CPU (% of one core)", _side(f"{100 * s['cpu_share']:.0f} %",
          f"{100 * p['cpu_share']:.0f} %"))  # fmt: skip
    t.add("tracking: API requests per second", _side(f"{s['requests'] / s['window']:.1f}",
          f"{p['requests'] / p['window']:.1f}"))  # fmt: skip
    sq, pq = queried["sqlite"], queried["postgres"]
    for group in ("log", "credits"):
        for name, figures in sq[group].items():
            label = "/videomod log" if group == "log" else "/credits"
            theirs = pq[group][name]
            t.add(f"{label}: {name}, p50 · p95",
                  _side(f"{ms(figures['p50'])} · {ms(figures['p95'])}",
                        f"{ms(theirs['p50'])} · {ms(theirs['p95'])}"))  # fmt: skip
    t.add("move to PostgreSQL (bot.migrate's copy, checked row by row)",
          f"{copied['rows']:,} rows in {sec(copied['seconds'])} "
          f"({copied['rows'] / copied['seconds']:,.0f} rows/s), "
          f"{copied['size_mb']:,.0f} MB")  # fmt: skip
    t.notes += [
        "one bot process on each backend, the same simulator load (section 2's batch variant) "
        "and the same history queries (section 4's); PostgreSQL on this machine over loopback, "
        "a pool of DATABASE_POOL_SIZE (10) connections, fsync off (a throwaway server).",
        "PostgreSQL's history copy is ANALYZEd (autovacuum does it on a live server); SQLite's "
        "file has no statistics, as in production.",
    ]
    return [t]
