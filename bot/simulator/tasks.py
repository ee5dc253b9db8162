"""The task clock: every task's life (pending → processing → completed | failed), what a query
answers about it at any moment, and the account that pays for it.

Time is virtual: a task's state is computed from ``clock()`` against its creation time, so tests
inject a fake clock and move it forward instead of sleeping.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from bot.simulator.profiles import draw_factor, processing_progress
from bot.simulator.rules import MODEL, OUTPUT_SIZES, CreateParams
from bot.simulator.switches import (
    RANDOM_FAILURE,
    PromptMarkers,
    Switches,
    billed,
    really_charged,
)

TaskStatus = Literal["pending", "processing", "completed", "failed"]
DEFAULT_PRICES: Final[Mapping[str, float]] = {"720p": 1.0, "1080p": 2.0}
_STATUS_RANK: Final[Mapping[str, int]] = {
    "pending": 0,
    "processing": 1,
    "completed": 2,
    "failed": 2,
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
    seconds: float | None = None  # create → terminal for this task (None: the simulator's)
    estimated_seconds: float | None = None  # what estimated_time announces (None: `seconds`)
    progress_profile: str = "linear"  # how it reports progress (bot/simulator/profiles.py)
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


def num(value: float) -> int | float:
    """Show whole credit amounts as integers, like the documentation's example."""
    rounded = round(value, 6)
    return int(rounded) if float(rounded).is_integer() else rounded


