"""The optional monitoring endpoint (METRICS_PORT, on METRICS_HOST): /healthz and /metrics.

/healthz answers 200 when the bot is connected to Discord's gateway, can write its database and
heard from EvoLink in the last few minutes, the calls videos need (creates and task queries)
included when it made any; 503 otherwise, naming what is wrong, as JSON.
/metrics is the Prometheus text of bot/metrics.py.

The server is bounded like the callback receiver (bot/bounded_http.py): GET only, one request
per connection, the request within a deadline, a fixed number of connections (the oldest still
sending its request makes room for a newcomer), and answers computed at most once a second
whatever the number of callers, so scraping it hard cannot starve the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus

from bot.bounded_http import Answer, BoundedServer, Request
from bot.metrics import Metrics
from bot.store import Clock, DatabaseUnwritable, Store

log = logging.getLogger(__name__)

EVOLINK_STALE = 300.0  # healthy while EvoLink answered within this many seconds
EVOLINK_PROBE = 60.0  # with nothing asked of EvoLink for this long, ask for the balance
DATABASE_TIMEOUT = 2.0
CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = 16  # a monitor or two, and docker's health check
    header_timeout: float = 5.0
    answer_timeout: float = 10.0
    max_header_bytes: int = 8 * 1024


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, str]  # "ok", or what is wrong

    @property
    def healthy(self) -> bool:
        return all(value == "ok" for value in self.checks.values())

    def answer(self) -> Answer:
        body = {"status": "ok" if self.healthy else "unhealthy", "checks": self.checks}
        status = HTTPStatus.OK if self.healthy else HTTPStatus.SERVICE_UNAVAILABLE
        return Answer(status, "application/json", json.dumps(body).encode() + b"\n")


class Health:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        gateway_connected: Callable[[], bool],
        clock: Clock = time.time,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self.cache_seconds = cache_seconds
        self._gateway_connected = gateway_connected
        self._clock = clock
        self._cached: tuple[float, HealthReport] | None = None
        self._checking = asyncio.Lock()

    async def report(self) -> HealthReport:
        async with self._checking:  # one check at a time; callers meanwhile share its result
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            report = HealthReport(
                {
                    "gateway": "ok" if self._gateway_connected() else "not connected to Discord",
                    "database": await self._database(),
                    "evolink": self._evolink(),
                }
            )
            self._cached = (time.monotonic(), report)
            return report

    async def _database(self) -> str:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                await self._store.check_writable()
        except TimeoutError:
            return f"the database was busy for more than {DATABASE_TIMEOUT:.0f} s"
        except DatabaseUnwritable as exc:
            return f"the database cannot be written: {exc}"
        except Exception as exc:  # e.g. a connection cut mid-answer: unhealthy, still answered
            log.warning("the database check failed: %r", exc)
            return f"the database check failed: {type(exc).__name__}"
        return "ok"

    def _evolink(self) -> str:
        answered = self._metrics.evolink_answered_at
        if answered is None:
            return "EvoLink has not answered since the bot started"
        if self._metrics.evolink_key_refused:
            return "EvoLink refuses EVOLINK_API_KEY"
        silent = self._clock() - answered
        if silent > EVOLINK_STALE:
            return f"EvoLink has not answered for {silent:.0f} s"
        failing_since = self._metrics.evolink_work_failing_since
        if failing_since is not None and self._clock() - failing_since > EVOLINK_STALE:
            failing = self._clock() - failing_since
            error = self._metrics.evolink_work_error
            return f"every create and task query has failed for {failing:.0f} s ({error})"
        return "ok"

    async def keep_evolink_fresh(self, ask: Callable[[], Awaitable[object]]) -> None:
        """While the bot asks EvoLink nothing (no video running), ask for the balance now and
        then, so that a silent EvoLink is told from an idle bot."""
        while True:
            answered = self._metrics.evolink_answered_at
            if answered is None or self._clock() - answered >= EVOLINK_PROBE:
                with contextlib.suppress(Exception):  # counted by the metrics; health says it
                    await ask()
            await asyncio.sleep(EVOLINK_PROBE / 2)


class MonitoringServer(BoundedServer):
    """GET-only: a few fixed paths, each answered within `answer_timeout`."""

    name = "monitoring"

    def __init__(
        self,
        routes: Mapping[str, Callable[[], Awaitable[Answer]]],
        limits: ServerLimits | None = None,
    ) -> None:
        self.limits = limits or ServerLimits()
        super().__init__(
            max_connections=self.limits.max_connections,
            header_timeout=self.limits.header_timeout,
            max_header_bytes=self.limits.max_header_bytes,
        )
        self._routes = routes

    async def start(self, host: str, port: int) -> None:
        await super().start(host, port)
        log.info("health and metrics on http://%s:%s (/healthz, /metrics)", host, self.port)

    async def exchange(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Answer | None:
        if not self.begin_answer(writer):
            return None  # dropped for a newer connection
        if "transfer-encoding" in request.headers or any(
            value not in ("", "0") for value in request.headers.get("content-length", [])
        ):
            return self.refusal(HTTPStatus.BAD_REQUEST)  # a GET carries no body
        route = self._routes.get(request.path)
        if route is None:
            return self.refusal(HTTPStatus.NOT_FOUND)
        if request.method != "GET":
            return replace(self.refusal(HTTPStatus.METHOD_NOT_ALLOWED), allow="GET")
        async with asyncio.timeout(self.limits.answer_timeout):
            return await route()
