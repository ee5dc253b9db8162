"""EvoLink API client: create a video task, query tasks, read the balance.

One `EvoLinkClient` per process (one pooled `httpx.AsyncClient`, over aiohttp's connection pool:
httpx's own transport spent ~0.5 ms of CPU per query, the bot's limit when following thousands of
tasks one query at a time; see BENCHMARKS.md). Answers become typed results;
every failure becomes an `EvoLinkError` subclass that says what a member or the owner should
hear. Retries follow one rule: a query may be retried freely, a create only where no
connection was opened, so a retry can never start a second paid task. A create answered 429
(EvoLink is busy) is not retried here: the caller puts it in line behind the requests that came
before it (bot/busy_line.py), which a retry here could overtake.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from bot.request import VideoRequest

log = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
MAX_RETRY_AFTER = 30.0
BATCH_LIMIT = 50


@dataclass(frozen=True)
class TaskState:
    """What EvoLink says about a task, from a create or a query answer."""

    id: str
    status: str
    progress: int = 0
    estimated_time: float | None = None
    credits_reserved: float | None = None
    credits_used: float | None = None
    results: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    replayed: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def video_url(self) -> str | None:
        return self.results[0] if self.results else None


@dataclass(frozen=True)
class Balance:
    remaining_credits: float | None
    unlimited: bool = False


# --- errors -------------------------------------------------------------------------------


@dataclass
class EvoLinkError(Exception):
    """Base of every client failure. `message` is the API's own words where it gave any."""

    message: str
    status: int | None = None
    code: str | None = None
    retry_after: float | None = field(default=None, kw_only=True)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code {self.code}")
        return " | ".join(parts)


class BadRequest(EvoLinkError):
    """400: the API refused the parameters."""


class Unauthorized(EvoLinkError):
    """401: the API key is wrong or expired."""


class InsufficientBalance(EvoLinkError):
    """402: the EvoLink account cannot pay for this."""


class ModelAccessDenied(EvoLinkError):
    """403: the key may not use this model."""


class TaskNotFound(EvoLinkError):
    """404 on a task query: unknown or expired task id."""


class RateLimited(EvoLinkError):
    """429: too many requests; `retry_after` seconds if the API said."""


class ServerError(EvoLinkError):
    """5xx or another status the API does not document."""


class BadResponse(EvoLinkError):
    """The answer could not be read (not JSON, or not the documented shape)."""


class Unreachable(EvoLinkError):
    """No answer: the connection failed or timed out."""


class BatchUnsupported(EvoLinkError):
    """The API does not answer the batch query; use single queries."""


class OutcomeUnknown(EvoLinkError):
    """A create was sent but its answer was lost: a task may or may not exist."""


class CreateInFlight(OutcomeUnknown):
    """EvoLink already holds a create with this Idempotency-Key: an earlier call is still being
    handled (or was made with another body). This call made no task; the earlier one may have,
    and repeating the same call later gets it back."""


# What EvoLink's MCP client reads in a create's error (not in the public reference): the key
# "is still being processed", and the key "was already used for a different request".
KEY_IN_FLIGHT_CODES = frozenset({"paid_outcome_unknown", "idempotency_conflict"})


