"""The simulator as one object: a real HTTP server on loopback that puts its parts together.

Every request is recorded, then (on the API and file routes) the first matching fault rule is
applied, the Bearer key and the rate limit are checked, and the route answers. What tests and the
benchmark read and drive (tasks, balance, faults, switches, recorded requests, callbacks) is
reachable from ``Simulator``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bot.simulator.callbacks import CallbackAttempt, CallbackSender
from bot.simulator.control import ControlRoutes
from bot.simulator.faults import API_ROUTES, Faults, apply_fault
from bot.simulator.responses import ERROR_MESSAGES, error_response
from bot.simulator.routes import ApiRoutes, KeysInProgress
from bot.simulator.switches import Switches
from bot.simulator.tasks import SimTask, TaskBook

log = logging.getLogger(__name__)

#: A plausible MP4 ``ftyp`` box (32 bytes); the rest of the fake file is zero bytes.
_MP4_FTYP: Final = (
    b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + b"isom" + b"iso2" + b"avc1" + b"mp41"
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator received (any route, /_sim and /files included)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased
    json: Any  # the parsed JSON body, or None (no body or not JSON)
    body: bytes
    time: float  # clock() when received


@dataclass
class _Bucket:
    rate: float = 0.0
    tokens: float = 0.0
    last: float = 0.0


class Simulator:
    """A fake EvoLink API server on loopback. See the package docstring."""

    def __init__(
        self,
        *,
        api_keys: set[str] | None = None,
        task_seconds: float = 20.0,
        pending_seconds: float = 2.0,
        price_per_second: dict[str, float] | None = None,
        balance: float = 10_000.0,
        clock: Callable[[], float] = time.time,
        video_bytes: int = 256 * 1024,
        link_ttl_seconds: float = 86400.0,
        allow_insecure_callbacks: bool = False,
        batch_enabled: bool = True,
        callback_retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
        callback_timeout: float = 10.0,
        callback_poll_interval: float = 0.2,
        fail_rate: float = 0.0,
        seed: int | None = None,
        task_retention_seconds: float | None = None,
        credits_reserved_mode: str = "exact",
        credits_used_mode: str = "exact",
        honour_idempotency: bool = True,
        progress_profile: str = "linear",
        run_time_factors: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        if video_bytes < 0:
            raise ValueError("video_bytes must be >= 0")
        self.switches = Switches(
            fail_rate=float(fail_rate),
            credits_reserved=credits_reserved_mode,
            credits_used=credits_used_mode,
            honour_idempotency=honour_idempotency,
            batch_enabled=batch_enabled,
            task_retention_seconds=task_retention_seconds,
            link_ttl_seconds=float(link_ttl_seconds),
            progress_profile=progress_profile,
            run_time_factors=run_time_factors,
        )
        self.faults = Faults()
        self.api_keys: set[str] | None = None if api_keys is None else set(api_keys)
        self.clock = clock
        self.video_bytes = video_bytes
        self.allow_insecure_callbacks = allow_insecure_callbacks
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.book = TaskBook(
            switches=self.switches,
            clock=clock,
            task_seconds=task_seconds,
            pending_seconds=pending_seconds,
            price_per_second=price_per_second,
            balance=balance,
            rng=random.Random(seed),
            # looked up at each call, so that a test may replace them on the simulator
            result_url=lambda task_id: self.result_url(task_id),
            on_terminal=lambda: self.callbacks.wake(),
        )
        self.callbacks = CallbackSender(
            tasks=lambda: self.book.tasks.values(),
            refresh=self.book.refresh,
            answer=lambda task: self.answer(task),
            clock=clock,
            retry_delays=callback_retry_delays,
            timeout=callback_timeout,
            poll_interval=callback_poll_interval,
        )
        self._bucket = _Bucket()
        self._create_bucket = _Bucket()
        self._keys_in_progress = KeysInProgress(self)
        self._video: bytes | None = None
        self._runner: web.AppRunner | None = None

    # ---------------------------------------------------------------- serving

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public_url: str | None = None,
        access_log: bool = False,
    ) -> str:
        """Start serving; return the base URL (``http://127.0.0.1:PORT``)."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        runner = web.AppRunner(
            self._build_app(),
            access_log=log if access_log else None,
            shutdown_timeout=0.5,
            handle_signals=False,
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = int(runner.addresses[0][1])
        if public_url:
            self.base_url = public_url.rstrip("/")
        else:
            link_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
            if link_host == "::":
                link_host = "::1"
            if ":" in link_host:
                link_host = f"[{link_host}]"
            self.base_url = f"http://{link_host}:{bound_port}"
        await self.callbacks.start()
        return self.base_url

    async def stop(self) -> None:
        """Stop serving, cancel pending callback deliveries. Safe to call twice."""
        await self.callbacks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._make_middleware()])
        ApiRoutes(self).add_to(app.router)
        ControlRoutes(self).add_to(app.router)
        return app

    # ---------------------------------------------------------------- tasks and account

    @property
    def tasks(self) -> dict[str, SimTask]:
        return self.book.tasks

    @property
    def balance(self) -> float:
        """Remaining credits (failed tasks found terminal so far are refunded)."""
        self.book.sweep()
        return round(self.book.balance, 6)

    @balance.setter
    def balance(self, value: float) -> None:
        self.book.balance = float(value)

    @property
    def used_credits(self) -> float:
        return self.book.used_credits

    @property
    def price_per_second(self) -> dict[str, float]:
        return self.book.price_per_second

    @property
    def task_seconds(self) -> float:
        return self.book.task_seconds

    @property
    def batch_enabled(self) -> bool:
        return self.switches.batch_enabled

    @batch_enabled.setter
    def batch_enabled(self, value: bool) -> None:
        self.switches.batch_enabled = value

    @property
    def honour_idempotency(self) -> bool:
        return self.switches.honour_idempotency

    @honour_idempotency.setter
    def honour_idempotency(self, value: bool) -> None:
        self.switches.honour_idempotency = value

    def sweep(self) -> None:
        """Bring every task's status up to ``clock()`` (refunds failures)."""
        self.book.sweep()

    def complete_now(self, task_id: str, results: Sequence[str] | None = None) -> None:
        """Force a task to ``completed`` now. KeyError if unknown, ValueError if terminal.

        ``results``: what the answer's ``results`` shall hold instead of the served file's link
        (odd links a real API might send back: spaces, control characters, 5,000 characters)."""
        self.book.complete_now(task_id, results)

    def fail_now(
        self, task_id: str, code: str = "generation_failed_no_content", message: str | None = None
    ) -> None:
        """Force a task to ``failed`` now (refunds). KeyError if unknown, ValueError if terminal."""
        self.book.fail_now(task_id, code, message)

    def task_answer(self, task_id: str) -> dict[str, Any]:
        """What ``GET /v1/tasks/{id}`` would answer now (KeyError if unknown)."""
        return self.answer(self.book.get(task_id))

    def answer(self, task: SimTask) -> dict[str, Any]:
        """What a query, a batch query and a callback say about ``task`` now."""
        return self._answer(task)

    def _answer(self, task: SimTask) -> dict[str, Any]:
        # Every answer about a task passes here: a test may replace it to answer oddly.
        return self.book.answer(task)

    def result_url(self, task_id: str) -> str:
        return f"{self.base_url}/files/{task_id}.mp4"

    def video_body(self) -> bytes:
        """The bytes of every result file: an MP4 header, then zeros."""
        if self._video is None or len(self._video) != self.video_bytes:
            head = _MP4_FTYP[: self.video_bytes]
            self._video = head + bytes(self.video_bytes - len(head))
        return self._video

    # ---------------------------------------------------------------- callbacks

    @property
    def callback_attempts(self) -> list[CallbackAttempt]:
        return self.callbacks.attempts

    async def flush_callbacks(self) -> None:
        """Start due callbacks now and wait until every delivery (with retries) has ended."""
        await self.callbacks.flush()

    # ---------------------------------------------------------------- every request

    def _make_middleware(self) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                body = await request.read()
            except web.HTTPException as exc:  # e.g. body too large
                self.requests.append(self._record(request, b""))
                return self._http_exception(request, exc)
            self.requests.append(self._record(request, body))
            route = request.match_info.route.name
            release = self._keys_in_progress.claim(request) if route == "create" else None
            if isinstance(release, web.Response):
                return release
            try:
                if route in API_ROUTES or route == "files":
                    assert route is not None
                    rule = self.faults.take(route)
                    if rule is not None:
                        faulted = await apply_fault(request, rule, route, None, self.video_body())
                        if faulted is not None:
                            return faulted
                if route in API_ROUTES:
                    if self.api_key_of(request) is None:
                        return error_response(
                            401,
                            "unauthorized",
                            "Invalid or expired token. Send 'Authorization: Bearer <API key>'.",
                        )
                    wait = self._rate_limit_wait(self._bucket, self.faults.rate_limit_per_second)
                    if wait is None and route == "create":
                        limit = self.faults.create_rate_limit_per_second
                        wait = self._rate_limit_wait(self._create_bucket, limit)
                    if wait is not None:
                        return error_response(
                            429,
                            "rate_limit_exceeded",
                            ERROR_MESSAGES["rate_limit_exceeded"],
                            headers={"Retry-After": str(max(1, math.ceil(wait)))},
                        )
                return await handler(request)
            except web.HTTPException as exc:
                return self._http_exception(request, exc)
            except Exception:
                log.exception("simulator handler failed")
                return error_response(500, "internal_error", "Simulator internal error.")
            finally:
                if release is not None:
                    release()

        return middleware

    def _record(self, request: web.Request, body: bytes) -> RecordedRequest:
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                parsed = None
        return RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
            body=body,
            time=self.clock(),
        )

    def _http_exception(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        if exc.status == 404:
            return self.not_found_route(request)
        if exc.status == 405:
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return error_response(
                405,
                "method_not_allowed",
                f"Method {request.method} is not allowed on {request.path}",
                headers=headers,
            )
        code = "request_too_large" if exc.status == 413 else "http_error"
        return error_response(exc.status, code, exc.reason or "HTTP error")

    @staticmethod
    def not_found_route(request: web.Request) -> web.Response:
        return error_response(404, "not_found", f"No such route: {request.method} {request.path}")

    def api_key_of(self, request: web.Request) -> str | None:
        """The request's accepted Bearer key, or None (no key, or not an accepted one)."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if self.api_keys is not None and token not in self.api_keys:
            return None
        return token

    def _rate_limit_wait(self, bucket: _Bucket, rate: float | None) -> float | None:
        """None: the request may pass; else seconds until the token bucket has one."""
        if not rate or rate <= 0:
            return None
        now = self.clock()
        capacity = max(1.0, rate)
        if bucket.rate != rate:
            bucket.rate, bucket.tokens, bucket.last = rate, capacity, now
        bucket.tokens = min(capacity, bucket.tokens + max(0.0, now - bucket.last) * rate)
        bucket.last = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate
