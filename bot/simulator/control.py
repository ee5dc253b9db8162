"""The control endpoints under ``/_sim`` (no auth): faults, tasks finished on demand, the
balance, and the callbacks sent so far. They are the simulator's own, not EvoLink's.

``GET/POST/DELETE /_sim/faults``   the fault rules and the rate limit (bot/simulator/faults.py);
                                   POST takes one rule, a list of rules, or
                                   ``{"rules": [...], "rate_limit_per_second": N | null,
                                   "create_rate_limit_per_second": N | null}``
``GET /_sim/tasks``                every task as a query would answer it
``POST /_sim/tasks/{id}/complete`` finish a task now (``{"results": [...]}``: answer these links)
``POST /_sim/tasks/{id}/fail``     fail a task now (``{"code": ..., "message": ...}``)
``GET/POST /_sim/switches``        the lasting switches (bot/simulator/switches.py); POST
                                   changes the ones it names
``POST /_sim/balance``             ``{"balance": N}``: the account's remaining credits
``GET /_sim/callbacks``            every callback attempt
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.simulator.faults import FaultRule
from bot.simulator.responses import error_response, json_response
from bot.simulator.tasks import num

if TYPE_CHECKING:
    from bot.simulator.server import Simulator


class ControlRoutes:
    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/_sim/faults", self.faults_get)
        router.add_post("/_sim/faults", self.faults_post)
        router.add_delete("/_sim/faults", self.faults_delete)
        router.add_get("/_sim/switches", self.switches_get)
        router.add_post("/_sim/switches", self.switches_post)
        router.add_get("/_sim/tasks", self.tasks)
        router.add_post("/_sim/tasks/{task_id}/complete", self.complete)
        router.add_post("/_sim/tasks/{task_id}/fail", self.fail)
        router.add_post("/_sim/balance", self.balance)
        router.add_get("/_sim/callbacks", self.callbacks)

    async def faults_get(self, request: web.Request) -> web.Response:
        return json_response(self._sim.faults.to_json())

    async def faults_post(self, request: web.Request) -> web.Response:
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _not_json()
        faults = self._sim.faults
        try:
            rules, rates = _fault_request(data)
        except (ValueError, TypeError) as exc:
            return error_response(400, "invalid_request", str(exc))
        for rule in rules:
            faults.add(rule)
        for name, rate in rates.items():
            setattr(faults, name, rate)
        return json_response(faults.to_json())

    async def faults_delete(self, request: web.Request) -> web.Response:
        self._sim.faults.clear()
        return json_response(self._sim.faults.to_json())

    async def switches_get(self, request: web.Request) -> web.Response:
        return json_response(self._sim.switches.to_json())

    async def switches_post(self, request: web.Request) -> web.Response:
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _not_json()
        try:
            self._sim.switches.update(data)
        except ValueError as exc:
            return error_response(400, "invalid_request", str(exc))
        return json_response(self._sim.switches.to_json())

    async def tasks(self, request: web.Request) -> web.Response:
        sim = self._sim
        return json_response({"data": [sim.answer(t) for t in sim.tasks.values()]})

    async def complete(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        raw = await request.read()
        results: list[str] | None = None
        if raw.strip():
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return _not_json()
            value = data.get("results") if isinstance(data, dict) else None
            if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
                return error_response(
                    400, "invalid_request", "results must be a list of strings", param="results"
                )
            results = value
        try:
            self._sim.complete_now(task_id, results)
        except KeyError:
            return error_response(404, "task_not_found", f"Task not found: {task_id}")
        except ValueError as exc:
            return error_response(409, "task_already_terminal", str(exc))
        return json_response(self._sim.task_answer(task_id))

    async def fail(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        raw = await request.read()
        code = "generation_failed_no_content"
        message: str | None = None
        if raw.strip():
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return _not_json()
            if not isinstance(data, dict):
                return error_response(400, "invalid_request", "Body must be a JSON object.")
            code_value = data.get("code", code)
            message_value = data.get("message")
            if not isinstance(code_value, str) or not code_value:
                return error_response(400, "invalid_request", "code must be a string", param="code")
            if message_value is not None and not isinstance(message_value, str):
                return error_response(
                    400, "invalid_request", "message must be a string", param="message"
                )
            code, message = code_value, message_value
        try:
            self._sim.fail_now(task_id, code, message)
        except KeyError:
            return error_response(404, "task_not_found", f"Task not found: {task_id}")
        except ValueError as exc:
            return error_response(409, "task_already_terminal", str(exc))
        return json_response(self._sim.task_answer(task_id))

    async def balance(self, request: web.Request) -> web.Response:
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _not_json()
        value = data.get("balance") if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return error_response(
                400, "invalid_request", "balance must be a number", param="balance"
            )
        sim = self._sim
        sim.balance = float(value)
        return json_response({"balance": num(sim.balance), "used_credits": num(sim.used_credits)})

    async def callbacks(self, request: web.Request) -> web.Response:
        return json_response({"data": [a.to_json() for a in self._sim.callback_attempts]})


def _not_json() -> web.Response:
    return error_response(400, "invalid_request", "Body must be JSON.", param="body")


_RATE_LIMITS = ("rate_limit_per_second", "create_rate_limit_per_second")


def _fault_request(data: Any) -> tuple[list[FaultRule], dict[str, float | None]]:
    """(rules, the rate limits it sets by name) of a POST /_sim/faults body."""
    if isinstance(data, list):
        return [FaultRule.from_json(item) for item in data], {}
    if not (isinstance(data, dict) and ({"rules", *_RATE_LIMITS} & set(data))):
        return [FaultRule.from_json(data)], {}
    extra = sorted(set(data) - {"rules", *_RATE_LIMITS})
    if extra:
        raise ValueError(f"unknown field(s): {', '.join(extra)}")
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ValueError("rules must be an array")
    rules = [FaultRule.from_json(item) for item in raw_rules]
    rates: dict[str, float | None] = {}
    for name in _RATE_LIMITS:
        if name not in data:
            continue
        value = data[name]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise ValueError(f"{name} must be a positive number or null")
        rates[name] = None if value is None else float(value)
    return rules, rates
