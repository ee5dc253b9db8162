"""The API's routes: create a task, query one or a batch, read the balance, fetch a result file.

Authentication, the rate limit and injected faults are applied before these handlers run
(bot/simulator/server.py); each handler answers as EvoLink documents it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from bot.simulator.faults import apply_fault
from bot.simulator.responses import error_response, json_response
from bot.simulator.rules import (
    BATCH_MAX,
    IDEMPOTENCY_KEY_MAX,
    BadRequest,
    validate_create,
)
from bot.simulator.switches import PromptMarkers
from bot.simulator.tasks import num

if TYPE_CHECKING:
    from bot.simulator.server import Simulator


@dataclass
class _IdempotencyRecord:
    fingerprint: str
    answer: dict[str, Any]
    task_id: str


class KeysInProgress:
    """Idempotency-Keys whose create is being handled right now (its faults' delays included).

    EvoLink publishes nothing on a repeat that arrives while the first call is still being
    handled; its MCP client reads the code ``paid_outcome_unknown`` as "the earlier submission
    with this key is still being processed", and the IETF Idempotency-Key draft answers such a
    repeat 409. The simulator does both: the repeat makes no task (docs/evolink-api.md)."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._held: set[tuple[str, str]] = set()

    def claim(self, request: web.Request) -> Callable[[], None] | web.Response:
        """Hold the request's key until the returned release is called, or answer 409 when
        another request holds it."""
        key = request.headers.get("Idempotency-Key")
        if key is None or not self._sim.switches.honour_idempotency:
            return _nothing
        held = (self._sim.api_key_of(request) or "", key)
        if held in self._held:
            return error_response(
                409,
                "paid_outcome_unknown",
                "A request with this Idempotency-Key is still being processed; retry it later "
                "with the same key.",
                param="Idempotency-Key",
            )
        self._held.add(held)
        return lambda: self._held.discard(held)


def _nothing() -> None:
    pass


class ApiRoutes:
    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._idempotency: dict[tuple[str, str], _IdempotencyRecord] = {}

    def add_to(self, router: web.UrlDispatcher) -> None:
        """The route names are what fault rules select (``FaultRule.route``)."""
        router.add_post("/v1/videos/generations", self.create, name="create")
        router.add_post("/v1/tasks/batch", self.batch, name="batch")
        router.add_get("/v1/tasks/{task_id}", self.query, name="query")
        router.add_get("/v1/credits", self.credits, name="credits")
        router.add_get("/files/{name}", self.file, name="files")

    async def create(self, request: web.Request) -> web.Response:
        sim = self._sim
        api_key = sim.api_key_of(request) or ""
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data

        idem_key = (
            request.headers.get("Idempotency-Key") if sim.switches.honour_idempotency else None
        )
        fingerprint = json.dumps(data, sort_keys=True, separators=(",", ":"))
        if idem_key is not None:
            if not idem_key.strip() or len(idem_key) > IDEMPOTENCY_KEY_MAX:
                return error_response(
                    400,
                    "invalid_request",
                    f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters.",
                    param="Idempotency-Key",
                )
            record = self._idempotency.get((api_key, idem_key))
            if record is not None:
                if record.fingerprint != fingerprint:
                    return error_response(
                        409,
                        "idempotency_conflict",
                        "This Idempotency-Key was already used with a different request body.",
                        param="Idempotency-Key",
                    )
                return json_response(record.answer, headers={"idempotency-replayed": "true"})

        try:
            params = validate_create(data, allow_insecure_callbacks=sim.allow_insecure_callbacks)
        except BadRequest as exc:
            return error_response(400, exc.code, exc.message, param=exc.param)

        book = sim.book
        if sim.balance < book.cost(params):
            return error_response(
                402,
                "insufficient_quota",
                "Insufficient quota. Please top up your account.",
                error_type="insufficient_quota",
            )
        task = book.create(params, PromptMarkers.read(data["prompt"]), api_key=api_key, body=data)
        answer = book.created_answer(task)
        if idem_key is not None:
            self._idempotency[(api_key, idem_key)] = _IdempotencyRecord(
                fingerprint=fingerprint, answer=answer, task_id=task.id
            )
        response = json_response(answer)
        rule = sim.faults.take("create", after_create=True)
        if rule is not None:
            faulted = await apply_fault(request, rule, "create", response, sim.video_body())
            return faulted if faulted is not None else response
        return response

    async def query(self, request: web.Request) -> web.Response:
        sim = self._sim
        task_id = request.match_info["task_id"]
        task = sim.tasks.get(task_id)
        if task is None or sim.book.expired(task):
            return error_response(404, "task_not_found", f"Task not found: {task_id}")
        return json_response(sim.answer(task))

    async def batch(self, request: web.Request) -> web.Response:
        sim = self._sim
        if not sim.switches.batch_enabled:
            return sim.not_found_route(request)
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data
        unknown = sorted(k for k in data if k != "task_ids")
        if unknown:
            return error_response(
                400, "invalid_request", f"Unknown parameter: {unknown[0]}", param=unknown[0]
            )
        ids = data.get("task_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return error_response(
                400,
                "invalid_request",
                "task_ids must be an array of task id strings.",
                param="task_ids",
            )
        if len(ids) > BATCH_MAX:
            return error_response(
                400,
                "invalid_request",
                f"task_ids may hold at most {BATCH_MAX} ids (got {len(ids)}).",
                param="task_ids",
            )
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for task_id in cast(list[str], ids):
            task = sim.tasks.get(task_id)
            if task is None or task_id in seen or sim.book.expired(task):
                continue
            seen.add(task_id)
            out.append(sim.answer(task))
        return json_response({"data": out})

    async def credits(self, request: web.Request) -> web.Response:
        remaining = num(self._sim.balance)
        used = num(self._sim.used_credits)
        return json_response(
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

    async def file(self, request: web.Request) -> web.Response:
        sim = self._sim
        name = request.match_info["name"]
        task = sim.tasks.get(name[: -len(".mp4")]) if name.endswith(".mp4") else None
        if task is not None:
            sim.book.refresh(task)
        if task is None or task.status != "completed" or task.terminal_at is None:
            return error_response(404, "file_not_found", f"No such file: {name}")
        if sim.clock() - task.terminal_at >= sim.switches.link_ttl_seconds:
            return error_response(
                403,
                "link_expired",
                "This video link has expired (links are valid for 24 hours).",
                error_type="permission_error",
            )
        return web.Response(body=sim.video_body(), content_type="video/mp4")


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    """The body as a JSON object, or the 400 EvoLink answers when it is not one."""
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return error_response(
            400, "invalid_request", "Request body must be valid JSON.", param="body"
        )
    if not isinstance(data, dict):
        return error_response(
            400, "invalid_request", "Request body must be a JSON object.", param="body"
        )
    return data
