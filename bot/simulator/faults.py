"""Faults a test or a person injects into the simulator, one request at a time.

A ``FaultRule`` answers a request of one route otherwise than EvoLink normally would: late, not
at all, with an error status, with a body that is not JSON, or (result files) with a redirect or
something that is not a video. ``Faults`` holds the rules and the rate limit. Behaviours that
last rather than hit one request (failed tasks, odd charges, ignored idempotency keys, no batch
route, expiring tasks and links) are the switches of bot/simulator/switches.py. Every fault can
be set from the command line (``python -m bot.simulator --help``) and over HTTP (``/_sim/...``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any, Final, Literal

from aiohttp import web

from bot.simulator.responses import GATEWAY_TITLES, gateway_page, route_error

FaultRoute = Literal["create", "query", "batch", "credits", "files", "any"]
FAULT_ROUTES: Final = ("create", "query", "batch", "credits", "files", "any")
#: Routes that "any" covers: the authenticated /v1 API.
API_ROUTES: Final = ("create", "query", "batch", "credits")
#: Every field of a rule as JSON (``/_sim/faults``, ``--fault``), and what it does.
FAULT_FIELDS: Final = {
    "route": "create, query, batch, credits, files or any (the four /v1 routes; default)",
    "count": 'how many requests it hits (default 1; "always" or null: every one)',
    "always": "true: every request (the same as count null)",
    "status": "answer this HTTP error status (400..599) with the route's EvoLink error body",
    "code": "the error code of a status fault, instead of the documented one",
    "message": "the error message of a status fault",
    "retry_after": "a Retry-After header with a status fault (seconds or an HTTP date)",
    "html": "true/false: a gateway HTML page instead of JSON (default: for 502, 503, 504)",
    "bad_json": "answer 200 with a body that is not JSON",
    "delay": "seconds (real time) to wait first; alone, it slows a normal answer",
    "drop": "close the connection without an answer",
    "create_after_fault": "create only: make and charge the task first, then apply the fault",
    "redirect": "files only: answer 302 to this Location",
    "body": "files only: answer 200 with this text instead of the video",
    "content_type": "files only: the Content-Type of the video or of body",
}
_BAD_JSON_BODY: Final = b'{"created": 1757169743, "id": "task-unified-17571'


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
            kwargs["retry_after"] = format_retry_after(retry_after)
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


def format_retry_after(value: str | int | float) -> str:
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
        sim.faults.create_rate_limit_per_second = 1.0
        sim.faults.clear()
    """

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        #: Global token-bucket rate limit on the /v1 routes (None: off); 429 + Retry-After.
        self.rate_limit_per_second: float | None = None
        #: The same on creates only (checked after the global one), as a per-model limit on
        #: new generations would be.
        self.create_rate_limit_per_second: float | None = None

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
                retry_after=None if retry_after is None else format_retry_after(retry_after),
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
        """Remove every rule and the rate limits."""
        self.rules.clear()
        self.rate_limit_per_second = None
        self.create_rate_limit_per_second = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": [r.to_json() for r in self.rules],
            "rate_limit_per_second": self.rate_limit_per_second,
            "create_rate_limit_per_second": self.create_rate_limit_per_second,
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


async def apply_fault(
    request: web.Request,
    rule: FaultRule,
    route: str,
    success: web.Response | None,
    video: bytes,
) -> web.Response | None:
    """What ``rule`` answers instead of ``success`` (None: answer normally, after its delay).

    ``success`` is the normal answer when the fault comes after it (create_after_fault); a bad
    JSON fault then cuts that answer in half. ``video`` is what a result file serves."""
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
        headers = {"Retry-After": rule.retry_after} if rule.retry_after is not None else {}
        html = rule.html if rule.html is not None else rule.status in GATEWAY_TITLES
        if html:
            return gateway_page(rule.status, headers)
        return route_error(
            route, rule.status, code=rule.code, message=rule.message, headers=headers
        )
    if rule.redirect is not None:
        return web.Response(status=302, headers={"Location": rule.redirect})
    if rule.body is not None or rule.content_type is not None:
        body = rule.body.encode() if rule.body is not None else video
        content_type = rule.content_type or "text/plain; charset=utf-8"
        return web.Response(body=body, headers={"Content-Type": content_type})
    return success
