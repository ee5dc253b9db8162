"""8. Several bot processes on one PostgreSQL: the tracking run of section 2 (batch route, the
predicted schedule, the mix of progress profiles), with 1, 2 and 3 bot processes following 1, 2
and 3 times the tasks, side by side.

Each process is the real bot (its tracker loop, claims and leases, bot/store/work.py) on the
recorded Discord layer, as in section 2; they share one PostgreSQL database and one simulator.
The tasks running at t0 are written once, unclaimed (`procs-setup`); new submissions arrive in
every process, each taking its share (as members' commands reach the shards a process runs), so
any process may deliver any video: the figures count each delivery once, and deliveries posted by
two processes (there must be none). Discord's global rate limit for the bot token is lifted: the
recorded layer has none, and the section measures how far tracking scales, not Discord.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.backends import fresh_database, postgres_server
from bench.common import ROOT, JobFailed, SimProcess, Table, progress, run_job, sec, summary

if TYPE_CHECKING:
    from bench.botside import Planned
    from bench.config import Config

COUNTS = (1, 2, 3)
START_LEAD = 12.0  # seconds from the setup to t0: every process has started its bot by then


def _params(cfg: Config, tasks: int) -> dict[str, Any]:
    return {
        "tasks": tasks, "poll": cfg.poll, "window": cfg.window,
        "min_length": cfg.min_length, "max_length": cfg.max_length, "seed": cfg.seed,
        "profiles": list(cfg.profiles), "spread": list(cfg.spread), "variant": "batch",
    }  # fmt: skip


def run_parallel(job: str, params: list[dict[str, Any]], run_dir: Path) -> list[dict[str, Any]]:
    """`python -m bench.worker job` once per params, all at once; their JSON answers."""
    running = []
    for i, p in enumerate(params):
        out = run_dir / f"{job}-{i}-{time.monotonic_ns()}.json"
        p = {**p, "_spawned_at": time.time(), "_run_dir": str(run_dir)}
        args = [sys.executable, "-m", "bench.worker", job, "--params", json.dumps(p)]
        proc = subprocess.Popen([*args, "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, text=True)  # fmt: skip
        running.append((proc, out))
    results = []
    for proc, out in running:
        _, err = proc.communicate()
        if proc.returncode != 0 or not out.exists():
            raise JobFailed(f"job {job} failed (exit {proc.returncode}):\n{err[-4000:]}")
        results.append(dict(json.loads(out.read_text())))
    return results


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure set for the processes of one run: each video's first delivery, wherever."""
    first: dict[int, float] = {}
    posted = 0
    for r in results:
        posted += len(r["deliveries"])
        for gen_id, at in r["deliveries"]:
            first[gen_id] = min(at, first.get(gen_id, at))
    ended = results[0]["ended"]
    lags = [first[g] - terminal for g, terminal in ended if g in first]
    window = max(r["window"] for r in results)
    return {
        "tasks": results[0]["tasks"],
        "ended": len(ended),
        "delivered": len(lags),
        "twice": posted - len(first),
        "lag": summary(lags),
        "cpu": [r["cpu_share"] for r in results],
        "share": [r["delivered_here"] for r in results],
        "requests": sum(r["requests"] for r in results[:1]),  # the simulator counts them all
        "window": window,
        "rss_mb": [r["rss_max_kib"] / 1024 for r in results],
        "machine_busy": results[0]["machine_busy"],
        "database_cpu": results[0]["database_cpu_share"],
        "sim_cpu": results[0]["sim_cpu_share"],
    }


