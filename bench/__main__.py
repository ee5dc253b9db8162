"""Benchmark of the video bot. One command, from the repository root:

    python -m bench                 # the full run: ~9 minutes on 2 cores
    python -m bench --quick         # a smoke run, ~2 minutes
    python -m bench --sections tracking,short,crowd --spread 1,1   # estimates exact
    python -m bench --sections burst,restart --burst-sizes 200
    python -m bench --sections tracking --variants single --profile /tmp/prof
    python -m bench --sections tracking --api-latency-ms 150 --discord-latency-ms 80
    python -m bench --sections backends   # SQLite vs PostgreSQL, one process (bench/backends.py)
    python -m bench --sections processes  # 1, 2 and 3 bot processes on one PostgreSQL

`--profile DIR` writes a cProfile (.prof and a text summary) of the measured part of every job.
Results are in BENCHMARKS.md.

It prints one table per section (figure, value, target, pass/MISS). Everything runs on this
machine over loopback: the real bot in-process on the recorded Discord layer (discord_double/'s
in-process transport), the EvoLink simulator (bot/simulator/) in a process of its own. Each
measurement runs in a fresh process (bench/worker.py), so that no figure inherits another's
memory or warm caches. Needs only the project's own dependencies (`pip install -e ".[test]"`).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from bench.backends import backends
from bench.common import (
    JobFailed,
    SimProcess,
    Table,
    machine,
    mb,
    ms,
    progress,
    run_job,
    sec,
)
from bench.config import OPTIONAL, SECTIONS, Config, log_note, spread3
from bench.processes import processes
from bench.tracking_report import crowd, short, tracking

# --------------------------------------------------------------------------------------------
# 1. Burst
# --------------------------------------------------------------------------------------------


def burst(cfg: Config, run_dir: Path) -> list[Table]:
    table = Table("1. Burst: N members send /video at once")
    for n in cfg.burst_sizes:
        for yields in (True, False):
            progress(f"burst N={n} ({'gateway pace' if yields else 'pre-buffered'})")
            with SimProcess() as sim:
                params = {"n": n, "yields": yields, "sim_url": sim.url,
                          "variant": "gateway" if yields else "buffered"}  # fmt: skip
                r = run_job("burst", params, run_dir, cfg.profile)
            mode = "" if yields else ", pre-buffered burst"
            ack, status = r["ack"], r["status"]
            if n == 200:  # decided before answering (private refusals): a store transaction each
                target, ok = "p99 < 1,000 ms", ack["p99"] < 1.0
            else:
                target, ok = "max < 3,000 ms (Discord)", ack["max"] < 3.0
            table.add(f"N={n}{mode}: acknowledgement", spread3(ack, ms, ("p50", "p99", "max")),
                      target, ok and r["acked"] == n)  # fmt: skip
            if yields:
                table.add(f"N={n}: status message shown",
                          spread3(status, ms, ("p50", "p99", "max")))  # fmt: skip
                refused = n - r["status_shown"] + r["followups"]
                table.add(
                    f"N={n}: refused / tasks created",
                    f"{refused} refused · {r['creates']} created · {r['status_shown']} shown",
                    "0 refused, N created", refused == 0 and r["creates"] == n,
                )  # fmt: skip
                table.add(f"N={n}: whole burst handled in", sec(r["drain_seconds"]))
            if r["errors"]:
                table.notes.append(f"N={n}: task errors: {r['errors']}")
    table.notes += [
        "acknowledgement: from the payload entering discord.py's INTERACTION_CREATE parser to "
        'the private deferred response ({"type": 5}, after the ban, blocklist and credit checks '
        "and the reservation, which decide before Discord is answered); status message: to the "
        "status posted in the channel (the embed with the task id, after the EvoLink create and "
        "two database transactions). Network time to Discord not included.",
        "gateway pace: one payload per turn of the event loop, as the gateway reader delivers "
        "them; pre-buffered: all N parsed before any handler runs (a burst already sitting in "
        "the websocket buffer), so each acknowledgement also waits for discord.py to parse the "
        "payloads after it (~0.1 ms each).",
        "limits lifted for the run (unlimited credits, 50 running per member, no cooldown or "
        "caps): nothing within limits may be refused.",
    ]
    return [table]


# --------------------------------------------------------------------------------------------
# 3. Restart
# --------------------------------------------------------------------------------------------


def restart(cfg: Config, run_dir: Path) -> list[Table]:
    progress(f"restart with {cfg.restart_tasks:,} active tasks")
    with SimProcess() as sim:
        params = {"tasks": cfg.restart_tasks, "sim_url": sim.url, "poll": cfg.poll}
        run_job("restart-prepare", params, run_dir)
        r = run_job("restart", params, run_dir, cfg.profile)
    t = Table(f"3. Restart with {cfg.restart_tasks:,} active tasks to resume")
    t.add("interpreter start + `import bot.ui.client`", sec(r["interpreter"] + r["imports"]))
    t.add("login + setup_hook + command sync", sec(r["login"]))
    t.add("process start -> ready", sec(r["to_ready"]), "< 5 s", r["to_ready"] < 5.0)
    t.add(f"ready -> all {r['due_at_start']:,} due tasks queried once", sec(r["first_pass"]))
    t.add("process start -> first pass over due tasks done", sec(r["to_first_pass"]))
    t.add("queries in that first pass", f"{r['batch_queries']:,} batch + "
          f"{r['single_queries']:,} single")  # fmt: skip
    t.add("status edits sent in that time", f"{r['edits']:,}")
    t.add("resident memory: at ready · peak", f"{mb(r['rss_ready_kib'])} · "
          f"{mb(r['rss_peak_kib'])}")  # fmt: skip
    if r["left_unqueried"]:
        t.notes.append(f"{r['left_unqueried']:,} tasks were still not queried at the deadline")
    t.notes += [
        "ready: `bot.login()` returned, i.e. REST login, setup_hook (database open and "
        "migration check, EvoLink client, cogs) and the command sync are done; the bot would "
        "now open the gateway (not simulated; Discord's own READY adds network time).",
        "every task is due at start (the bot was down longer than a poll interval); the "
        "tracker takes 1,000 due rows per pass.",
    ]
    log_note(t, r)
    return [t]


# --------------------------------------------------------------------------------------------
# 4. History
# --------------------------------------------------------------------------------------------


def history(cfg: Config, run_dir: Path) -> list[Table]:
    params = {
        "rows": cfg.history_rows,
        "guilds": cfg.guilds,
        "members": cfg.members,
        "seed": cfg.seed,
        "cache_dir": str(cfg.cache_dir),
        "queries": cfg.queries,
    }
    progress(f"history fixture: {cfg.history_rows:,} generations (cached in {cfg.cache_dir})")
    built = run_job("history-build", params, run_dir)
    progress(f"history queries: {cfg.queries} per filter")
    q = run_job("history-query", params, run_dir, cfg.profile)
    progress("history export")
    e = run_job("history-export", params, run_dir, cfg.profile)

    t = Table(f"4. History: {cfg.history_rows:,} generations, {cfg.guilds} servers, "
              f"{cfg.members:,} members")  # fmt: skip
    how = "reused from cache" if built["cached"] else f"built in {sec(built['seconds'])}"
    t.add("fixture", f"{built['rows']:,} generations + {built['ledger_rows']:,} ledger rows, "
          f"{built['size_mb']:,.0f} MB, {how}")  # fmt: skip
    for name, s in q["log"].items():
        value = spread3(s, ms, ("p50", "p95", "max"))
        value += f" (largest server p50 {ms(s['big']['p50'])}, others {ms(s['other']['p50'])})"
        t.add(f"/videomod log: {name}", value, "p95 < 50 ms", s["p95"] < 0.050)
    for name, s in q["credits"].items():
        t.add(f"/credits: {name}", spread3(s, ms, ("p50", "p95", "max")), "p95 < 5 ms",
              s["p95"] < 0.005)  # fmt: skip
    t.add(f"CSV export: {e['rows']:,} rows", f"{sec(e['seconds'])} "
          f"({e['rows'] / e['seconds']:,.0f} rows/s), {e['csv_bytes'] / 1e6:,.1f} MB")  # fmt: skip
    growth = e["rss_growth_kib"]
    traced = e["traced_peak_bytes"] / 1024
    peak = max(growth or 0, traced)
    t.add("CSV export: peak memory", f"RSS +{mb(growth) if growth is not None else 'n/a'} · "
          f"Python allocations {mb(traced)}", "< 100 MB", peak < 100 * 1024)  # fmt: skip
    limit = 10 * 1024 * 1024
    t.add("CSV export: gzip for the upload", f"{e['gzip_bytes'] / 1e6:,.1f} MB in "
          f"{sec(e['gzip_seconds'])}; fits 10 MiB upload: "
          f"{'yes' if e['gzip_bytes'] <= limit else 'NO'}")  # fmt: skip
    t.notes += [
        f"{cfg.queries} queries per figure: half on the largest server (15 % of all rows), half "
        "on random servers; members drawn from those with history. Timed around the service "
        "call the command makes (Moderation.log_page, one 6-row page; Credits.member), "
        "through the bot's Store (aiosqlite).",
        "no ANALYZE was run on the fixture: the bot never runs one, so SQLite plans without "
        "statistics, as in production. The database file is read once before timing (pages in "
        "the OS cache, as on a bot that has been up for a while).",
        "export: Moderation.export_csv into a temporary file, UTF-8 with BOM, as the cog does; "
        "RSS growth = peak resident (VmHWM, reset before) minus resident before; Python "
        "allocations = tracemalloc peak of a second, traced export.",
        f"busiest member: {q['busiest_rows']:,} generations.",
    ]
    return [t]


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


RUNNERS: dict[str, Callable[[Config, Path], list[Table]]] = {
    "burst": burst,
    "tracking": tracking,
    "short": short,
    "crowd": crowd,
    "restart": restart,
    "history": history,
    "backends": backends,
    "processes": processes,
}


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark of the video bot: one table per section. "
        "Results and how to read them: BENCHMARKS.md.",
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run (< 60 s)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, from {', '.join(SECTIONS + OPTIONAL)}")  # fmt: skip
    parser.add_argument("--burst-sizes", help="comma-separated N (default 50,200,1000)")
    parser.add_argument("--tasks", type=int, help="active tasks to track (default 10,000)")
    parser.add_argument("--process-tasks", type=int,
                        help="tasks per bot process in `processes` (2,000)")  # fmt: skip
    parser.add_argument("--poll", type=float, help="poll interval, s (default 10)")
    parser.add_argument("--window", type=float, help="tracking window, s (default 40)")
    parser.add_argument("--variants", help="tracking variants: batch,single,callbacks,naive,"
                        "none-until-done")  # fmt: skip
    parser.add_argument("--schedules", help="tracking schedules: fixed,predicted (both)")
    parser.add_argument("--profiles", help="the progress profiles of the tracking mix "
                        "(default linear,s-curve,stepwise,stuck-then-done)")  # fmt: skip
    parser.add_argument("--spread", help="a task's real length / its estimate: LOW,HIGH "
                        "(default 0.95,1.05)")  # fmt: skip
    parser.add_argument("--video-kb", type=int, help="size of the result file (default 256)")
    parser.add_argument("--api-latency-ms", type=float, help="added to each EvoLink answer (0)")
    parser.add_argument("--discord-latency-ms", type=float, help="added to each Discord call (0)")
    parser.add_argument("--poll-concurrency", type=int, help="POLL_CONCURRENCY (bot default)")
    parser.add_argument("--metrics", action="store_true", help="track with METRICS_PORT on")
    parser.add_argument("--restart-tasks", type=int, help="tasks to resume (default 10,000)")
    parser.add_argument("--history-rows", type=int, help="generations (default 1,000,000)")
    parser.add_argument("--queries", type=int, help="queries per history figure (200)")
    parser.add_argument("--cache-dir", type=Path, help="where the history fixture is cached")
    parser.add_argument("--profile", type=Path, help="write a cProfile of every job here")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    parser.add_argument("--keep", action="store_true", help="keep the run's temporary files")
    parser.add_argument("--database-url", help="PostgreSQL server for `backends` (may CREATE "
                        "DATABASE); default: a throwaway one")  # fmt: skip
    args = parser.parse_args(argv)
    cfg = Config.quick_run() if args.quick else Config()
    cfg.sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = set(cfg.sections) - set(SECTIONS + OPTIONAL)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.variants:
        cfg.variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    if args.schedules:
        cfg.schedules = tuple(v.strip() for v in args.schedules.split(",") if v.strip())
    if args.profiles:
        cfg.profiles = tuple(v.strip() for v in args.profiles.split(",") if v.strip())
    if args.spread:
        low, high = (float(v) for v in args.spread.split(","))
        cfg.spread = (low, high)
    if args.burst_sizes:
        cfg.burst_sizes = [int(n) for n in args.burst_sizes.split(",")]
    for name in ("tasks", "poll", "window", "video_kb", "api_latency_ms", "discord_latency_ms",
                 "poll_concurrency", "restart_tasks", "history_rows", "queries", "process_tasks",
                 "cache_dir", "profile", "markdown", "database_url"):  # fmt: skip
        value = getattr(args, name)
        if value is not None:
            setattr(cfg, name, value)
    cfg.keep = args.keep
    cfg.metrics = args.metrics
    return cfg


def one_run_at_a_time() -> IO[str]:
    """Two runs on one 2-core machine would measure each other: wait for the other one."""
    lock = open(Path(tempfile.gettempdir()) / "evolink-bench.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        progress("another benchmark run is in progress on this machine; waiting for it to end")
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = parse_args(argv)
    lock = one_run_at_a_time()
    started = time.time()
    run_dir = Path(tempfile.mkdtemp(prefix="evolink-bench-"))
    command = "python -m bench" + ("" if not argv else " " + " ".join(argv))
    head = Table("Machine and run")
    for key, value in machine().items():
        head.add(key, value)
    head.add("command", command)
    head.add("started", time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)))
    print(head.text() + "\n", flush=True)
    if os.getloadavg()[0] > 0.5:
        progress("the machine is not idle (load average above 0.5): figures will be disturbed")
    tables: list[Table] = [head]
    failed = False
    try:
        for name in SECTIONS + OPTIONAL:
            if name not in cfg.sections:
                continue
            section_start = time.time()
            try:
                done = RUNNERS[name](cfg, run_dir)
            except JobFailed as exc:
                failed = True
                done = [Table(f"{name}: could not run", notes=[str(exc)])]
            done[-1].notes.append(f"section time: {time.time() - section_start:,.0f} s")
            for table in done:
                print(table.text() + "\n", flush=True)
            tables += done
    finally:
        if cfg.keep:
            progress(f"run files kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    total = time.time() - started
    misses = [f"{t.title}: {r.figure}" for t in tables for r in t.rows if r.ok is False]
    load = os.getloadavg()[0]
    print(f"Load average at the end: {load:.2f} (this run itself keeps about 1.5 busy).")
    print(f"Total run time: {total:,.0f} s. Targets missed: {len(misses)}"
          + (" (" + "; ".join(misses) + ")" if misses else ""))  # fmt: skip
    lock.close()
    if cfg.markdown is not None:
        body = "\n\n".join(t.markdown() for t in tables)
        cfg.markdown.write_text(f"{body}\n\nTotal run time: {total:,.0f} s.\n")
        (cfg.markdown.with_suffix(".json")).write_text(
            json.dumps([t.to_json() for t in tables], indent=1)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
