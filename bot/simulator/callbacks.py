"""Callbacks: a terminal task with a ``callback_url`` is POSTed there, as EvoLink documents it.

The body is the task query's answer; any 2xx is success; a failure (status, transport error or
timeout) is retried after 1, 2 and 4 s (by default), then given up. Every attempt is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.simulator.tasks import SimTask

log = logging.getLogger(__name__)


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

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "url": self.url,
            "attempt": self.attempt,
            "time": self.time,
            "status": self.status,
            "error": self.error,
            "ok": self.ok,
        }


class CallbackSender:
    """Looks for terminal tasks to call back (woken when one ends, and every
    ``poll_interval`` seconds), and sends each with its retries."""

    def __init__(
        self,
        *,
        tasks: Callable[[], Iterable[SimTask]],
        refresh: Callable[[SimTask], None],
        answer: Callable[[SimTask], dict[str, Any]],
        clock: Callable[[], float],
        retry_delays: Sequence[float],
        timeout: float,
        poll_interval: float,
    ) -> None:
        self._tasks = tasks
        self._refresh = refresh
        self._answer = answer
        self._clock = clock
        self.retry_delays: tuple[float, ...] = tuple(retry_delays)
        self.timeout = float(timeout)
        self.poll_interval = float(poll_interval)
        #: False: tasks are not looked for; only ``send`` starts a callback.
        self.scan = True
        self.attempts: list[CallbackAttempt] = []
        self._session: aiohttp.ClientSession | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._wake = asyncio.Event()
        self._loop_task = asyncio.create_task(self._loop(), name="evolink-sim-callbacks")

    async def stop(self) -> None:
        """Stop looking and cancel deliveries under way. Safe to call twice."""
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

    def wake(self) -> None:
        """A task has ended: look now rather than at the next interval."""
        if self._wake is not None:
            self._wake.set()

    async def _loop(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            try:
                self.dispatch()
            except Exception:
                log.exception("callback dispatch failed")
            with contextlib.suppress(TimeoutError):  # asyncio.timeout spawns no task per wait
                async with asyncio.timeout(self.poll_interval):
                    await wake.wait()
            wake.clear()

    def dispatch(self) -> None:
        """Start the callback of every terminal task that has not had one."""
        if not self.scan:
            return
        for task in self._tasks():
            self.send(task)

    def send(self, task: SimTask) -> None:
        """Start ``task``'s callback if it is due (terminal, with a url, not sent yet)."""
        if not task.callback_url or task.callback_state not in ("none", "waiting"):
            return
        self._refresh(task)
        if not task.is_terminal:
            return
        task.callback_state = "sending"
        delivery = asyncio.create_task(self._deliver(task), name=f"callback-{task.id}")
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)

    async def flush(self) -> None:
        """Start due callbacks now and wait until every delivery (with retries) has ended."""
        self.dispatch()
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)
            self.dispatch()

    async def _deliver(self, task: SimTask) -> None:
        url = task.callback_url
        assert url is not None
        payload = self._answer(task)
        for attempt in range(1, len(self.retry_delays) + 2):
            if attempt > 1:
                await asyncio.sleep(self.retry_delays[attempt - 2])
            session = self._session
            if session is None:
                return  # stopped meanwhile
            status, error = await _post(session, url, payload, self.timeout)
            record = CallbackAttempt(task.id, url, attempt, self._clock(), status, error, payload)
            self.attempts.append(record)
            if record.ok:
                task.callback_state = "delivered"
                return
        task.callback_state = "failed"


async def _post(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], seconds: float
) -> tuple[int | None, str | None]:
    """POST one callback: (the status answered, None) or (None, what went wrong)."""
    try:
        async with session.post(
            url,
            json=payload,
            timeout=aiohttp.ClientTimeout(total=seconds),
            headers={"User-Agent": "EvoLink-Simulator/1.0"},
        ) as resp:
            await resp.read()
            return resp.status, None
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
