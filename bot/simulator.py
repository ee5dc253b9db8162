"""A loopback simulator of the EvoLink video API (``wan2.7-text-to-video``).

It follows ``evolink-api.md`` (the project's whole knowledge of the API) on its own: it imports
nothing from the rest of ``bot/``, so a misreading of the API in the client is caught here instead
of being copied. Only the standard library and aiohttp are used.

Time is virtual: a task's state is computed from ``clock()`` against its creation time, so tests
inject a fake clock and move it forward instead of sleeping.

Run it by hand with ``python -m bot.simulator --port 8787`` and point the bot's EvoLink base URL
at the printed address. Magic markers in a prompt drive a whole bot from outside:
``[[fail:content_policy_violation]]`` ends the task failed with that code, ``[[never]]`` keeps it
processing forever, ``[[used:lower]]`` (or ``higher``, ``missing``, ``negative``, ``absurd``, or a
number such as ``[[used:3]]``) makes the finished task report that ``usage.credits_used``, and
``[[reserved:...]]`` does the same for the create answer's ``usage.credits_reserved``.
``/_sim/...`` control endpoints (no auth) inject faults and finish tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import logging
import math
import random
import re
import signal
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = [
    "BILLING_MODES",
    "CallbackAttempt",
    "FaultRule",
    "Faults",
    "RecordedRequest",
    "SimTask",
    "Simulator",
    "main",
]

log = logging.getLogger(__name__)

MODEL: Final = "wan2.7-text-to-video"
PROMPT_MAX: Final = 5000
NEGATIVE_PROMPT_MAX: Final = 500
CALLBACK_URL_MAX: Final = 2048
QUALITIES: Final = ("720p", "1080p")
ASPECT_RATIOS: Final = ("16:9", "9:16", "1:1", "4:3", "3:4")
DURATION_MIN: Final = 2
DURATION_MAX: Final = 15
SEED_MIN: Final = 1
SEED_MAX: Final = 2_147_483_647
BATCH_MAX: Final = 50
DEFAULT_PRICES: Final[Mapping[str, float]] = {"720p": 1.0, "1080p": 2.0}
ALLOWED_FIELDS: Final = frozenset(
    {
        "model",
        "prompt",
        "negative_prompt",
        "audio_urls",
        "quality",
        "aspect_ratio",
        "duration",
        "seed",
        "prompt_extend",
        "callback_url",
    }
)

#: Output size by quality and aspect ratio (from the documentation's table).
OUTPUT_SIZES: Final[Mapping[str, Mapping[str, tuple[int, int]]]] = {
    "720p": {
        "16:9": (1280, 720),
        "9:16": (720, 1280),
        "1:1": (960, 960),
        "4:3": (1104, 832),
        "3:4": (832, 1104),
    },
    "1080p": {
        "16:9": (1920, 1080),
        "9:16": (1080, 1920),
        "1:1": (1440, 1440),
        "4:3": (1648, 1248),
        "3:4": (1248, 1648),
    },
}

TaskStatus = Literal["pending", "processing", "completed", "failed"]
FaultRoute = Literal["create", "query", "batch", "credits", "files", "any"]
FAULT_ROUTES: Final = ("create", "query", "batch", "credits", "files", "any")
#: Routes that "any" covers: the authenticated /v1 API.
API_ROUTES: Final = ("create", "query", "batch", "credits")

_STATUS_RANK: Final[Mapping[str, int]] = {
    "pending": 0,
    "processing": 1,
    "completed": 2,
    "failed": 2,
}

_FAIL_MARKER: Final = re.compile(r"\[\[fail:([A-Za-z0-9_.\-]+)\]\]")
_NEVER_MARKER: Final = "[[never]]"
#: How a task reports a credit figure: ``exact`` (what was really reserved), ``lower`` (60 % of
#: it: billed for a shorter video), ``higher`` (150 %), ``missing`` (the field is left out),
#: ``negative`` (minus it) or ``absurd`` (1000 times it); or a plain number, reported as it is.
#: ``lower``, ``higher`` and numbers of 0 or more are what the account is really charged; the
#: other three are reporting faults (the account pays the reservation).
BILLING_MODES: Final = ("exact", "lower", "higher", "missing", "negative", "absurd")
_BILLING_FORM: Final = r"(exact|lower|higher|missing|negative|absurd|-?\d+(?:\.\d+)?)"
_USED_MARKER: Final = re.compile(r"\[\[used:" + _BILLING_FORM + r"\]\]")
_RESERVED_MARKER: Final = re.compile(r"\[\[reserved:" + _BILLING_FORM + r"\]\]")
_BILLING_FACTORS: Final[Mapping[str, float]] = {
    "exact": 1.0,
    "lower": 0.6,
    "higher": 1.5,
    "negative": -1.0,
    "absurd": 1000.0,
}
_ID_ALPHABET: Final = string.ascii_lowercase + string.digits

#: Plain messages for EvoLink's task error codes.
TASK_ERROR_MESSAGES: Final[Mapping[str, str]] = {
    "content_policy_violation": (
        "Content policy violation. Your request was blocked by safety filters. "
        "Please revise the prompt and try again."
    ),
    "invalid_parameters": "Invalid parameters for this task.",
    "request_cancelled": "The request was cancelled.",
    "generation_failed_no_content": "Generation failed: the model produced no content.",
    "service_error": "The generation service hit an error.",
    "generation_timeout": "Generation timed out.",
    "resource_exhausted": "Generation resources are exhausted. Please try again later.",
    "quota_exceeded": "Request frequency or concurrency quota exceeded.",
    "service_unavailable": "The generation service is temporarily unavailable.",
    "resource_not_found": "The task id is invalid or has expired.",
    "unknown_error": "An unknown error occurred.",
}

# HTTP error bodies per route, as documented (create and query columns of the error table).
_CREATE_CODES: Final[Mapping[int, str]] = {
    400: "invalid_request",
    401: "unauthorized",
    402: "insufficient_quota",
    403: "model_access_denied",
    404: "not_found",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_QUERY_CODES: Final[Mapping[int, str]] = {
    400: "invalid_task_id",
    401: "unauthorized",
    402: "quota_exceeded",
    403: "permission_denied",
    404: "task_not_found",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
}
_ERROR_MESSAGES: Final[Mapping[str, str]] = {
    "invalid_request": "Invalid request.",
    "invalid_task_id": "Invalid task id.",
    "unauthorized": "Invalid or expired token.",
    "insufficient_quota": "Insufficient quota. Please top up your account.",
    "quota_exceeded": "Quota exceeded. Please top up your account.",
    "model_access_denied": "This API key cannot use this model.",
    "permission_denied": "Permission denied.",
    "task_not_found": "Task not found.",
    "not_found": "Not found.",
    "rate_limit_exceeded": "Rate limit exceeded. Please slow down and retry later.",
    "internal_error": "Internal server error. Please retry later.",
    "bad_gateway": "Bad gateway.",
    "service_unavailable": "Service temporarily unavailable.",
    "gateway_timeout": "Gateway timeout.",
}
_GATEWAY_HTML: Final[Mapping[int, str]] = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}
_BAD_JSON_BODY: Final = b'{"created": 1757169743, "id": "task-unified-17571'

#: A plausible MP4 ``ftyp`` box (32 bytes); the rest of the fake file is zero bytes.
_MP4_FTYP: Final = (
    b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + b"isom" + b"iso2" + b"avc1" + b"mp41"
)


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class CallbackAttempt:
    """One attempt to POST a terminal task to its ``callback_url``."""

    task_id: str
    url: str
    attempt: int  # 1 for the first try, then 2..4 for the retries
    time: float  # clock() when the attempt finished
    status: int | None  # HTTP status answered, None on a transport error or timeout
    error: str | None
    payload: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class SimTask:
    """A task as the simulator keeps it. ``status``/``progress`` are as of the last look;
    ``Simulator.task_answer(id)`` or ``Simulator.sweep()`` bring them up to ``clock()``."""

    id: str
    api_key: str
    created_at: float  # clock() at creation
    created: int  # unix seconds shown in answers
    model: str
    prompt: str  # after truncation
    negative_prompt: str | None
    audio_urls: list[str] | None
    quality: str
    aspect_ratio: str
    duration: int
    seed: int | None
    prompt_extend: bool
    callback_url: str | None
    credits_reserved: float
    request_body: dict[str, Any]
    fail_code: str | None = None  # set: the task ends failed with this code
    fail_message: str | None = None
    never: bool = False  # True: stays processing forever
    results: list[str] | None = None  # set: answered instead of the link to the served file
    reserved_mode: str = "exact"  # how usage.credits_reserved is reported (BILLING_MODES)
    used_mode: str = "exact"  # how usage.credits_used is reported once completed
    status: TaskStatus = "pending"
    progress: int = 0
    terminal_at: float | None = None  # clock() when it turned completed/failed
    refunded: bool = False
    callback_state: Literal["none", "waiting", "sending", "delivered", "failed"] = "none"

    @property
    def size(self) -> tuple[int, int]:
        """Output (width, height) for this quality and aspect ratio."""
        return OUTPUT_SIZES[self.quality][self.aspect_ratio]

    @property
    def is_terminal(self) -> bool:
        return self.status in ("completed", "failed")


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


@dataclass
class FaultRule:
    """One injected fault.

    ``route``: ``create``, ``query``, ``batch``, ``credits``, ``files`` or ``any`` (any of the
    four /v1 routes). ``count``: how many requests it hits (None: always). What it does:
    ``delay`` seconds (real time) first; then ``drop`` (close the connection, no answer), or
    ``bad_json`` (200 with a body that is not JSON), or ``status`` (an EvoLink error body for that
    route and status; ``retry_after`` sets a ``Retry-After`` header; 502/503/504 answer a gateway
    HTML page unless ``html=False``). A rule with only ``delay`` slows a normal answer.
    ``create_after_fault`` (create only): the task is really created and charged first, then the
    fault replaces the answer (the client sees an error or a timeout although a paid task exists).
    Result files only (``files``): ``redirect`` answers 302 to that Location; ``body`` answers 200
    with that text instead of the video; ``content_type`` changes the Content-Type of either.
    """

    route: FaultRoute = "any"
    count: int | None = 1
    status: int | None = None
    retry_after: str | None = None
    html: bool | None = None
    bad_json: bool = False
    delay: float = 0.0
    drop: bool = False
    create_after_fault: bool = False
    code: str | None = None  # overrides the error code of a status fault
    message: str | None = None  # overrides the error message of a status fault
    redirect: str | None = None  # files: answer 302 to this Location
    body: str | None = None  # files: answer 200 with this text instead of the video
    content_type: str | None = None  # files: the Content-Type of the video or of `body`
    hits: int = 0  # how many requests it has hit so far

    def __post_init__(self) -> None:
        if self.route not in FAULT_ROUTES:
            raise ValueError(f"route must be one of {', '.join(FAULT_ROUTES)}")
        if self.count is not None and (isinstance(self.count, bool) or self.count < 1):
            raise ValueError("count must be a positive integer or None (always)")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status 400..599")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.drop and (self.status is not None or self.bad_json):
            raise ValueError("drop cannot be combined with status or bad_json")
        if self.bad_json and self.status is not None:
            raise ValueError("bad_json cannot be combined with status")
        serves = any(value is not None for value in (self.redirect, self.body, self.content_type))
        if serves and (
            self.route != "files" or self.drop or self.bad_json or self.status is not None
        ):
            raise ValueError("redirect, body and content_type: files route only, and no error")
        if not (self.drop or self.bad_json or self.status is not None or self.delay > 0 or serves):
            raise ValueError(
                "a fault needs one of status, bad_json, drop, delay, redirect, body or content_type"
            )
        if self.create_after_fault:
            if self.route == "any":
                self.route = "create"
            elif self.route != "create":
                raise ValueError("create_after_fault applies to the create route only")

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["always"] = self.count is None
        return data

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        """Build a rule from JSON (as posted to ``/_sim/faults``). Raises ValueError."""
        if not isinstance(data, dict):
            raise ValueError("a fault rule must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)} - {"hits"} | {"always"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        route = data.get("route", "any")
        if route not in FAULT_ROUTES:
            raise ValueError(f"route must be one of {', '.join(FAULT_ROUTES)}")
        kwargs["route"] = route
        count = data.get("count", 1)
        if data.get("always") is True or count == "always" or count is None:
            kwargs["count"] = None
        elif isinstance(count, int) and not isinstance(count, bool):
            kwargs["count"] = count
        else:
            raise ValueError('count must be a positive integer or "always"')
        status = data.get("status")
        if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
            raise ValueError("status must be an integer")
        kwargs["status"] = status
        retry_after = data.get("retry_after")
        if retry_after is not None:
            if isinstance(retry_after, bool) or not isinstance(retry_after, str | int | float):
                raise ValueError("retry_after must be a string or a number of seconds")
            kwargs["retry_after"] = _format_retry_after(retry_after)
        for name in ("html",):
            value = data.get(name)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{name} must be a boolean")
            kwargs[name] = value
        for name in ("bad_json", "drop", "create_after_fault"):
            value = data.get(name, False)
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a boolean")
            kwargs[name] = value
        delay = data.get("delay", 0.0)
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise ValueError("delay must be a number of seconds")
        kwargs["delay"] = float(delay)
        for name in ("code", "message", "redirect", "body", "content_type"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
            kwargs[name] = value
        return cls(**kwargs)


def _format_retry_after(value: str | int | float) -> str:
    if isinstance(value, str):
        return value
    if float(value).is_integer():
        return str(int(value))
    return str(value)


class Faults:
    """Fault switches of a running simulator. Rules are tried in the order they were added.

    Example::

        sim.faults.add(route="create", status=429, retry_after="3", count=2)
        sim.faults.add(route="query", drop=True)
        sim.faults.add(route="create", delay=5.0, create_after_fault=True)
        sim.faults.rate_limit_per_second = 2.0
        sim.faults.clear()
    """

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        #: Global token-bucket rate limit on the /v1 routes (None: off); 429 + Retry-After.
        self.rate_limit_per_second: float | None = None

    def add(
        self,
        rule: FaultRule | None = None,
        *,
        route: FaultRoute = "any",
        count: int | None = 1,
        always: bool = False,
        status: int | None = None,
        retry_after: str | int | float | None = None,
        html: bool | None = None,
        bad_json: bool = False,
        delay: float = 0.0,
        drop: bool = False,
        create_after_fault: bool = False,
        code: str | None = None,
        message: str | None = None,
        redirect: str | None = None,
        body: str | None = None,
        content_type: str | None = None,
    ) -> FaultRule:
        """Add a rule (a ready FaultRule, or one built from the keyword arguments)."""
        if rule is None:
            rule = FaultRule(
                route=route,
                count=None if always else count,
                status=status,
                retry_after=None if retry_after is None else _format_retry_after(retry_after),
                html=html,
                bad_json=bad_json,
                delay=delay,
                drop=drop,
                create_after_fault=create_after_fault,
                code=code,
                message=message,
                redirect=redirect,
                body=body,
                content_type=content_type,
            )
        self.rules.append(rule)
        return rule

    def create_after_fault(self, **kwargs: Any) -> FaultRule:
        """Shortcut: ``add(route="create", create_after_fault=True, **kwargs)``."""
        kwargs["route"] = "create"
        kwargs["create_after_fault"] = True
        return self.add(**kwargs)

    def clear(self) -> None:
        """Remove every rule and the rate limit."""
        self.rules.clear()
        self.rate_limit_per_second = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": [r.to_json() for r in self.rules],
            "rate_limit_per_second": self.rate_limit_per_second,
        }

    def take(self, route: str, *, after_create: bool = False) -> FaultRule | None:
        """Find the first rule for ``route`` and count a hit (internal use)."""
        for rule in self.rules:
            if rule.create_after_fault != after_create:
                continue
            if rule.route != route and not (rule.route == "any" and route in API_ROUTES):
                continue
            rule.hits += 1
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
            return rule
        return None


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, param: str | None, message: str, code: str = "invalid_parameter") -> None:
        super().__init__(message)
        self.param = param
        self.message = message
        self.code = code


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _is_internal_host(host: str) -> bool:
    """True for loopback, private, link-local and similar addresses and local names."""
    h = host.strip("[]").lower().rstrip(".")
    if not h:
        return True
    if h == "localhost" or h.endswith((".localhost", ".local", ".internal")):
        return True
    if h.replace(".", "").isdigit() and h.count(".") != 3:
        return True  # integer or short dotted forms such as 2130706433 or 127.1
    try:
        ip = ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_reserved
        or ip.is_multicast
    )


def _check_http_url(value: str, param: str, *, https_only: bool) -> str:
    """Return the hostname of an absolute http(s) URL, or raise _BadRequest."""
    if any(c.isspace() for c in value):
        raise _BadRequest(param, f"{param} must be a valid URI without spaces")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise _BadRequest(param, f"{param} must be a valid URI") from exc
    allowed = ("https",) if https_only else ("http", "https")
    if parts.scheme.lower() not in allowed:
        if https_only:
            raise _BadRequest(param, f"{param} must use https")
        raise _BadRequest(param, f"{param} must be an http or https URI")
    if not parts.hostname:
        raise _BadRequest(param, f"{param} must be an absolute URI with a host")
    return parts.hostname


def billing_mode(value: str) -> str:
    """A checked billing mode: one of BILLING_MODES or a number (ValueError otherwise)."""
    if value in BILLING_MODES:
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(
            f"billing mode must be one of {', '.join(BILLING_MODES)} or a number"
        ) from None
    if not math.isfinite(number):
        raise ValueError("a billing figure must be a finite number")
    return value


def _billed(mode: str, reserved: float) -> float | None:
    """The figure a task reports for `mode`, given what it really reserved (None: left out)."""
    if mode == "missing":
        return None
    factor = _BILLING_FACTORS.get(mode)
    return reserved * factor if factor is not None else float(mode)


def _really_charged(mode: str, reserved: float) -> float:
    """What the account pays for a completed task whose final figure is reported by `mode`."""
    figure = _billed(mode, reserved)
    if mode in ("missing", "negative", "absurd") or figure is None or figure < 0:
        return reserved  # a reporting fault: the account was charged the reservation
    return figure


def _num(value: float) -> int | float:
    """Show whole credit amounts as integers, like the documentation's example."""
    rounded = round(value, 6)
    return int(rounded) if float(rounded).is_integer() else rounded