def processes(cfg: Config, run_dir: Path) -> list[Table]:
    base = cfg.process_tasks
    runs: dict[int, dict[str, Any]] = {}
    with postgres_server(cfg.database_url) as admin:
        for count in COUNTS:
            tasks = base * count
            progress(f"{count} bot process(es) on one PostgreSQL, {tasks:,} tasks")
            with SimProcess(batch=True, video_bytes=cfg.video_kb * 1024,
                            latency_ms=cfg.api_latency_ms) as sim:  # fmt: skip
                with fresh_database(admin, f"bench_processes_{count}") as url:
                    t0 = time.time() + START_LEAD
                    params = {**_params(cfg, tasks), "sim_url": sim.url, "database_url": url,
                              "t0": t0, "count": count}  # fmt: skip
                    run_job("processes-setup", params, run_dir)
                    if time.time() > t0 - 6.0:
                        raise JobFailed("the setup took too long: t0 would be missed")
                    each = [{**params, "index": i} for i in range(count)]
                    runs[count] = _merge(run_parallel("processes-bot", each, run_dir))

    t = Table(f"8. Tracking with 1, 2 and 3 bot processes on one PostgreSQL ({base:,} tasks "
              "per process, batch route, predicted schedule)")  # fmt: skip
    one = runs[1]
    for count, r in runs.items():
        who = f"{count} process{'es' if count > 1 else ''}, {r['tasks']:,} tasks"
        t.add(f"{who}: ended -> delivered", f"{r['delivered']:,} / {r['ended']:,}", "all",
              r["delivered"] == r["ended"])  # fmt: skip
        t.add(f"{who}: delivered twice", f"{r['twice']}", "0", r["twice"] == 0)
        lag = r["lag"]
        t.add(f"{who}: completion -> delivery",
              f"p50 {sec(lag['p50'])} · p95 {sec(lag['p95'])} · max {sec(lag['max'])}")  # fmt: skip
        t.add(f"{who}: bot CPU per process (% of one core)",
              " · ".join(f"{100 * c:.0f} %" for c in r["cpu"]))  # fmt: skip
        t.add(f"{who}: deliveries made by each process", " · ".join(f"{n:,}" for n in r["share"]))
        t.add(f"{who}: API requests per second", f"{r['requests'] / r['window']:.1f}")
        t.add(
            f"{who}: PostgreSQL CPU (its connections) · simulator CPU",
            f"{100 * r['database_cpu']:.0f} % · {100 * r['sim_cpu']:.0f} % of one core",
        )
        t.add(f"{who}: the machine's CPU busy (every process on it)",
              f"{100 * r['machine_busy']:.0f} % of {os.cpu_count()} cores")  # fmt: skip
    three = runs[COUNTS[-1]]
    allowed = max(one["lag"]["p95"] * 1.25, one["lag"]["p95"] + 0.5)
    ratio = three["tasks"] / one["tasks"] if three["delivered"] == three["ended"] else 0.0
    t.add("3 processes against one: tasks followed, lag p95",
          f"x{ratio:.1f} · {sec(three['lag']['p95'])} against {sec(one['lag']['p95'])}",
          f">= x2.5 at a p95 within {sec(allowed)}",
          ratio >= 2.5 and three["lag"]["p95"] <= allowed)  # fmt: skip
    t.notes += [
        f"steady state as in section 2: {base:,} tasks per process running at t0 "
        f"({cfg.min_length:.0f}-{cfg.max_length:.0f} s), "
        f"new ones arriving for the {cfg.window:.0f} s window at the rate that keeps them active, "
        "each process taking its share of the arrivals; poll interval "
        f"{cfg.poll:.0f} s, POLL_CONCURRENCY and DATABASE_POOL_SIZE at their defaults.",
        "lag: the task turning terminal at the simulator to the first delivery post of it, in "
        "whichever process; 'delivered twice' counts posts beyond the first, across processes.",
        "every process, the simulator and PostgreSQL share this machine's cores: where they are "
        "fewer than the processes, the figures show the machine, not the bot.",
        "Discord's global rate limit is lifted (DISCORD_GLOBAL_RATE_LIMIT): the recorded layer has "
        "none; the budget's own figures are in BENCHMARKS.md.",
    ]
    return [t]


# --------------------------------------------------------------------------------------------
# The jobs (in bench.worker processes)
# --------------------------------------------------------------------------------------------


def _initial_look(plan: list[Planned], t0: float, poll: float) -> dict[int, float]:
    """When the tasks running at t0 are next looked at: within one interval, or at their
    estimated end if sooner (as section 2's predicted schedule after a restart)."""
    rng = random.Random(3)
    return {
        p.gen_id: min(t0 + rng.uniform(0.0, poll), max(t0, p.created_at + p.estimated))
        for p in plan
        if not p.arrival
    }


async def setup(params: dict[str, Any], prof: Any) -> dict[str, Any]:
    """The schema, the simulator's tasks and the rows of the tasks running at t0 (nobody's)."""
    from bench.botside import insert_active, load_plan
    from bench.tracking import _plan
    from bot.store import open_store

    t0 = float(params["t0"])
    store = await open_store(str(params["database_url"]))
    await store.close()
    plan = _plan(params, t0, callbacks=False)
    run_dir = Path(params["_run_dir"])
    await load_plan(params["sim_url"], plan, run_dir / f"plan-{time.monotonic_ns()}.json", None)
    looks = _initial_look(plan, t0, float(params["poll"]))
    initial = [p for p in plan if not p.arrival]
    await asyncio.to_thread(
        insert_active, str(params["database_url"]), initial, lambda p: looks[p.gen_id], t0
    )
    return {"rows": len(initial)}


