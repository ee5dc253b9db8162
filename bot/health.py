"""The optional monitoring endpoint (METRICS_PORT, on METRICS_HOST): /healthz and /metrics.

/healthz answers 200 when the bot is connected to Discord's gateway, can write its database and
heard from EvoLink in the last few minutes, the calls videos need (creates and task queries)
included when it made any; 503 otherwise, naming what is wrong, as JSON.
/metrics is the Prometheus text of bot/metrics.py.

The server is small and bounded like the callback receiver (bot/callbacks.py): GET only, one
request per connection, the request within a deadline, a fixed number of connections (the
oldest still sending its request makes room for a newcomer), and answers computed at most once
a second whatever the number of callers, so scraping it hard cannot starve the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

from bot.metrics import Metrics
from bot.store import Clock, DatabaseUnwritable, Store

log = logging.getLogger(__name__)

EVOLINK_STALE = 300.0  # healthy while EvoLink answered within this many seconds
EVOLINK_PROBE = 60.0  # with nothing asked of EvoLink for this long, ask for the balance
DATABASE_TIMEOUT = 2.0
CACHE_SECONDS = 1.0
_REQUEST_LINE = re.compile(r"([A-Z]{1,16}) (\S{1,2048}) HTTP/1\.[01]")


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = 16  # a monitor or two, and docker's health check
    header_timeout: float = 5.0
    answer_timeout: float = 10.0
    max_header_bytes: int = 8 * 1024


@dataclass(frozen=True)
class Answer:
    status: HTTPStatus
    content_type: str
    body: bytes


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


class MonitoringServer:
    """GET-only HTTP/1.1 server answering a few fixed paths."""

    def __init__(
        self,
        routes: Mapping[str, Callable[[], Awaitable[Answer]]],
        limits: ServerLimits | None = None,
    ) -> None:
        self._routes = routes
        self.limits = limits or ServerLimits()
        self._server: asyncio.Server | None = None
        self._receiving: dict[asyncio.StreamWriter, None] = {}  # oldest first: may make room
        self._answering: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._serve, host, port, limit=self.limits.max_header_bytes
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("health and metrics on http://%s:%s (/healthz, /metrics)", host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        self._server = None
        for writer in [*self._receiving, *self._answering]:
            writer.transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    @property
    def open_connections(self) -> int:
        return len(self._receiving) + len(self._answering)

    def _admit(self, writer: asyncio.StreamWriter) -> bool:
        if self.open_connections >= self.limits.max_connections:
            if not self._receiving:
                return False
            oldest = next(iter(self._receiving))
            del self._receiving[oldest]
            oldest.transport.abort()
        self._receiving[writer] = None
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._admit(writer):
            writer.transport.abort()
            return
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            async with asyncio.timeout(self.limits.header_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
            if writer not in self._receiving:
                return  # dropped for a newer connection
            del self._receiving[writer]
            self._answering.add(writer)
            async with asyncio.timeout(self.limits.answer_timeout):
                answer = await self._answer(head)
                writer.write(_response(answer))
                await writer.drain()
            writer.close()
        except asyncio.LimitOverrunError:
            writer.write(_response(_plain(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)))
            writer.close()
        except (OSError, asyncio.IncompleteReadError) as exc:  # TimeoutError included
            log.debug("monitoring connection ended early: %s", type(exc).__name__)
        except Exception:
            log.exception("the monitoring endpoint failed to answer")
        finally:
            self._receiving.pop(writer, None)
            self._answering.discard(writer)
            if not writer.transport.is_closing():
                writer.transport.abort()
            if handler is not None:
                self._handlers.discard(handler)

    async def _answer(self, head: bytes) -> Answer:
        lines = head.decode("latin-1").split("\r\n")
        request = _REQUEST_LINE.fullmatch(lines[0])
        if request is None:
            return _plain(HTTPStatus.BAD_REQUEST)
        method, path = request[1], request[2].partition("?")[0]
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "transfer-encoding" or (
                name.strip().lower() == "content-length" and value.strip() not in ("", "0")
            ):
                return _plain(HTTPStatus.BAD_REQUEST)  # a GET carries no body
        route = self._routes.get(path)
        if route is None:
            return _plain(HTTPStatus.NOT_FOUND)
        if method != "GET":
            return _plain(HTTPStatus.METHOD_NOT_ALLOWED)
        return await route()


def _plain(status: HTTPStatus) -> Answer:
    return Answer(status, "text/plain; charset=utf-8", f"{status.phrase}\n".encode())


def _response(answer: Answer) -> bytes:
    allow = "Allow: GET\r\n" if answer.status == HTTPStatus.METHOD_NOT_ALLOWED else ""
    return (
        f"HTTP/1.1 {answer.status.value} {answer.status.phrase}\r\n"
        f"Content-Type: {answer.content_type}\r\nContent-Length: {len(answer.body)}\r\n{allow}"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    ).encode() + answer.body
