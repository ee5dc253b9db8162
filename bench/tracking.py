"""Sections 2, 5 and 6: following 10,000 active tasks in a steady state, the naive baseline,
and a burst of short videos.

One job per variant, each in a fresh process with its own simulator process:
* `tracking` with variant `batch` (POST /v1/tasks/batch answered), `single` (the simulator has no
  batch route: the bot falls back to GET /v1/tasks/{id}) or `callbacks` (EvoLink calls back;
  polling is the 300 s safety net), and schedule `predicted` (the bot's) or `fixed` (a look every
  poll interval, ±10 %: the bot before predictions). The real bot, its real tracker loop
  (`tracker.run()`, started by setup_hook), the recorded Discord layer.
* `naive`: a tiny poller that GETs every task every second and does nothing else.

Tasks report progress by the profiles given (`profiles`) and run their estimate times a factor
drawn from `spread` (bench.botside.Behaviour). `load` `burst` replaces the steady state with
`tasks` videos of `length` s created at once (within a second), each estimate times `estimate`.

The load is a steady state: at t0, 10,000 tasks of mixed lengths are running, each at a random
point of its life; during the window, new tasks arrive at the rate that keeps 10,000 active (as
VideoService.submit leaves them: a row with the task id, first look after one poll interval, the
tracker woken). The bot's work over the window is thus what 10,000 active tasks cost.
Lag = the delivery post reaching Discord (for the naive poller: the answer that shows the task
finished) minus the moment the task turned terminal at the API; both processes read the same
wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.botside import (
    CALLBACK_SAFETY_POLL,
    Behaviour,
    BenchFakeDiscord,
    Planned,
    bench_settings,
    burst_plan,
    insert_active,
    load_plan,
    make_plan,
    sim_stats,
    status_message_id,
)
from bench.common import peak_rss_kib, rss_kib, summary, thread_cpu
from bench.runtime import Profiler, production_logging, sample_rss
from discord_double.routes import CHANNEL_MESSAGE, CHANNEL_MESSAGES

LEAD = 1.5  # seconds between loading the fixtures and t0
FEED_EVERY = 0.1  # new submissions are written in small groups, this often


def _behaviour(params: dict[str, Any]) -> Behaviour:
    low, high = params.get("spread", (1.0, 1.0))
    return Behaviour(tuple(params.get("profiles", ("linear",))), (float(low), float(high)))


def _plan(params: dict[str, Any], t0: float, callbacks: bool) -> list[Planned]:
    if params.get("load") == "burst":
        return burst_plan(
            int(params["tasks"]),
            t0,
            length=float(params["length"]),
            behaviour=_behaviour(params),
            seed=int(params.get("seed", 1)),
            spread_over=1.0,
        )
    return make_plan(
        int(params["tasks"]),
        t0,
        seed=int(params.get("seed", 1)),
        lengths=(float(params["min_length"]), float(params["max_length"])),
        arrivals_for=float(params["window"]),
        callbacks=callbacks,
        behaviour=_behaviour(params),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _in_window(plan: list[Planned], t0: float, window: float) -> list[Planned]:
    return [p for p in plan if t0 <= p.terminal_at < t0 + window]


def _query_figures(
    before: dict[str, Any], window_end: dict[str, Any], final: dict[str, Any], ended: list[Planned]
) -> dict[str, Any]:
    """Requests over the window; look-ups of each task that ended in it, counted to the very end
    (its whole life when callbacks are on: the first safety poll comes after 300 s)."""
    c0, c1 = before["counts"], window_end["counts"]
    single = c1.get("query", 0) - c0.get("query", 0)
    batch = c1.get("batch", 0) - c0.get("batch", 0)
    looked = sum(window_end["lookups"].values()) - sum(before["lookups"].values())
    per_task = [final["lookups"].get(p.task_id, 0) for p in ended]
    wall = window_end["wall"] - before["wall"]
    return {
        "single_queries": single,
        "batch_queries": batch,
        "requests": single + batch,
        "lookups": looked,
        "ended_lookups_max": max(per_task) if per_task else 0,
        "ended_lookups_mean": sum(per_task) / len(per_task) if per_task else 0.0,
        "sim_cpu_share": (window_end["cpu"] - before["cpu"]) / wall if wall > 0 else 0.0,
        "callbacks_ok": final.get("callbacks_ok", 0),
        "callbacks_failed": final.get("callbacks_failed", 0),
    }


async def _feed(
    plan: list[Planned],
    fake: BenchFakeDiscord,
    database: Path | str,
    next_poll: Any,
    wake: Any,
) -> None:
    """Write each new submission when its time comes, as VideoService.submit would."""
    pending = sorted((p for p in plan if p.arrival), key=lambda p: p.created_at)
    while pending:
        now = time.time()
        due = [p for p in pending if p.created_at <= now]
        if due:
            pending = pending[len(due) :]
            fake.add_status_messages([(status_message_id(p), p.channel_id) for p in due])
            await asyncio.to_thread(insert_active, database, due, next_poll, now)
            wake()
        await asyncio.sleep(FEED_EVERY)


async def run_ours(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    from bot.schedule import FixedSchedule, PredictedSchedule, Schedule, Started
    from bot.ui.client import VideoBot
    from discord_double import start_bot

    variant = str(params["variant"])
    predicted = params.get("schedule", "predicted") == "predicted"
    name = f"{params.get('load', 'steady')}-{variant}-{params.get('schedule', 'predicted')}"
    run_dir = Path(params["_run_dir"]) / f"tracking-{name}-{time.monotonic_ns()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    logs = production_logging(run_dir / "bot.log")
    poll = float(params["poll"])
    window = float(params["window"])
    callbacks = variant == "callbacks"
    overrides: dict[str, Any] = {"poll_interval": poll}
    if params.get("poll_concurrency"):
        overrides["poll_concurrency"] = int(params["poll_concurrency"])
    if params.get("metrics"):
        overrides["metrics_port"] = _free_port()  # counted as in production; nobody scrapes
    callback_base = None
    if callbacks:
        port = _free_port()
        callback_base = f"http://127.0.0.1:{port}/evolink"
        overrides |= {"callback_public_url": callback_base, "callback_port": port}
    settings = bench_settings(
        run_dir / "bot.db", params["sim_url"], database_url=params.get("database_url"), **overrides
    )

    schedule: Schedule | None = None  # with callbacks: the bot's own (the safety interval)
    if not callbacks:
        schedule = PredictedSchedule(poll) if predicted else FixedSchedule(poll)
    fake = BenchFakeDiscord(lean=True, latency=float(params.get("discord_latency_ms", 0)) / 1000)
    fake.install()
    # the production wiring (wall clock, tracker started by setup_hook), with the schedule
    bot = VideoBot(settings, schedule=schedule)
    try:
        await start_bot(bot, fake)
        t0 = time.time() + LEAD
        plan = _plan(params, t0, callbacks)
        await load_plan(params["sim_url"], plan, run_dir / "plan.json", callback_base)
        rng = random.Random(3)

        def next_poll(p: Planned) -> float:
            if callbacks:  # what VideoService.submit stores when callbacks are on
                return p.created_at + CALLBACK_SAFETY_POLL
            assert schedule is not None
            if p.arrival:  # what VideoService.submit stores: the schedule's first look
                kind = (p.quality, p.duration)
                return schedule.first_look(Started(p.gen_id, p.created_at, p.estimated, kind))
            phase = t0 + rng.uniform(0.0, poll)  # polled every interval so far
            if predicted:  # and looked at when the estimate says it ends
                return min(phase, max(t0, p.created_at + p.estimated))
            return phase

        initial = [p for p in plan if not p.arrival]
        await asyncio.to_thread(insert_active, settings.database, initial, next_poll, t0)
        fake.add_status_messages([(status_message_id(p), p.channel_id) for p in initial])
        ended = _in_window(plan, t0, window)
        all_ended = fake.delivered({p.gen_id for p in ended})
        await asyncio.sleep(max(0.0, t0 - time.time()))

        before = await sim_stats(params["sim_url"])
        threads0 = thread_cpu()
        cpu0, wall0 = time.process_time(), time.time()
        bot.tracker.wake()  # the rows are in: wake the sleeping loop, as a submission does
        feeder = asyncio.create_task(
            _feed(plan, fake, settings.database, next_poll, bot.tracker.wake)
        )
        stop = asyncio.Event()
        samples: list[int] = []
        sampler = asyncio.create_task(sample_rss(stop, 0.5, samples))
        with prof:
            await asyncio.sleep(max(0.0, t0 + window - time.time()))
        cpu1, wall1 = time.process_time(), time.time()
        threads1 = thread_cpu()
        window_end = await sim_stats(params["sim_url"])
        stop.set()
        await sampler
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3 * poll + 20.0):
                await all_ended.wait()
        final = await sim_stats(params["sim_url"])
        if feeder.done() and feeder.exception() is not None:
            raise RuntimeError("writing new submissions failed") from feeder.exception()
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
    finally:
        await bot.close()
        fake.uninstall()

    lags = [fake.deliveries[p.gen_id] - p.terminal_at for p in ended if p.gen_id in fake.deliveries]
    return {
        "variant": variant,
        "schedule": "callbacks" if callbacks else ("predicted" if predicted else "fixed"),
        "tasks": int(params["tasks"]),
        "arrivals": sum(1 for p in plan if p.arrival),
        "ended": len(ended),
        "delivered": len(lags),
        "lag": summary(lags),
        "window": wall1 - wall0,
        "cpu_share": (cpu1 - cpu0) / (wall1 - wall0),
        "loop_cpu_share": (threads1[0] - threads0[0]) / (wall1 - wall0),
        "other_cpu_share": (threads1[1] - threads0[1]) / (wall1 - wall0),
        "rss_max_kib": max([*samples, rss_kib()]),
        "rss_peak_kib": peak_rss_kib(),
        "edits": fake.count("PATCH", CHANNEL_MESSAGE),
        "posts": fake.count("POST", CHANNEL_MESSAGES),
        "uploaded_mb": fake.uploaded_bytes / 1e6,
        "log_counts": dict(logs.counts),
        "log_first": logs.first,
        **_query_figures(before, window_end, final, ended),
    }


async def run_naive(params: dict[str, Any], prof: Profiler) -> dict[str, Any]:
    """The baseline: every task GET every second from its submission, single queries only."""
    run_dir = Path(params["_run_dir"]) / f"tracking-naive-{time.monotonic_ns()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    interval = float(params.get("naive_interval", 1.0))
    window = float(params["window"])
    url = str(params["sim_url"])
    t0 = time.time() + LEAD
    plan = _plan(params, t0, callbacks=False)
    await load_plan(url, plan, run_dir / "plan.json", None)
    ended = _in_window(plan, t0, window)
    seen: dict[str, float] = {}
    rng = random.Random(5)
    headers = {"Authorization": "Bearer sk-bench-key-0123456789"}
    stop_at = t0 + window + 3 * float(params["poll"]) + 20.0

    async def follow(session: aiohttp.ClientSession, p: Planned) -> None:
        due = p.created_at + interval if p.arrival else t0 + rng.uniform(0.0, interval)
        while time.time() < stop_at:
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                async with session.get(f"{url}/v1/tasks/{p.task_id}") as answer:
                    data = await answer.json()
            except aiohttp.ClientError:
                data = {}
            if data.get("status") in ("completed", "failed"):
                seen[p.task_id] = time.time()
                return
            due += interval

    await asyncio.sleep(max(0.0, t0 - time.time()))
    before = await sim_stats(url)
    cpu0, wall0 = time.process_time(), time.time()
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        followers = [asyncio.create_task(follow(session, p)) for p in plan]
        with prof:
            await asyncio.sleep(max(0.0, t0 + window - time.time()))
        cpu1, wall1 = time.process_time(), time.time()
        window_end = await sim_stats(url)
        ending = {p.gen_id for p in ended}
        wanted = [f for f, p in zip(followers, plan, strict=True) if p.gen_id in ending]
        if wanted:
            await asyncio.wait(wanted, timeout=max(0.1, stop_at - time.time()))
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
    final = await sim_stats(url)
    lags = [seen[p.task_id] - p.terminal_at for p in ended if p.task_id in seen]
    active = sum(1 for p in plan if p.created_at <= t0 < p.terminal_at)
    return {
        "variant": "naive",
        "tasks": int(params["tasks"]),
        "active_at_t0": active,
        "ended": len(ended),
        "delivered": len(lags),
        "lag": summary(lags),
        "window": wall1 - wall0,
        "cpu_share": (cpu1 - cpu0) / (wall1 - wall0),
        "rss_max_kib": rss_kib(),
        "rss_peak_kib": peak_rss_kib(),
        "intended_rate": int(params["tasks"]) / interval,
        **_query_figures(before, window_end, final, ended),
    }