async def run_bot(params: dict[str, Any], prof: Any) -> dict[str, Any]:
    """One bot process from t0 to the end of the window, then until every task that ended in
    the window was delivered by some process (or a timeout)."""
    import asyncpg

    from bench.botside import BenchFakeDiscord, bench_settings, sim_stats, status_message_id
    from bench.common import rss_kib
    from bench.runtime import production_logging, sample_rss
    from bench.tracking import _feed, _in_window, _plan
    from bot.schedule import PredictedSchedule, Started
    from bot.ui.client import VideoBot
    from discord_double import start_bot

    index, count = int(params["index"]), int(params["count"])
    t0, poll, window = float(params["t0"]), float(params["poll"]), float(params["window"])
    url = str(params["database_url"])
    run_dir = Path(params["_run_dir"]) / f"processes-{count}-{index}-{time.monotonic_ns()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    production_logging(run_dir / "bot.log")
    settings = bench_settings(run_dir / "unused.db", params["sim_url"], database_url=url,
                              poll_interval=poll)  # fmt: skip
    schedule = PredictedSchedule(poll)
    plan = _plan(params, t0, callbacks=False)
    mine = [p for p in plan if p.arrival and p.gen_id % count == index]
    ended = _in_window(plan, t0, window)
    fake = BenchFakeDiscord(lean=True)
    fake.install()
    fake.add_status_messages([(status_message_id(p), p.channel_id) for p in plan])
    bot = VideoBot(settings, schedule=schedule)

    def first_look(p: Planned) -> float:  # what VideoService.submit stores
        return schedule.first_look(Started(p.gen_id, p.created_at, p.estimated,
                                           (p.quality, p.duration)))  # fmt: skip

    try:
        await start_bot(bot, fake)
        await asyncio.sleep(max(0.0, t0 - time.time()))
        before = await _sim_counts(params["sim_url"])
        database = url.rsplit("/", 1)[1]
        cpu0, wall0, machine0 = time.process_time(), time.time(), _machine_cpu()
        database0, sim0 = _database_cpu(database), (await sim_stats(params["sim_url"]))["cpu"]
        bot.tracker.wake()
        feeder = asyncio.create_task(_feed(mine, fake, url, first_look, bot.tracker.wake))
        stop = asyncio.Event()
        samples: list[int] = []
        sampler = asyncio.create_task(sample_rss(stop, 0.5, samples))
        with prof:
            await asyncio.sleep(max(0.0, t0 + window - time.time()))
        cpu1, wall1, machine1 = time.process_time(), time.time(), _machine_cpu()
        database1, sim1 = _database_cpu(database), (await sim_stats(params["sim_url"]))["cpu"]
        after = await _sim_counts(params["sim_url"])
        stop.set()
        await sampler
        wanted = [p.gen_id for p in ended]
        connection = await asyncpg.connect(url)
        try:
            deadline = time.time() + 3 * poll + 20.0
            while time.time() < deadline:
                left = await connection.fetchval(
                    "SELECT count(*) FROM generations WHERE id = ANY($1::bigint[]) "
                    "AND delivered_at IS NULL",
                    wanted,
                )
                if not left:
                    break
                await asyncio.sleep(0.5)
        finally:
            await connection.close()
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
    finally:
        await bot.close()
        fake.uninstall()
    return {
        "tasks": int(params["tasks"]),
        "ended": [[p.gen_id, p.terminal_at] for p in ended],
        "deliveries": sorted(fake.deliveries.items()),
        "delivered_here": len(fake.deliveries),
        "window": wall1 - wall0,
        "cpu_share": (cpu1 - cpu0) / (wall1 - wall0),
        "machine_busy": (machine1[0] - machine0[0]) / max(1.0, machine1[1] - machine0[1]),
        "database_cpu_share": (database1 - database0) / (wall1 - wall0),
        "sim_cpu_share": (sim1 - sim0) / (wall1 - wall0),
        "requests": after - before,
        "rss_max_kib": max([*samples, rss_kib()]),
    }


def _machine_cpu() -> tuple[float, float]:
    """Busy and total CPU time of the whole machine so far, in ticks (/proc/stat)."""
    with open("/proc/stat") as stat:
        ticks = [float(v) for v in stat.readline().split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def _database_cpu(database: str) -> float:
    """CPU seconds so far of PostgreSQL's processes serving `database` (its connections)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
            if not command.startswith("postgres:") or f" {database} " not in command:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


async def _sim_counts(sim_url: str) -> int:
    from bench.botside import sim_stats

    counts = (await sim_stats(sim_url))["counts"]
    return int(counts.get("query", 0)) + int(counts.get("batch", 0))