class TaskBook:
    """Every task, on the clock, and the account's credits (reserved at create, settled or
    refunded when a task ends)."""

    def __init__(
        self,
        *,
        switches: Switches,
        clock: Callable[[], float],
        task_seconds: float,
        pending_seconds: float,
        price_per_second: Mapping[str, float] | None,
        balance: float,
        rng: random.Random,
        result_url: Callable[[str], str],
        on_terminal: Callable[[], None],
    ) -> None:
        if task_seconds < 0 or pending_seconds < 0:
            raise ValueError("task_seconds and pending_seconds must be >= 0")
        self.switches = switches
        self.clock = clock
        self.task_seconds = float(task_seconds)
        self.pending_seconds = float(pending_seconds)
        self.price_per_second: dict[str, float] = {**DEFAULT_PRICES, **(price_per_second or {})}
        self.balance = float(balance)  # as of the last sweep (see Simulator.balance)
        self.used_credits = 0.0
        self.tasks: dict[str, SimTask] = {}
        self._rng = rng
        self._result_url = result_url
        self._on_terminal = on_terminal

    # ---------------------------------------------------------------- creating

    def cost(self, params: CreateParams) -> float:
        return self.price_per_second[params.quality] * params.duration

    def create(
        self, params: CreateParams, markers: PromptMarkers, *, api_key: str, body: dict[str, Any]
    ) -> SimTask:
        """Make a task and reserve its cost (the caller has checked the balance)."""
        now = self.clock()
        switches = self.switches
        fail_code = markers.fail_code
        if fail_code is None and switches.fail_rate > 0 and self._rng.random() < switches.fail_rate:
            fail_code = RANDOM_FAILURE
        cost = self.cost(params)
        factor = markers.run_time_factor or draw_factor(switches.run_time_factors, self._rng)
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
            request_body=body,
            fail_code=fail_code,
            never=markers.never,
            reserved_mode=markers.reserved_mode or switches.credits_reserved,
            used_mode=markers.used_mode or switches.credits_used,
            progress_profile=markers.progress_profile or switches.progress_profile,
        )
        if factor != 1.0:  # the estimate is the usual time; this task takes another
            task.seconds = self.task_seconds * factor
            task.estimated_seconds = self.task_seconds
        self.tasks[task.id] = task
        self.balance -= cost
        self.used_credits += cost
        return task

    def _new_task_id(self, now: float) -> str:
        while True:
            suffix = "".join(self._rng.choices(_ID_ALPHABET, k=8))
            task_id = f"task-unified-{int(now)}-{suffix}"
            if task_id not in self.tasks:
                return task_id

    # ---------------------------------------------------------------- the clock

    def length(self, task: SimTask) -> float:
        """How long the task really takes, create → terminal."""
        return self.task_seconds if task.seconds is None else task.seconds

    def estimate(self, task: SimTask) -> float:
        """How long the task's answers say it takes (``estimated_time``)."""
        return self.length(task) if task.estimated_seconds is None else task.estimated_seconds

    def sweep(self) -> None:
        """Bring every task's status up to ``clock()`` (refunds failures)."""
        for task in self.tasks.values():
            self.refresh(task)

    def refresh(self, task: SimTask) -> None:
        if task.terminal_at is not None:
            return
        length = self.length(task)
        pending = min(self.pending_seconds, length)
        elapsed = self.clock() - task.created_at
        progress = self._progress_at(task.progress_profile, elapsed, pending, length)
        if not task.never and elapsed >= length:
            task.progress = max(task.progress, progress)
            at = task.created_at + length
            if task.fail_code is not None:
                self._finish(task, "failed", at, task.fail_code, task.fail_message)
            else:
                self._finish(task, "completed", at)
            return
        status: TaskStatus = "pending" if elapsed < pending else "processing"
        if _STATUS_RANK[status] > _STATUS_RANK[task.status]:
            task.status = status
        task.progress = max(task.progress, progress if task.status == "processing" else 0)

    @staticmethod
    def _progress_at(profile: str, elapsed: float, pending: float, length: float) -> int:
        if elapsed < pending:
            return 0
        span = length - pending
        fraction = (elapsed - pending) / span if span > 0 else 1.0
        return processing_progress(profile, fraction)

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
            charged = really_charged(task.used_mode, task.credits_reserved)
            self.balance += task.credits_reserved - charged
            self.used_credits += charged - task.credits_reserved
        else:
            task.fail_code = code or "unknown_error"
            task.fail_message = message or TASK_ERROR_MESSAGES.get(
                task.fail_code, f"Task failed: {task.fail_code}."
            )
            if not task.refunded:
                task.refunded = True
                self.balance += task.credits_reserved
                self.used_credits -= task.credits_reserved
        if task.callback_url and task.callback_state == "none":
            task.callback_state = "waiting"
        self._on_terminal()

    def get(self, task_id: str) -> SimTask:
        task = self.tasks.get(task_id)
        if task is None:
            raise KeyError(task_id)
        return task

    def complete_now(self, task_id: str, results: Sequence[str] | None = None) -> None:
        """Force a task to ``completed`` now. KeyError if unknown, ValueError if terminal."""
        task = self.get(task_id)
        self.refresh(task)
        if task.is_terminal:
            raise ValueError(f"task {task_id} is already {task.status}")
        if results is not None:
            task.results = list(results)
        self._finish(task, "completed", self.clock())

    def fail_now(self, task_id: str, code: str, message: str | None = None) -> None:
        """Force a task to ``failed`` now (refunds). KeyError if unknown, ValueError if terminal."""
        task = self.get(task_id)
        self.refresh(task)
        if task.is_terminal:
            raise ValueError(f"task {task_id} is already {task.status}")
        self._finish(task, "failed", self.clock(), code, message)

    def expired(self, task: SimTask) -> bool:
        retention = self.switches.task_retention_seconds
        return retention is not None and self.clock() - task.created_at >= retention

    # ---------------------------------------------------------------- answers

    def created_answer(self, task: SimTask) -> dict[str, Any]:
        """The create call's answer (a new task, pending)."""
        return {
            "created": task.created,
            "id": task.id,
            "model": task.model,
            "object": "video.generation.task",
            "progress": 0,
            "status": "pending",
            "task_info": {"can_cancel": True, "estimated_time": _estimate(self.estimate(task))},
            "type": "video",
            "usage": self._usage(task),
        }

    def answer(self, task: SimTask) -> dict[str, Any]:
        """What ``GET /v1/tasks/{id}`` answers about ``task`` now."""
        self.refresh(task)
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
        usage = self._usage(task)
        if task.status == "completed":
            used = billed(task.used_mode, task.credits_reserved)
            if used is not None:
                usage["credits_used"] = num(used)
            results = task.results if task.results is not None else [self._result_url(task.id)]
            return {
                "created": task.created,
                "id": task.id,
                "model": task.model,
                "object": "video.generation.task",
                "progress": 100,
                "results": list(results),
                "status": "completed",
                "task_info": {"can_cancel": False},
                "type": "video",
                "usage": usage,
            }
        remaining = task.created_at + self.estimate(task) - self.clock()  # as far as it knows
        return {
            "created": task.created,
            "id": task.id,
            "model": task.model,
            "object": "video.generation.task",
            "progress": task.progress,
            "status": task.status,
            "task_info": {"can_cancel": True, "estimated_time": _estimate(remaining)},
            "type": "video",
            "usage": usage,
        }

    @staticmethod
    def _usage(task: SimTask) -> dict[str, Any]:
        usage: dict[str, Any] = {"billing_rule": "per_call", "user_group": "default"}
        reserved = billed(task.reserved_mode, task.credits_reserved)
        if reserved is not None:
            usage["credits_reserved"] = num(reserved)
        return usage


def _estimate(remaining: float) -> int:
    """``task_info.estimated_time``: whole seconds left by the estimate, at least 1 (the
    simulator's reading: EvoLink documents the field on the create answer only)."""
    return max(1, math.ceil(remaining))
