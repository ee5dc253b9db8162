"""Prometheus metrics (METRICS_PORT): what the bot counted, and what the database holds now.

Counters are kept in memory by the adapters that see the events (the EvoLink client, the
tracker, the /video path, discord.py's rate-limit log); the task gauges are read from the
database at scrape time, through partial indexes of unfinished rows only. A scrape answer is
computed at most once a second, however many scrapers ask.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.store import Clock, Store

PREFIX = "evolink_bot"
CACHE_SECONDS = 1.0
DELIVERY_LAG_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
# EvoLink answered, even if it said no: it is up (the key refused is told apart, in health)
ANSWERS = frozenset({None, "BadRequest", "InsufficientBalance", "TaskNotFound", "RateLimited",
                     "BatchUnsupported", "Unauthorized", "ModelAccessDenied",
                     "CreateInFlight"})  # fmt: skip
KEY_REFUSED = frozenset({"Unauthorized", "ModelAccessDenied"})
WORK_ROUTES = frozenset({"create", "task", "batch"})  # the calls videos need; not the balance
RATE_LIMITED = "We are being rate limited."  # how discord.py's HTTP client logs a 429 it waits out


class Metrics:
    """bot.instruments.Instruments, counted in a registry of its own."""

    def __init__(self, clock: Clock = time.time, cache_seconds: float = CACHE_SECONDS) -> None:
        self._clock = clock
        self.cache_seconds = cache_seconds
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            f"{PREFIX}_requests", "Video requests by outcome of their first step",
            ["outcome"], registry=r,
        )  # fmt: skip
        self._tasks = Gauge(
            f"{PREFIX}_tasks", "Videos not finished, by state (undelivered: finished, not yet "
            "delivered), read from the database", ["state"], registry=r,
        )  # fmt: skip
        self._queue = Gauge(
            f"{PREFIX}_queue_length", "Requests waiting in the bot's own queue", registry=r
        )
        self._reserved = Counter(
            f"{PREFIX}_credits_reserved", "Credits held for admitted requests", registry=r
        )
        self._spent = Counter(
            f"{PREFIX}_credits_spent", "Credits charged for finished videos", registry=r
        )
        self._queries = Counter(
            f"{PREFIX}_evolink_queries", "HTTP exchanges with EvoLink, by route", ["route"],
            registry=r,
        )  # fmt: skip
        self._errors = Counter(
            f"{PREFIX}_evolink_errors", "Failed exchanges with EvoLink, by kind", ["kind"],
            registry=r,
        )  # fmt: skip
        self._lag = Histogram(
            f"{PREFIX}_delivery_lag_seconds", "From a video finished to its result delivered",
            buckets=DELIVERY_LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self._rate_limit_waits = Counter(
            f"{PREFIX}_discord_rate_limit_waits", "Discord 429 answers waited out", registry=r
        )
        self._rate_limit_seconds = Counter(
            f"{PREFIX}_discord_rate_limit_wait_seconds", "Seconds spent waiting out Discord "
            "429 answers", registry=r,
        )  # fmt: skip
        self._gateway = Gauge(
            f"{PREFIX}_gateway_connected", "1 while connected to Discord's gateway", registry=r
        )
        self._children: dict[tuple[int, str], Counter] = {}
        self.evolink_answered_at: float | None = None
        self.evolink_key_refused = False
        # since when every create and query has failed (5xx, unreachable, unreadable); None
        # while the last one was answered: a balance probe that answers does not reset it
        self.evolink_work_failing_since: float | None = None
        self.evolink_work_error: str | None = None
        self._cached: tuple[float, bytes] | None = None
        self._rendering = asyncio.Lock()

    # --- Instruments ----------------------------------------------------------------------------

    def request(self, outcome: str) -> None:
        self._child(self._requests, outcome).inc()

    def credits_reserved(self, amount: float) -> None:
        if amount > 0:
            self._reserved.inc(amount)

    def credits_spent(self, amount: float) -> None:
        if amount > 0:
            self._spent.inc(amount)

    def evolink_call(self, route: str, error: str | None) -> None:
        self._child(self._queries, route).inc()
        if error is not None:
            self._child(self._errors, error).inc()
        if error in ANSWERS:
            self.evolink_answered_at = self._clock()
            self.evolink_key_refused = error in KEY_REFUSED
        if route in WORK_ROUTES:
            if error in ANSWERS:
                self.evolink_work_failing_since = None
            elif self.evolink_work_failing_since is None:
                self.evolink_work_failing_since = self._clock()
            self.evolink_work_error = error

    def delivered(self, lag_seconds: float) -> None:
        self._lag.observe(max(0.0, lag_seconds))

    def rate_limit_wait(self, seconds: float) -> None:
        self._rate_limit_waits.inc()
        self._rate_limit_seconds.inc(max(0.0, seconds))

    def _child(self, counter: Counter, label: str) -> Counter:
        """A labelled child, looked up once (labels() takes a lock and builds a tuple)."""
        key = (id(counter), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(label)
        return child

    # --- scraping -------------------------------------------------------------------------------

    async def render(self, store: Store, gateway_connected: Callable[[], bool]) -> bytes:
        """The Prometheus text; computed at most once a second (concurrent scrapes share it)."""
        async with self._rendering:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            counts = await store.generations.task_counts()
            for state, count in counts.items():
                self._tasks.labels(state).set(count)
            self._queue.set(counts.get("queued", 0))
            self._gateway.set(1 if gateway_connected() else 0)
            text = generate_latest(self.registry)
            self._cached = (time.monotonic(), text)
            return text


class RateLimitWaits(logging.Filter):
    """Counts the 429s discord.py waits out, from its own log line (it has no hook for them).
    A filter never drops a record: it only looks."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._metrics = metrics

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if isinstance(message, str) and message.startswith(RATE_LIMITED) and "Retrying" in message:
            args = record.args if isinstance(record.args, tuple) else ()
            wait = args[-1] if args else 0.0
            self._metrics.rate_limit_wait(float(wait) if isinstance(wait, int | float) else 0.0)
        return True


def count_rate_limit_waits(metrics: Metrics) -> Callable[[], None]:
    """Attach the counter to discord.py's HTTP logger; returns what detaches it. The logger is
    kept at WARNING or lower so the line is made (handlers still print only LOG_LEVEL)."""
    logger = logging.getLogger("discord.http")
    counter = RateLimitWaits(metrics)
    logger.addFilter(counter)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    return lambda: logger.removeFilter(counter)
