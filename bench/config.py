"""What one run of `python -m bench` measures, and helpers every section's tables share."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Table

SECTIONS = ("burst", "tracking", "short", "crowd", "restart", "history")
# run only when asked for (--sections backends,processes): need PostgreSQL (bench/backends.py,
# bench/processes.py)
OPTIONAL = ("backends", "processes")
#: The profiles the tracking mix draws from, in equal parts: every one that reports progress
#: (none-until-done is measured on its own).
MIX = ("linear", "s-curve", "stepwise", "stuck-then-done")


@dataclass
class Config:
    sections: tuple[str, ...] = SECTIONS
    burst_sizes: list[int] = field(default_factory=lambda: [50, 200, 1000])
    tasks: int = 10_000
    poll: float = 10.0
    window: float = 40.0
    min_length: float = 30.0
    max_length: float = 150.0
    naive_interval: float = 1.0
    video_kb: int = 256
    api_latency_ms: float = 0.0
    poll_concurrency: int | None = None  # None: the bot's default (POLL_CONCURRENCY)
    metrics: bool = False  # METRICS_PORT on (the bot counts for /metrics) while tracking
    discord_latency_ms: float = 0.0
    variants: tuple[str, ...] = ("batch", "single", "callbacks", "naive", "none-until-done")
    schedules: tuple[str, ...] = ("fixed", "predicted")
    profiles: tuple[str, ...] = MIX
    spread: tuple[float, float] = (0.95, 1.05)  # a task's real length / its estimate
    short_tasks: int = 200
    short_length: float = 6.0
    short_estimate: float = 0.6  # the estimate is this much of the real length: 40 % short
    crowd: int = 60
    crowd_creates_per_second: float = 4.0
    restart_tasks: int = 10_000
    history_rows: int = 1_000_000
    process_tasks: int = 2_000  # tasks per bot process in `processes`
    guilds: int = 100
    members: int = 50_000
    queries: int = 200
    seed: int = 1
    cache_dir: Path = Path(tempfile.gettempdir()) / "evolink-bench-cache"
    profile: Path | None = None
    keep: bool = False
    markdown: Path | None = None
    quick: bool = False
    database_url: str | None = None  # PostgreSQL for `backends` (else a throwaway server)

    @classmethod
    def quick_run(cls) -> Config:
        return cls(
            burst_sizes=[50, 200],
            tasks=1000,
            poll=1.0,
            window=5.0,
            min_length=5.0,
            max_length=20.0,
            short_tasks=50,
            crowd=20,
            crowd_creates_per_second=10.0,
            restart_tasks=1000,
            history_rows=20_000,
            process_tasks=300,
            guilds=10,
            members=2000,
            queries=50,
            quick=True,
        )


def spread3(s: dict[str, float], unit: Callable[[float], str], keys: tuple[str, ...]) -> str:
    return " · ".join(f"{k} {unit(s[k])}" for k in keys)


def log_note(t: Table, r: dict[str, Any]) -> None:
    counts = {k: v for k, v in r.get("log_counts", {}).items() if k != "WARNING" or v > 2}
    if counts:
        t.notes.append(f"bot log: {counts}; first: {r.get('log_first')}")
