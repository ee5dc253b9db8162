"""Sections 2, 5, 6 and 7 of `python -m bench`, on the orchestrator's side: which jobs run (each
in a fresh process, with a simulator process of its own) and the tables made of their figures.

2 and 5: 10,000 active tasks in a steady state, followed by the bot's predicted schedule and by
the fixed one it had before (a look every poll interval, ±10 %), side by side in one run, with
the batch route and without it, with callbacks, and by the naive 1-second poller.
6: a burst of short videos whose estimate is 40 % short. 7: a crowd of members at once against
an EvoLink that takes only a few creates a second.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.common import SimProcess, Table, mb, num, progress, run_job, sec
from bench.config import Config, log_note, spread3
from bot.settings import DEFAULTS

ROUTES = (
    ("batch", "polling, batch route answered (POST /v1/tasks/batch, 50 ids)", True),
    ("single", "polling, no batch route (fallback: GET /v1/tasks/{id})", False),
)
SCHEDULE_NAMES = {"fixed": "fixed schedule (before)", "predicted": "predicted schedule"}
LAG_TARGET = 2.0  # s, lag p95 of the predicted schedule
BATCH_QUERIES_TARGET = 0.5  # per task, with the batch route
NAIVE_SHARE_TARGET = 0.1  # of the naive poller's queries per task, one by one
SHORT_LAG_TARGET = 1.5  # s, lag p95 of the burst of short videos
SHORT_QUERIES_TARGET = 3.0  # per task


def _params(cfg: Config) -> dict[str, Any]:
    return {
        "tasks": cfg.tasks,
        "poll": cfg.poll,
        "window": cfg.window,
        "min_length": cfg.min_length,
        "max_length": cfg.max_length,
        "naive_interval": cfg.naive_interval,
        "seed": cfg.seed,
        "discord_latency_ms": cfg.discord_latency_ms,
        "poll_concurrency": cfg.poll_concurrency,
        "metrics": cfg.metrics,
        "profiles": list(cfg.profiles),
        "spread": list(cfg.spread),
    }


def _sim_options(cfg: Config) -> dict[str, Any]:
    return {"video_bytes": cfg.video_kb * 1024, "latency_ms": cfg.api_latency_ms}


def _per_task(r: dict[str, Any]) -> float:
    return float(r["requests"]) / max(1, int(r["ended"]))


def tracking(cfg: Config, run_dir: Path) -> list[Table]:
    params, sim_options = _params(cfg), _sim_options(cfg)
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for route, label, batch_route in ROUTES:
        if route not in cfg.variants:
            continue
        for schedule in cfg.schedules:
            progress(f"tracking {cfg.tasks:,} tasks: {label}, {SCHEDULE_NAMES[schedule]}")
            with SimProcess(batch=batch_route, **sim_options) as sim:
                job = {**params, "variant": route, "schedule": schedule, "sim_url": sim.url}
                runs[(route, schedule)] = run_job("tracking", job, run_dir, cfg.profile)
    callbacks = None
    if "callbacks" in cfg.variants:
        progress(f"tracking {cfg.tasks:,} tasks: callbacks on")
        with SimProcess(**sim_options) as sim:
            job = {**params, "variant": "callbacks", "sim_url": sim.url}
            callbacks = run_job("tracking", job, run_dir, cfg.profile)
    silent = None
    if "none-until-done" in cfg.variants:
        progress(f"tracking {cfg.tasks:,} tasks that report no progress, predicted schedule")
        with SimProcess(**sim_options) as sim:
            job = {**params, "variant": "batch", "schedule": "predicted", "sim_url": sim.url,
                   "profiles": ["none-until-done"]}  # fmt: skip
            silent = run_job("tracking", job, run_dir, cfg.profile)
    naive = None
    if "naive" in cfg.variants:
        progress(f"naive baseline: {cfg.tasks:,} tasks, GET each every {cfg.naive_interval:g} s")
        with SimProcess(**sim_options) as sim:
            naive = run_job("naive", {**params, "sim_url": sim.url}, run_dir, cfg.profile)

    tables = [
        _route_table(cfg, route, label, runs, naive)
        for route, label, _ in ROUTES
        if any(key[0] == route for key in runs)
    ]
    if callbacks is not None:
        tables.append(_callbacks_table(cfg, callbacks))
    if silent is not None:
        tables.append(_silent_table(cfg, silent))
    if naive is not None:
        tables.append(_naive_table(cfg, naive, runs, callbacks))
    if tables:
        tables[-1].notes += _tracking_notes(cfg)
    return tables


def _route_table(
    cfg: Config,
    route: str,
    label: str,
    runs: dict[tuple[str, str], dict[str, Any]],
    naive: dict[str, Any] | None,
) -> Table:
    t = Table(f"2. Tracking {cfg.tasks:,} active tasks: {label}")
    poll = cfg.poll
    for schedule in cfg.schedules:
        r = runs.get((route, schedule))
        if r is None:
            continue
        name = SCHEDULE_NAMES[schedule]
        predicted = schedule == "predicted"
        t.add(f"{name}: tasks ended in the window -> delivered",
              f"{r['delivered']:,} / {r['ended']:,}", "all",
              r["delivered"] == r["ended"])  # fmt: skip
        lag = r["lag"]
        if predicted:
            target, ok = f"p95 <= {LAG_TARGET:g} s", lag["p95"] <= LAG_TARGET
        else:
            target, ok = f"p95 <= poll + 1 s = {poll + 1:g} s", lag["p95"] <= poll + 1.0
        t.add(f"{name}: completion at API -> delivery posted",
              spread3(lag, sec, ("p50", "p95", "max")), target, ok)  # fmt: skip
        per_task = _per_task(r)
        kind = f"{r['batch_queries']:,} batch + {r['single_queries']:,} single"
        value = f"{per_task:.3f} ({kind} / {r['ended']:,} ended)"
        target, ok_queries = "", None
        if predicted and route == "batch":
            target, ok_queries = f"<= {BATCH_QUERIES_TARGET:g}", per_task <= BATCH_QUERIES_TARGET
        elif predicted and naive is not None:
            share = _per_task(naive) * NAIVE_SHARE_TARGET
            target, ok_queries = f"<= naive / 10 = {share:.2f}", per_task <= share
        t.add(f"{name}: API queries per task", value, target, ok_queries)
        t.add(f"{name}: status look-ups per task (ids asked)",
              f"{r['lookups'] / max(1, r['ended']):.2f}")  # fmt: skip
        t.add(f"{name}: API requests per second", num(r["requests"] / r["window"], 1))
        t.add(f"{name}: bot CPU (% of one core; 2 cores)",
              f"{100 * r['cpu_share']:.0f} % = event loop {100 * r['loop_cpu_share']:.0f} % + "
              f"other threads {100 * r['other_cpu_share']:.0f} % (SQLite worker)")  # fmt: skip
        t.add(f"{name}: bot resident memory (max during run)", mb(r["rss_max_kib"]), "< 300 MB",
              r["rss_max_kib"] < 300 * 1024)  # fmt: skip
        posts = max(1, r["posts"])
        t.add(f"{name}: Discord calls per delivery", f"{r['edits'] / posts:.2f} status edits")
        log_note(t, r)
    return t


def _callbacks_table(cfg: Config, r: dict[str, Any]) -> Table:
    t = Table(f"2. Tracking {cfg.tasks:,} active tasks: callbacks on (polling as a 300 s "
              "safety net)")  # fmt: skip
    t.add("tasks ended in the window -> delivered", f"{r['delivered']:,} / {r['ended']:,}",
          "all", r["delivered"] == r["ended"])  # fmt: skip
    lag = r["lag"]
    t.add("completion at API -> delivery posted", spread3(lag, sec, ("p50", "p95", "max")),
          "p95 < 1 s", lag["p95"] < 1.0)  # fmt: skip
    kind = f"{r['batch_queries']:,} batch + {r['single_queries']:,} single"
    t.add("API queries per task", f"{_per_task(r):.3f} ({kind} / {r['ended']:,} ended)")
    worst = r["ended_lookups_max"]
    t.add("queries per task after its create (status look-ups of each ended task)",
          f"max {worst} · mean {r['ended_lookups_mean']:.2f}", "<= 1", worst <= 1)  # fmt: skip
    t.add("bot CPU (% of one core; 2 cores)", f"{100 * r['cpu_share']:.0f} %")
    t.add("bot resident memory (max during run)", mb(r["rss_max_kib"]), "< 300 MB",
          r["rss_max_kib"] < 300 * 1024)  # fmt: skip
    t.add("callbacks received", f"{r['callbacks_ok']:,} ok, {r['callbacks_failed']:,} failed")
    log_note(t, r)
    return t


def _silent_table(cfg: Config, r: dict[str, Any]) -> Table:
    poll = cfg.poll
    t = Table(f"2. Tracking {cfg.tasks:,} active tasks that report 0 % until done: batch route, "
              "predicted schedule")  # fmt: skip
    t.add("tasks ended in the window -> delivered", f"{r['delivered']:,} / {r['ended']:,}",
          "all", r["delivered"] == r["ended"])  # fmt: skip
    lag = r["lag"]
    t.add("completion at API -> delivery posted", spread3(lag, sec, ("p50", "p95", "max")),
          f"p95 <= poll + 1 s = {poll + 1:g} s", lag["p95"] <= poll + 1.0)  # fmt: skip
    t.add("API queries per task", f"{_per_task(r):.3f}")
    t.add("status look-ups per task (ids asked)", f"{r['lookups'] / max(1, r['ended']):.2f}")
    log_note(t, r)
    return t


def _naive_table(
    cfg: Config,
    naive: dict[str, Any],
    runs: dict[tuple[str, str], dict[str, Any]],
    callbacks: dict[str, Any] | None,
) -> Table:
    t = Table(f"5. Naive baseline: every task GET every {cfg.naive_interval:g} s, same load")
    t.add("tasks ended in the window -> seen", f"{naive['delivered']:,} / {naive['ended']:,}")
    t.add("completion at API -> poller sees it", spread3(naive["lag"], sec, ("p50", "p95", "max")))
    t.add("API queries per task", f"{_per_task(naive):.2f} (single)")
    t.add("API requests per second", f"{naive['requests'] / naive['window']:,.0f} achieved · "
          f"{naive['intended_rate']:,.0f} intended")  # fmt: skip
    t.add("poller CPU (% of one core)", f"{100 * naive['cpu_share']:.0f} %")
    ours = [(f"{route}, {schedule}", r) for (route, schedule), r in runs.items()]
    if callbacks is not None:
        ours.append(("callbacks", callbacks))
    for name, r in ours:
        q_ratio = _per_task(r) / _per_task(naive) if _per_task(naive) else math.nan
        l95 = r["lag"]["p95"] / naive["lag"]["p95"] if naive["lag"]["p95"] else math.nan
        lags = f"{sec(r['lag']['p95'])} against {sec(naive['lag']['p95'])} (x{l95:.2f})"
        t.add(f"ours ({name}) / naive", f"queries per task x{q_ratio:.4f} · lag p95 {lags}")
    return t


def _tracking_notes(cfg: Config) -> list[str]:
    mean_length = (cfg.min_length + cfg.max_length) / 2
    low, high = cfg.spread
    return [
        f"steady state: at t0 {cfg.tasks:,} tasks are running, of mixed lengths "
        f"({cfg.min_length:g}-{cfg.max_length:g} s), each at a random point of its life; for "
        f"the {cfg.window:g} s window new tasks arrive at {cfg.tasks / mean_length:,.0f}/s, "
        "which keeps the number active steady; 5 % end failed. Figures are for the window "
        f"(lag: tasks that ended in it). Poll interval {cfg.poll:g} s, POLL_CONCURRENCY "
        f"{cfg.poll_concurrency or f'{DEFAULTS.poll_concurrency} (the default)'}.",
        f"the mix: each task reports progress as one of {', '.join(cfg.profiles)} (equal "
        f"parts; bot/simulator/profiles.py) and really runs its estimate times {low:g} to "
        f"{high:g} (log-uniformly). The same tasks for every variant.",
        "fixed schedule: the bot before predictions (first look at the estimate if sooner than "
        "the poll interval, then every interval ±10 %). Predicted: bot/schedule.py. A task "
        "running at t0 is next looked at within one interval, or at its estimated end if that "
        "is sooner (the predicted schedule knows nothing else of it: as after a restart).",
        "lag: the task turning terminal at the API (simulator) to the delivery post reaching "
        "the Discord layer (bot process), on the shared wall clock. The naive poller's lag "
        "stops when it sees the answer: it delivers nothing, which flatters it.",
        "queries per task: requests to the task routes during the window / tasks that ended "
        "in it (the steady-state cost of one task's life); creates are not counted.",
        f"the simulator serves a {cfg.video_kb:,} KB video file; the bot downloads it and "
        "attaches it to the delivery. Latency added: EvoLink answers and file downloads "
        f"{cfg.api_latency_ms:g} ms, Discord REST calls {cfg.discord_latency_ms:g} ms.",
        "the naive poller is one process with 100 connections; where it cannot reach the "
        "intended rate the shortfall is shown, as a real naive bot would fall behind too.",
    ]


def short(cfg: Config, run_dir: Path) -> list[Table]:
    """A burst of short videos, all estimated 40 % short, created at once (within a second)."""
    n, length = cfg.short_tasks, cfg.short_length
    estimate = length * cfg.short_estimate
    poll = DEFAULTS.poll_interval  # the default, even in a --quick run: short next to it
    params = {
        **_params(cfg),
        "load": "burst",
        "tasks": n,
        "length": length,
        "spread": [1 / cfg.short_estimate, 1 / cfg.short_estimate],
        "profiles": ["linear"],
        "poll": poll,
        "window": length + poll + 5.0,
    }
    t = Table(f"6. A burst of {n} videos of {length:g} s, estimated at {estimate:g} s "
              f"({100 * (1 - cfg.short_estimate):.0f} % short), batch route")  # fmt: skip
    figures: dict[str, dict[str, Any]] = {}
    for schedule in cfg.schedules:
        progress(f"{n} videos of {length:g} s at once: {SCHEDULE_NAMES[schedule]}")
        with SimProcess(**_sim_options(cfg)) as sim:
            job = {**params, "variant": "batch", "schedule": schedule, "sim_url": sim.url}
            figures[schedule] = run_job("tracking", job, run_dir, cfg.profile)
    progress(f"{n} videos of {length:g} s at once: naive poller")
    with SimProcess(**_sim_options(cfg)) as sim:
        figures["naive"] = run_job("naive", {**params, "sim_url": sim.url}, run_dir, cfg.profile)
    for name, r in figures.items():
        label = SCHEDULE_NAMES.get(name, f"naive poller (GET every {cfg.naive_interval:g} s)")
        lag, looks = r["lag"], r["ended_lookups_mean"]
        lag_ok = lag["p95"] <= SHORT_LAG_TARGET if name == "predicted" else None
        looks_ok = looks <= SHORT_QUERIES_TARGET if name == "predicted" else None
        t.add(f"{label}: delivered", f"{r['delivered']:,} / {r['ended']:,}")
        t.add(f"{label}: completion at API -> delivery posted",
              spread3(lag, sec, ("p50", "p95", "max")),
              f"p95 <= {SHORT_LAG_TARGET:g} s" if lag_ok is not None else "", lag_ok)  # fmt: skip
        t.add(f"{label}: queries per task (status look-ups of each)",
              f"mean {looks:.2f} · max {r['ended_lookups_max']} ({_per_task(r):.3f} requests)",
              f"<= {SHORT_QUERIES_TARGET:g}" if looks_ok is not None else "", looks_ok)  # fmt: skip
    t.notes += [
        f"{n} members' videos made within one second; each runs {length:g} s (the first 2 s "
        f"pending) and reports linear progress; EvoLink's estimate says {estimate:g} s. Poll "
        f"interval {poll:g} s (the default).",
        "queries per task: every status look-up of each video, from its create to the look "
        "that saw it end (a batch query looks up many; its requests are in brackets).",
    ]
    return [t]


def crowd(cfg: Config, run_dir: Path) -> list[Table]:
    n, rate = cfg.crowd, cfg.crowd_creates_per_second
    progress(f"a crowd of {n} at once, EvoLink taking {rate:g} creates a second")
    with SimProcess(task_seconds=6.0) as sim:
        params = {"n": n, "creates_per_second": rate, "sim_url": sim.url,
                  "timeout": n / rate + 60.0}  # fmt: skip
        r = run_job("crowd", params, run_dir, cfg.profile)
    t = Table(f"7. A crowd of {n} members at once; EvoLink takes {rate:g} creates a second")
    t.add("refused", f"{r['refused']}", "0", r["refused"] == 0)
    t.add("tasks made -> videos delivered", f"{r['created']} -> {r['delivered']}", f"{n} -> {n}",
          r["created"] == n and r["delivered"] == n)  # fmt: skip
    t.add("made out of request order (neighbours)", f"{r['created_out_of_order']}")
    t.add("delivered out of request order (neighbours)", f"{r['delivered_out_of_order']}")
    t.add("last task made / last video delivered, after the crowd",
          f"{sec(r['all_created_after'] or 0)} / {sec(r['all_delivered_after'] or 0)}")  # fmt: skip
    t.notes += [
        "the real bot with its tracker running; each member's /video as the gateway delivers "
        f"it; the simulator answers 429 (Retry-After) beyond {rate:g} creates a second, and "
        "its videos take 6 s. Order: the bot's record of when each task was made (and the time "
        "each delivery was posted), by request.",
    ]
    log_note(t, r)
    return [t]