_STATUS_ERRORS: dict[int, type[EvoLinkError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: InsufficientBalance,
    403: ModelAccessDenied,
    404: TaskNotFound,
    405: BatchUnsupported,
    429: RateLimited,
}


Sleep = Callable[[float], Awaitable[None]]
Observe = Callable[[str, str | None], None]  # route, error kind (None: answered as hoped)


def route_of(method: str, path: str) -> str:
    """A call's route for the metrics: a fixed name, never a task id."""
    if path.startswith("/v1/tasks/"):
        return "batch" if path == "/v1/tasks/batch" else "task"
    return {"/v1/videos/generations": "create", "/v1/credits": "credits"}.get(path, "other")


def _unobserved(route: str, error: str | None) -> None:
    pass


def fast_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """httpx's API on aiohttp's connection pool (a fraction of httpcore's CPU per request)."""
    return AiohttpTransport(limits=limits)


class EvoLinkClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        connections: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        observe: Observe = _unobserved,
    ) -> None:
        """`observe` is told of every HTTP exchange (bot.instruments counts them)."""
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport or fast_transport(limits),
            follow_redirects=False,
        )
        self._max_retries = max_retries
        self._sleep = sleep
        self._observe = observe

    @property
    def base_url(self) -> str:
        """The API's address, e.g. to recognise links to its own files."""
        return str(self._http.base_url).rstrip("/")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create_task(self, request: VideoRequest, idempotency_key: str) -> TaskState:
        """Start a paid task. Raises OutcomeUnknown when a task may exist without our knowing."""
        data, headers = await self._call(
            "POST",
            "/v1/videos/generations",
            json=request.to_json(),
            headers={"Idempotency-Key": idempotency_key},
            safe_to_retry=False,
        )
        try:
            state = parse_task(data)
        except BadResponse as exc:
            raise OutcomeUnknown("EvoLink's answer to the create could not be read.") from exc
        replayed = headers.get("idempotency-replayed", "").lower() == "true"
        return replace(state, replayed=True) if replayed else state

    async def get_task(self, task_id: str) -> TaskState:
        data, _ = await self._call("GET", f"/v1/tasks/{task_id}", safe_to_retry=True)
        return parse_task(data)

    async def get_tasks(self, task_ids: list[str]) -> dict[str, TaskState]:
        """Up to 50 tasks in one call (`POST /v1/tasks/batch`, used by EvoLink's own client but
        not in the public docs). Unknown ids are absent. Raises BatchUnsupported where the API
        has no such route, so the caller can fall back to single queries."""
        if not 0 < len(task_ids) <= BATCH_LIMIT:
            raise ValueError(f"a batch holds 1 to {BATCH_LIMIT} task ids")
        try:
            data, _ = await self._call(
                "POST", "/v1/tasks/batch", json={"task_ids": task_ids}, safe_to_retry=True
            )
        except (TaskNotFound, BadRequest) as exc:  # no such route, or not this body shape
            raise BatchUnsupported(exc.message, exc.status, exc.code) from exc
        items = data.get("data")
        if not isinstance(items, list):
            raise BadResponse("EvoLink's batch answer was not in the expected shape.")
        states: dict[str, TaskState] = {}
        for item in items:
            try:
                state = parse_task(item if isinstance(item, dict) else {})
            except BadResponse:
                continue  # left out: a single query of that task says what is wrong with it
            states[state.id] = state
        wanted = set(task_ids)
        return {task_id: state for task_id, state in states.items() if task_id in wanted}

    async def get_balance(self) -> Balance:
        data, _ = await self._call("GET", "/v1/credits", safe_to_retry=True)
        try:
            token = data["data"]["token"]
            remaining = token.get("remaining_credits")
            return Balance(
                remaining_credits=float(remaining) if remaining is not None else None,
                unlimited=bool(token.get("unlimited_credits", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadResponse("EvoLink's balance answer was not in the expected shape.") from exc

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        safe_to_retry: bool,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        attempt = 0
        while True:
            try:
                return await self._once(method, path, json=json, headers=headers)
            except EvoLinkError as exc:
                attempt += 1
                if attempt > self._max_retries or not _retryable(exc, safe_to_retry):
                    raise
                delay = _backoff(attempt, exc.retry_after)
                log.warning("EvoLink %s %s: %s; retry in %.1fs", method, path, exc, delay)
                await self._sleep(delay)

    async def _once(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        try:
            answer = await self._exchange(method, path, json=json, headers=headers)
        except EvoLinkError as exc:
            self._observe(route_of(method, path), type(exc).__name__)
            raise
        self._observe(route_of(method, path), None)
        return answer

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        sent_paid_request = method == "POST" and path == "/v1/videos/generations"
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.TransportError as exc:  # timeouts, dropped connections
            if _never_connected(exc):
                raise Unreachable("Could not connect to EvoLink.") from exc
            if sent_paid_request:
                raise OutcomeUnknown("EvoLink did not answer the request in time.") from exc
            raise Unreachable("EvoLink did not answer in time.") from exc

        data = _json_or_none(response)
        if response.status_code == 200:
            if data is None:
                if sent_paid_request:
                    raise OutcomeUnknown("EvoLink's answer could not be read.")
                raise BadResponse("EvoLink's answer could not be read.", 200)
            return data, response.headers

        message, code = _error_fields(data)
        kind = _STATUS_ERRORS.get(response.status_code, ServerError)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if kind is ServerError and sent_paid_request and response.status_code >= 500:
            # A gateway error can come after the task was made; we cannot tell, so never retry.
            kind = OutcomeUnknown
        if sent_paid_request and (response.status_code == 409 or code in KEY_IN_FLIGHT_CODES):
            kind = CreateInFlight  # the key's first call may have made a task: not a refusal
        message = message or f"EvoLink answered HTTP {response.status_code}."
        raise kind(message, response.status_code, code, retry_after=retry_after)


def _never_connected(exc: httpx.TransportError) -> bool:
    """True when the request cannot have reached EvoLink (so even a create may be sent again).
    httpx-aiohttp maps most aiohttp errors to ConnectTimeout, a dropped answer included: the
    aiohttp error it was raised from tells the two apart."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _retryable(exc: EvoLinkError, safe_to_retry: bool) -> bool:
    if isinstance(exc, Unreachable):  # never connected: not even a create can have made a task
        return True
    return safe_to_retry and isinstance(exc, RateLimited | ServerError | BadResponse)


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER) + random.uniform(0, 0.5)
    return min(2.0 ** (attempt - 1), MAX_RETRY_AFTER) * random.uniform(0.8, 1.2)


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds or an HTTP date, never negative."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_fields(data: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if not data:
        return None, None
    error = data.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code", error.get("type"))
        return (str(message) if message else None), (str(code) if code is not None else None)
    if isinstance(error, str):
        return error, None
    message = data.get("message")
    return (str(message) if message else None), None


def parse_task(data: dict[str, Any]) -> TaskState:
    """Read a task from a create or query answer; tolerate extra and undocumented fields."""
    try:
        task_id = data["id"]
        status = data["status"]
        if not isinstance(task_id, str) or not task_id or not isinstance(status, str):
            raise TypeError
        status = status.strip().lower()
        progress = int(max(0.0, min(100.0, _number(data.get("progress")) or 0.0)))
        usage, info, error = (_dict(data.get(key)) for key in ("usage", "task_info", "error"))
        results = data.get("results") or []
        if not isinstance(results, list):
            raise TypeError
        return TaskState(
            id=task_id,
            status=status,
            progress=progress,
            estimated_time=_number(info.get("estimated_time")),
            credits_reserved=_number(usage.get("credits_reserved")),
            credits_used=_number(usage.get("credits_used")),
            results=tuple(str(r) for r in results if isinstance(r, str) and r),
            error_code=str(error["code"]) if error.get("code") is not None else None,
            error_message=str(error["message"]) if error.get("message") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadResponse("EvoLink's task answer was not in the expected shape.") from exc


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