# --------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------


@dataclass
class _IdempotencyRecord:
    fingerprint: str
    answer: dict[str, Any]
    task_id: str


@dataclass
class _Bucket:
    rate: float = 0.0
    tokens: float = 0.0
    last: float = 0.0


@dataclass
class _Params:
    prompt: str
    negative_prompt: str | None
    audio_urls: list[str] | None
    quality: str
    aspect_ratio: str
    duration: int
    seed: int | None
    prompt_extend: bool
    callback_url: str | None
    fail_code: str | None
    never: bool
    reserved_mode: str | None
    used_mode: str | None


class Simulator:
    """A fake EvoLink API server on loopback. See the module docstring."""

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
    ) -> None:
        if task_seconds < 0 or pending_seconds < 0:
            raise ValueError("task_seconds and pending_seconds must be >= 0")
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError("fail_rate must be within 0..1")
        if video_bytes < 0:
            raise ValueError("video_bytes must be >= 0")
        self.api_keys: set[str] | None = None if api_keys is None else set(api_keys)
        self.task_seconds = float(task_seconds)
        self.pending_seconds = float(pending_seconds)
        self.price_per_second: dict[str, float] = {**DEFAULT_PRICES, **(price_per_second or {})}
        self._balance = float(balance)
        self.used_credits = 0.0
        self.clock = clock
        self.video_bytes = video_bytes
        self.link_ttl_seconds = float(link_ttl_seconds)
        self.allow_insecure_callbacks = allow_insecure_callbacks
        self.batch_enabled = batch_enabled
        self.callback_retry_delays: tuple[float, ...] = tuple(callback_retry_delays)
        self.callback_timeout = float(callback_timeout)
        self.callback_poll_interval = float(callback_poll_interval)
        self.fail_rate = float(fail_rate)
        self.task_retention_seconds = task_retention_seconds
        #: How every task reports its credits unless its prompt has a [[reserved:]]/[[used:]]
        #: marker (see BILLING_MODES).
        self.credits_reserved_mode = billing_mode(credits_reserved_mode)
        self.credits_used_mode = billing_mode(credits_used_mode)
        #: False: Idempotency-Key is ignored (EvoLink does not publish that it honours it), so a
        #: repeated create makes and charges a second task.
        self.honour_idempotency = honour_idempotency
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.tasks: dict[str, SimTask] = {}
        self.faults = Faults()
        self.callback_attempts: list[CallbackAttempt] = []
        self._rng = random.Random(seed)
        self._idempotency: dict[tuple[str, str], _IdempotencyRecord] = {}
        self._bucket = _Bucket()
        self._video: bytes | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None

    # ---------------------------------------------------------------- lifecycle

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
        app = self._build_app()
        runner = web.AppRunner(
            app,
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
        self._session = aiohttp.ClientSession()
        self._wake = asyncio.Event()
        self._loop_task = asyncio.create_task(self._callback_loop(), name="evolink-sim-callbacks")
        return self.base_url

    async def stop(self) -> None:
        """Stop serving, cancel pending callback deliveries. Safe to call twice."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        for task in list(self._deliveries):
            task.cancel()
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)
        self._deliveries.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- account

    @property
    def balance(self) -> float:
        """Remaining credits (failed tasks found terminal so far are refunded)."""
        self.sweep()
        return round(self._balance, 6)

    @balance.setter
    def balance(self, value: float) -> None:
        self._balance = float(value)

    # ---------------------------------------------------------------- task state

    def sweep(self) -> None:
        """Bring every task's status up to ``clock()`` (refunds failures)."""
        for task in self.tasks.values():
            self._refresh(task)

    def _refresh(self, task: SimTask) -> None:
        if task.terminal_at is not None:
            return
        pending = min(self.pending_seconds, self.task_seconds)
        elapsed = self.clock() - task.created_at
        progress = self._progress_at(elapsed, pending)
        if not task.never and elapsed >= self.task_seconds:
            task.progress = max(task.progress, progress)
            at = task.created_at + self.task_seconds
            if task.fail_code is not None:
                self._finish(task, "failed", at, task.fail_code, task.fail_message)
            else:
                self._finish(task, "completed", at)
            return
        status: TaskStatus = "pending" if elapsed < pending else "processing"
        if _STATUS_RANK[status] > _STATUS_RANK[task.status]:
            task.status = status
        task.progress = max(task.progress, progress if task.status == "processing" else 0)

    def _progress_at(self, elapsed: float, pending: float) -> int:
        if elapsed < pending:
            return 0
        span = self.task_seconds - pending
        fraction = (elapsed - pending) / span if span > 0 else 1.0
        return min(99, max(1, 1 + int(98 * fraction)))

    def _finish(
        self,
        task: SimTask,
        status: Literal["completed", "failed"],
        at: float,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        task.status = status
        task.terminal_at = at
        if status == "completed":
            task.progress = 100
            charged = _really_charged(task.used_mode, task.credits_reserved)
            self._balance += task.credits_reserved - charged
            self.used_credits += charged - task.credits_reserved
        else:
            task.fail_code = code or "unknown_error"
            task.fail_message = message or TASK_ERROR_MESSAGES.get(
                task.fail_code, f"Task failed: {task.fail_code}."
            )
            if not task.refunded:
                task.refunded = True
                self._balance += task.credits_reserved
                self.used_credits -= task.credits_reserved
        if task.callback_url and task.callback_state == "none":
            task.callback_state = "waiting"
        if self._wake is not None:
            self._wake.set()

    def _get_task(self, task_id: str) -> SimTask:
        task = self.tasks.get(task_id)
        if task is None:
            raise KeyError(task_id)
        return task

    def complete_now(self, task_id: str, results: Sequence[str] | None = None) -> None:
        """Force a task to ``completed`` now. KeyError if unknown, ValueError if terminal.

        ``results``: what the answer's ``results`` shall hold instead of the served file's link
        (odd links a real API might send back: spaces, control characters, 5,000 characters)."""
        task = self._get_task(task_id)
        self._refresh(task)
        if task.is_terminal:
            raise ValueError(f"task {task_id} is already {task.status}")
        if results is not None:
            task.results = list(results)
        self._finish(task, "completed", self.clock())

    def fail_now(
        self,
        task_id: str,
        code: str = "generation_failed_no_content",
        message: str | None = None,
    ) -> None:
        """Force a task to ``failed`` now (refunds). KeyError if unknown, ValueError if terminal."""
        task = self._get_task(task_id)
        self._refresh(task)
        if task.is_terminal:
            raise ValueError(f"task {task_id} is already {task.status}")
        self._finish(task, "failed", self.clock(), code, message)

    def _expired(self, task: SimTask) -> bool:
        retention = self.task_retention_seconds
        return retention is not None and self.clock() - task.created_at >= retention

    def task_answer(self, task_id: str) -> dict[str, Any]:
        """What ``GET /v1/tasks/{id}`` would answer now (KeyError if unknown)."""
        return self._answer(self._get_task(task_id))

    def _estimated_time(self, remaining: float) -> int:
        return max(1, math.ceil(remaining))

    def result_url(self, task_id: str) -> str:
        return f"{self.base_url}/files/{task_id}.mp4"

    def _answer(self, task: SimTask) -> dict[str, Any]:
        self._refresh(task)
        if task.status == "failed":
            return {
                "id": task.id,
                "object": "video.generation.task",
                "status": "failed",
                "model": task.model,
                "progress": task.progress,
                "error": {
                    "code": task.fail_code,
                    "message": task.fail_message,
                    "type": "task_error",
                },
            }
        usage = self._usage(task, task.reserved_mode)
        if task.status == "completed":
            used = _billed(task.used_mode, task.credits_reserved)
            if used is not None:
                usage["credits_used"] = _num(used)
            return {
                "created": task.created,
                "id": task.id,
                "model": task.model,
                "object": "video.generation.task",
                "progress": 100,
                "results": (
                    list(task.results) if task.results is not None else [self.result_url(task.id)]
                ),
                "status": "completed",
                "task_info": {"can_cancel": False},
                "type": "video",
                "usage": usage,
            }
        remaining = task.created_at + self.task_seconds - self.clock()
        return {
            "created": task.created,
            "id": task.id,
            "model": task.model,
            "object": "video.generation.task",
            "progress": task.progress,
            "status": task.status,
            "task_info": {
                "can_cancel": True,
                "estimated_time": self._estimated_time(remaining),
            },
            "type": "video",
            "usage": usage,
        }

    @staticmethod
    def _usage(task: SimTask, reserved_mode: str) -> dict[str, Any]:
        usage: dict[str, Any] = {"billing_rule": "per_call", "user_group": "default"}
        reserved = _billed(reserved_mode, task.credits_reserved)
        if reserved is not None:
            usage["credits_reserved"] = _num(reserved)
        return usage

    def _new_task_id(self, now: float) -> str:
        while True:
            suffix = "".join(self._rng.choices(_ID_ALPHABET, k=8))
            task_id = f"task-unified-{int(now)}-{suffix}"
            if task_id not in self.tasks:
                return task_id

    # ---------------------------------------------------------------- validation

    def _validate(self, data: dict[str, Any]) -> _Params:
        unknown = sorted(k for k in data if k not in ALLOWED_FIELDS)
        if unknown:
            raise _BadRequest(
                unknown[0], f"Unknown parameter: {unknown[0]}", code="invalid_request"
            )
        if "model" not in data:
            raise _BadRequest("model", "model is required", code="invalid_request")
        if data["model"] != MODEL:
            raise _BadRequest("model", f"model must be {MODEL!r}")

        if "prompt" not in data:
            raise _BadRequest("prompt", "prompt is required", code="invalid_request")
        prompt = data["prompt"]
        if not isinstance(prompt, str):
            raise _BadRequest("prompt", f"prompt must be a string, not {_type_name(prompt)}")
        if not prompt.strip():
            raise _BadRequest("prompt", "prompt must not be empty")
        fail_match = _FAIL_MARKER.search(prompt)
        never = _NEVER_MARKER in prompt
        used_match = _USED_MARKER.search(prompt)
        reserved_match = _RESERVED_MARKER.search(prompt)
        prompt = prompt[:PROMPT_MAX]

        negative_prompt: str | None = None
        if "negative_prompt" in data:
            value = data["negative_prompt"]
            if not isinstance(value, str):
                raise _BadRequest(
                    "negative_prompt",
                    f"negative_prompt must be a string, not {_type_name(value)}",
                )
            negative_prompt = value[:NEGATIVE_PROMPT_MAX]

        audio_urls: list[str] | None = None
        if "audio_urls" in data:
            value = data["audio_urls"]
            if not isinstance(value, list):
                raise _BadRequest(
                    "audio_urls", f"audio_urls must be an array, not {_type_name(value)}"
                )
            if len(value) != 1:
                raise _BadRequest(
                    "audio_urls", f"audio_urls must hold exactly 1 URI (got {len(value)})"
                )
            if not isinstance(value[0], str):
                raise _BadRequest("audio_urls", "audio_urls[0] must be a URI string")
            _check_http_url(value[0], "audio_urls", https_only=False)
            audio_urls = [value[0]]

        quality = data.get("quality", "720p")
        if "quality" in data and quality not in QUALITIES:
            raise _BadRequest("quality", f"quality must be one of {', '.join(QUALITIES)}")

        aspect_ratio = data.get("aspect_ratio", "16:9")
        if "aspect_ratio" in data and aspect_ratio not in ASPECT_RATIOS:
            raise _BadRequest(
                "aspect_ratio", f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}"
            )

        duration = data.get("duration", 5)
        if "duration" in data:
            if not _is_int(duration):
                raise _BadRequest(
                    "duration", f"duration must be an integer, not {_type_name(duration)}"
                )
            if not DURATION_MIN <= duration <= DURATION_MAX:
                raise _BadRequest(
                    "duration",
                    f"duration must be between {DURATION_MIN} and {DURATION_MAX} seconds",
                )

        seed: int | None = None
        if "seed" in data:
            value = data["seed"]
            if not _is_int(value):
                raise _BadRequest("seed", f"seed must be an integer, not {_type_name(value)}")
            if not SEED_MIN <= value <= SEED_MAX:
                raise _BadRequest("seed", f"seed must be between {SEED_MIN} and {SEED_MAX}")
            seed = int(value)

        prompt_extend = data.get("prompt_extend", False)
        if not isinstance(prompt_extend, bool):
            raise _BadRequest(
                "prompt_extend",
                f"prompt_extend must be a boolean, not {_type_name(prompt_extend)}",
            )

        callback_url: str | None = None
        if "callback_url" in data:
            value = data["callback_url"]
            if not isinstance(value, str):
                raise _BadRequest(
                    "callback_url", f"callback_url must be a string, not {_type_name(value)}"
                )
            if len(value) > CALLBACK_URL_MAX:
                raise _BadRequest(
                    "callback_url", f"callback_url must be at most {CALLBACK_URL_MAX} characters"
                )
            host = _check_http_url(
                value, "callback_url", https_only=not self.allow_insecure_callbacks
            )
            if not self.allow_insecure_callbacks and _is_internal_host(host):
                raise _BadRequest(
                    "callback_url", "callback_url must not point to an internal address"
                )
            callback_url = value

        return _Params(
            prompt=prompt,
            negative_prompt=negative_prompt,
            audio_urls=audio_urls,
            quality=str(quality),
            aspect_ratio=str(aspect_ratio),
            duration=int(duration),
            seed=seed,
            prompt_extend=prompt_extend,
            callback_url=callback_url,
            fail_code=fail_match.group(1) if fail_match else None,
            never=never,
            reserved_mode=reserved_match.group(1) if reserved_match else None,
            used_mode=used_match.group(1) if used_match else None,
        )

    # ---------------------------------------------------------------- HTTP plumbing

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._make_middleware()])
        r = app.router
        r.add_post("/v1/videos/generations", self._h_create, name="create")
        r.add_post("/v1/tasks/batch", self._h_batch, name="batch")
        r.add_get("/v1/tasks/{task_id}", self._h_query, name="query")
        r.add_get("/v1/credits", self._h_credits, name="credits")
        r.add_get("/files/{name}", self._h_file, name="files")
        r.add_get("/_sim/faults", self._h_sim_faults_get)
        r.add_post("/_sim/faults", self._h_sim_faults_post)
        r.add_delete("/_sim/faults", self._h_sim_faults_delete)
        r.add_get("/_sim/tasks", self._h_sim_tasks)
        r.add_post("/_sim/tasks/{task_id}/complete", self._h_sim_complete)
        r.add_post("/_sim/tasks/{task_id}/fail", self._h_sim_fail)
        r.add_post("/_sim/balance", self._h_sim_balance)
        r.add_get("/_sim/callbacks", self._h_sim_callbacks)
        return app

    def _make_middleware(self) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                body = await request.read()
            except web.HTTPException as exc:  # e.g. body too large
                body = b""
                self.requests.append(self._record(request, body))
                return self._http_exception(request, exc)
            self.requests.append(self._record(request, body))
            try:
                route = request.match_info.route.name
                if route in API_ROUTES or route == "files":
                    assert route is not None
                    rule = self.faults.take(route)
                    if rule is not None:
                        faulted = await self._apply_fault(request, rule, route, None)
                        if faulted is not None:
                            return faulted
                if route in API_ROUTES:
                    if not self._authorized(request):
                        return self._error(
                            401,
                            "unauthorized",
                            "Invalid or expired token. Send 'Authorization: Bearer <API key>'.",
                        )
                    wait = self._rate_limit_wait()
                    if wait is not None:
                        return self._error(
                            429,
                            "rate_limit_exceeded",
                            _ERROR_MESSAGES["rate_limit_exceeded"],
                            headers={"Retry-After": str(max(1, math.ceil(wait)))},
                        )
                return await handler(request)
            except web.HTTPException as exc:
                return self._http_exception(request, exc)
            except Exception:
                log.exception("simulator handler failed")
                return self._error(500, "internal_error", "Simulator internal error.")

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
            return self._not_found_route(request)
        if exc.status == 405:
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return self._error(
                405,
                "method_not_allowed",
                f"Method {request.method} is not allowed on {request.path}",
                headers=headers,
            )
        code = "request_too_large" if exc.status == 413 else "http_error"
        return self._error(exc.status, code, exc.reason or "HTTP error")

    def _not_found_route(self, request: web.Request) -> web.Response:
        return self._error(404, "not_found", f"No such route: {request.method} {request.path}")

    @staticmethod
    def _json(
        data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        return web.Response(
            status=status,
            text=json.dumps(data, ensure_ascii=False),
            content_type="application/json",
            headers=dict(headers) if headers else None,
        )

    def _error(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        error: dict[str, Any] = {
            "code": code,
            "message": message,
            "type": error_type or _ERROR_TYPES.get(status, "api_error"),
        }
        if param is not None:
            error["param"] = param
        return self._json({"error": error}, status, headers)

    def _api_key(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if self.api_keys is not None and token not in self.api_keys:
            return None
        return token

    def _authorized(self, request: web.Request) -> bool:
        return self._api_key(request) is not None

    def _rate_limit_wait(self) -> float | None:
        rate = self.faults.rate_limit_per_second
        if not rate or rate <= 0:
            return None
        now = self.clock()
        capacity = max(1.0, rate)
        bucket = self._bucket
        if bucket.rate != rate:
            bucket.rate, bucket.tokens, bucket.last = rate, capacity, now
        bucket.tokens = min(capacity, bucket.tokens + max(0.0, now - bucket.last) * rate)
        bucket.last = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate

    async def _apply_fault(
        self,
        request: web.Request,
        rule: FaultRule,
        route: str,
        success: web.Response | None,
    ) -> web.Response | None:
        if rule.delay > 0:
            await asyncio.sleep(rule.delay)
        if rule.drop:
            transport = request.transport
            if transport is not None:
                transport.close()
            return web.Response(status=500)  # never reaches the client
        if rule.bad_json:
            body = _BAD_JSON_BODY
            if success is not None and isinstance(success.body, bytes):
                body = success.body[: max(1, len(success.body) // 2)]
            return web.Response(status=200, body=body, content_type="application/json")
        if rule.status is not None:
            return self._fault_response(rule, route)
        if rule.redirect is not None:
            return web.Response(status=302, headers={"Location": rule.redirect})
        if rule.body is not None or rule.content_type is not None:
            body = rule.body.encode() if rule.body is not None else self._video_body()
            content_type = rule.content_type or "text/plain; charset=utf-8"
            return web.Response(body=body, headers={"Content-Type": content_type})
        return success

    def _fault_response(self, rule: FaultRule, route: str) -> web.Response:
        status = rule.status
        assert status is not None
        headers: dict[str, str] = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = rule.retry_after
        html = rule.html if rule.html is not None else status in _GATEWAY_HTML
        if html:
            title = _GATEWAY_HTML.get(status, f"{status} Error")
            page = (
                f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
                f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n"
            )
            return web.Response(status=status, text=page, content_type="text/html", headers=headers)
        codes = _CREATE_CODES if route == "create" else _QUERY_CODES
        code = rule.code or codes.get(status, f"http_{status}")
        message = rule.message or _ERROR_MESSAGES.get(code, f"Simulated HTTP {status} error.")
        return self._error(status, code, message, headers=headers)

    # ---------------------------------------------------------------- /v1 handlers

    async def _h_create(self, request: web.Request) -> web.Response:
        api_key = self._api_key(request) or ""
        raw = await request.read()
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return self._error(
                400, "invalid_request", "Request body must be valid JSON.", param="body"
            )
        if not isinstance(data, dict):
            return self._error(
                400, "invalid_request", "Request body must be a JSON object.", param="body"
            )

        idem_key = request.headers.get("Idempotency-Key") if self.honour_idempotency else None
        fingerprint = json.dumps(data, sort_keys=True, separators=(",", ":"))
        if idem_key is not None:
            if not idem_key.strip() or len(idem_key) > 255:
                return self._error(
                    400,
                    "invalid_request",
                    "Idempotency-Key must be 1 to 255 characters.",
                    param="Idempotency-Key",
                )
            record = self._idempotency.get((api_key, idem_key))
            if record is not None:
                if record.fingerprint != fingerprint:
                    return self._error(
                        409,
                        "idempotency_conflict",
                        "This Idempotency-Key was already used with a different request body.",
                        param="Idempotency-Key",
                    )
                return self._json(record.answer, headers={"idempotency-replayed": "true"})

        try:
            params = self._validate(data)
        except _BadRequest as exc:
            return self._error(400, exc.code, exc.message, param=exc.param)

        cost = self.price_per_second[params.quality] * params.duration
        if self.balance < cost:
            return self._error(
                402,
                "insufficient_quota",
                "Insufficient quota. Please top up your account.",
                error_type="insufficient_quota",
            )

        now = self.clock()
        fail_code = params.fail_code
        if fail_code is None and self.fail_rate > 0 and self._rng.random() < self.fail_rate:
            fail_code = "generation_failed_no_content"
        task = SimTask(
            id=self._new_task_id(now),
            api_key=api_key,
            created_at=now,
            created=int(now),
            model=MODEL,
            prompt=params.prompt,
            negative_prompt=params.negative_prompt,
            audio_urls=params.audio_urls,
            quality=params.quality,
            aspect_ratio=params.aspect_ratio,
            duration=params.duration,
            seed=params.seed,
            prompt_extend=params.prompt_extend,
            callback_url=params.callback_url,
            credits_reserved=cost,
            request_body=data,
            fail_code=fail_code,
            never=params.never,
            reserved_mode=params.reserved_mode or self.credits_reserved_mode,
            used_mode=params.used_mode or self.credits_used_mode,
        )
        self.tasks[task.id] = task
        self._balance -= cost
        self.used_credits += cost

        answer: dict[str, Any] = {
            "created": task.created,
            "id": task.id,
            "model": task.model,
            "object": "video.generation.task",
            "progress": 0,
            "status": "pending",
            "task_info": {
                "can_cancel": True,
                "estimated_time": self._estimated_time(self.task_seconds),
            },
            "type": "video",
            "usage": self._usage(task, task.reserved_mode),
        }
        if idem_key is not None:
            self._idempotency[(api_key, idem_key)] = _IdempotencyRecord(
                fingerprint=fingerprint, answer=answer, task_id=task.id
            )
        response = self._json(answer)
        rule = self.faults.take("create", after_create=True)
        if rule is not None:
            faulted = await self._apply_fault(request, rule, "create", response)
            return faulted if faulted is not None else response
        return response

    async def _h_query(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        task = self.tasks.get(task_id)
        if task is None or self._expired(task):
            return self._error(404, "task_not_found", f"Task not found: {task_id}")
        return self._json(self._answer(task))

    async def _h_batch(self, request: web.Request) -> web.Response:
        if not self.batch_enabled:
            return self._not_found_route(request)
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return self._error(
                400, "invalid_request", "Request body must be valid JSON.", param="body"
            )
        if not isinstance(data, dict):
            return self._error(
                400, "invalid_request", "Request body must be a JSON object.", param="body"
            )
        unknown = sorted(k for k in data if k != "task_ids")
        if unknown:
            return self._error(
                400, "invalid_request", f"Unknown parameter: {unknown[0]}", param=unknown[0]
            )
        ids = data.get("task_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return self._error(
                400,
                "invalid_request",
                "task_ids must be an array of task id strings.",
                param="task_ids",
            )
        if len(ids) > BATCH_MAX:
            return self._error(
                400,
                "invalid_request",
                f"task_ids may hold at most {BATCH_MAX} ids (got {len(ids)}).",
                param="task_ids",
            )
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for task_id in cast(list[str], ids):
            task = self.tasks.get(task_id)
            if task is None or task_id in seen or self._expired(task):
                continue
            seen.add(task_id)
            out.append(self._answer(task))
        return self._json({"data": out})

    async def _h_credits(self, request: web.Request) -> web.Response:
        remaining = _num(self.balance)
        used = _num(self.used_credits)
        return self._json(
            {
                "data": {
                    "token": {
                        "remaining_credits": remaining,
                        "unlimited_credits": False,
                        "used_credits": used,
                    },
                    "user": {"remaining_credits": remaining, "used_credits": used},
                },
                "message": "",
                "success": True,
            }
        )

    def _video_body(self) -> bytes:
        if self._video is None or len(self._video) != self.video_bytes:
            head = _MP4_FTYP[: self.video_bytes]
            self._video = head + bytes(self.video_bytes - len(head))
        return self._video

    async def _h_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        task = self.tasks.get(name[: -len(".mp4")]) if name.endswith(".mp4") else None
        if task is not None:
            self._refresh(task)
        if task is None or task.status != "completed" or task.terminal_at is None:
            return self._error(404, "file_not_found", f"No such file: {name}")
        if self.clock() - task.terminal_at >= self.link_ttl_seconds:
            return self._error(
                403,
                "link_expired",
                "This video link has expired (links are valid for 24 hours).",
                error_type="permission_error",
            )
        return web.Response(body=self._video_body(), content_type="video/mp4")

    # ---------------------------------------------------------------- /_sim handlers

    async def _h_sim_faults_get(self, request: web.Request) -> web.Response:
        return self._json(self.faults.to_json())

    async def _h_sim_faults_post(self, request: web.Request) -> web.Response:
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return self._error(400, "invalid_request", "Body must be JSON.", param="body")
        try:
            rules: list[FaultRule] = []
            rate_set = False
            rate: float | None = None
            if isinstance(data, list):
                rules = [FaultRule.from_json(item) for item in data]
            elif isinstance(data, dict) and ("rules" in data or "rate_limit_per_second" in data):
                extra = sorted(set(data) - {"rules", "rate_limit_per_second"})
                if extra:
                    raise ValueError(f"unknown field(s): {', '.join(extra)}")
                raw_rules = data.get("rules", [])
                if not isinstance(raw_rules, list):
                    raise ValueError("rules must be an array")
                rules = [FaultRule.from_json(item) for item in raw_rules]
                if "rate_limit_per_second" in data:
                    rate_set = True
                    value = data["rate_limit_per_second"]
                    if value is not None and (
                        isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
                    ):
                        raise ValueError("rate_limit_per_second must be a positive number or null")
                    rate = None if value is None else float(value)
            else:
                rules = [FaultRule.from_json(data)]
        except (ValueError, TypeError) as exc:
            return self._error(400, "invalid_request", str(exc))
        for rule in rules:
            self.faults.add(rule)
        if rate_set:
            self.faults.rate_limit_per_second = rate
        return self._json(self.faults.to_json())

    async def _h_sim_faults_delete(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return self._json(self.faults.to_json())

    async def _h_sim_tasks(self, request: web.Request) -> web.Response:
        return self._json({"data": [self._answer(t) for t in self.tasks.values()]})

    async def _h_sim_complete(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        raw = await request.read()
        results: list[str] | None = None
        if raw.strip():
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return self._error(400, "invalid_request", "Body must be JSON.", param="body")
            value = data.get("results") if isinstance(data, dict) else None
            if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
                return self._error(
                    400, "invalid_request", "results must be a list of strings", param="results"
                )
            results = value
        try:
            self.complete_now(task_id, results)
        except KeyError:
            return self._error(404, "task_not_found", f"Task not found: {task_id}")
        except ValueError as exc:
            return self._error(409, "task_already_terminal", str(exc))
        return self._json(self.task_answer(task_id))

    async def _h_sim_fail(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        raw = await request.read()
        code = "generation_failed_no_content"
        message: str | None = None
        if raw.strip():
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return self._error(400, "invalid_request", "Body must be JSON.", param="body")
            if not isinstance(data, dict):
                return self._error(400, "invalid_request", "Body must be a JSON object.")
            code_value = data.get("code", code)
            message_value = data.get("message")
            if not isinstance(code_value, str) or not code_value:
                return self._error(400, "invalid_request", "code must be a string", param="code")
            if message_value is not None and not isinstance(message_value, str):
                return self._error(
                    400, "invalid_request", "message must be a string", param="message"
                )
            code, message = code_value, message_value
        try:
            self.fail_now(task_id, code, message)
        except KeyError:
            return self._error(404, "task_not_found", f"Task not found: {task_id}")
        except ValueError as exc:
            return self._error(409, "task_already_terminal", str(exc))
        return self._json(self.task_answer(task_id))

    async def _h_sim_balance(self, request: web.Request) -> web.Response:
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return self._error(400, "invalid_request", "Body must be JSON.", param="body")
        value = data.get("balance") if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self._error(400, "invalid_request", "balance must be a number", param="balance")
        self.balance = float(value)
        return self._json({"balance": _num(self.balance), "used_credits": _num(self.used_credits)})

    async def _h_sim_callbacks(self, request: web.Request) -> web.Response:
        return self._json(
            {
                "data": [
                    {
                        "task_id": a.task_id,
                        "url": a.url,
                        "attempt": a.attempt,
                        "time": a.time,
                        "status": a.status,
                        "error": a.error,
                        "ok": a.ok,
                    }
                    for a in self.callback_attempts
                ]
            }
        )

    # ---------------------------------------------------------------- callbacks

    async def _callback_loop(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            try:
                self._dispatch_callbacks()
            except Exception:
                log.exception("callback dispatch failed")
            with contextlib.suppress(TimeoutError):  # asyncio.timeout spawns no task per wait
                async with asyncio.timeout(self.callback_poll_interval):
                    await wake.wait()
            wake.clear()

    def _dispatch_callbacks(self) -> None:
        for task in self.tasks.values():
            if not task.callback_url or task.callback_state not in ("none", "waiting"):
                continue
            self._refresh(task)
            if not task.is_terminal:
                continue
            task.callback_state = "sending"
            delivery = asyncio.create_task(self._deliver(task), name=f"callback-{task.id}")
            self._deliveries.add(delivery)
            delivery.add_done_callback(self._deliveries.discard)

    async def flush_callbacks(self) -> None:
        """Start due callbacks now and wait until every delivery (with retries) has ended."""
        self._dispatch_callbacks()
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)
            self._dispatch_callbacks()

    async def _deliver(self, task: SimTask) -> None:
        url = task.callback_url
        assert url is not None
        payload = self._answer(task)
        attempts = 1 + len(self.callback_retry_delays)
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.callback_retry_delays[attempt - 2])
            status: int | None = None
            error: str | None = None
            try:
                session = self._session
                if session is None:
                    return
                async with session.post(
                    url,
                    json=payload,
                    timeout=aiohttp.ClientTimeout(total=self.callback_timeout),
                    headers={"User-Agent": "EvoLink-Simulator/1.0"},
                ) as resp:
                    await resp.read()
                    status = resp.status
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            attempt_record = CallbackAttempt(
                task_id=task.id,
                url=url,
                attempt=attempt,
                time=self.clock(),
                status=status,
                error=error,
                payload=payload,
            )
            self.callback_attempts.append(attempt_record)
            if attempt_record.ok:
                task.callback_state = "delivered"
                return
        task.callback_state = "failed"


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.simulator",
        description="Loopback simulator of the EvoLink video API (wan2.7-text-to-video).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to bind (8787)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accepted API key (repeatable); default: any non-empty Bearer token",
    )
    parser.add_argument("--task-seconds", type=float, default=20.0, help="create → terminal")
    parser.add_argument("--pending-seconds", type=float, default=2.0, help="time in pending")
    parser.add_argument("--balance", type=float, default=10_000.0, help="starting credits")
    parser.add_argument("--video-bytes", type=int, default=256 * 1024, help="fake mp4 size")
    parser.add_argument(
        "--link-ttl-seconds", type=float, default=86400.0, help="result link lifetime"
    )
    parser.add_argument(
        "--allow-insecure-callbacks",
        action="store_true",
        help="accept http:// and internal callback_url values",
    )
    parser.add_argument("--no-batch", action="store_true", help="POST /v1/tasks/batch → 404")
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="FLOAT",
        help="fraction of tasks that end failed (generation_failed_no_content)",
    )
    parser.add_argument(
        "--credits-reserved",
        type=billing_mode,
        default="exact",
        metavar="MODE",
        help="how create answers report usage.credits_reserved: exact (default), lower (60%%), "
        "higher (150%%), missing, negative, absurd (1000x) or a number; a prompt's "
        "[[reserved:MODE]] marker overrides it for that task",
    )
    parser.add_argument(
        "--credits-used",
        type=billing_mode,
        default="exact",
        metavar="MODE",
        help="how completed tasks report usage.credits_used (the final charge), with the same "
        "modes; lower, higher and numbers >= 0 are really charged, missing, negative and absurd "
        "are reporting faults (the reservation is charged); a prompt's [[used:MODE]] marker "
        "overrides it for that task",
    )
    parser.add_argument(
        "--ignore-idempotency-key",
        action="store_true",
        help="ignore Idempotency-Key (unpublished at EvoLink): a repeated create makes and "
        "charges a second task",
    )
    parser.add_argument("--seed", type=int, default=1234, help="random seed (ids, fail rate)")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help="global rate limit on /v1 (429 with Retry-After)",
    )
    parser.add_argument("--public-url", default=None, help="base URL used in result links")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        api_keys=set(args.api_keys) if args.api_keys else None,
        task_seconds=args.task_seconds,
        pending_seconds=args.pending_seconds,
        balance=args.balance,
        video_bytes=args.video_bytes,
        link_ttl_seconds=args.link_ttl_seconds,
        allow_insecure_callbacks=args.allow_insecure_callbacks,
        batch_enabled=not args.no_batch,
        fail_rate=args.fail_rate,
        seed=args.seed,
        credits_reserved_mode=args.credits_reserved,
        credits_used_mode=args.credits_used,
        honour_idempotency=not args.ignore_idempotency_key,
    )
    if args.rate_limit:
        sim.faults.rate_limit_per_second = args.rate_limit
    url = await sim.start(
        args.host, args.port, public_url=args.public_url, access_log=args.access_log
    )
    keys = (
        "any API key accepted"
        if sim.api_keys is None
        else f"{len(sim.api_keys)} API key{'s' if len(sim.api_keys) != 1 else ''} accepted"
    )
    print(f"EvoLink simulator listening on {url} ({keys})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: Sequence[str] | None = None) -> None:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.access_log else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
