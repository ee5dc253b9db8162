"""How many requests this process may make to Discord with the bot token, and when.

Discord allows about 50 requests a second per bot token, whichever process makes them. Requests
made with an interaction's own token (the answer to a command, its follow-ups, edits of its
`@original` message) are not bound by that limit. Every request made with the bot token first
takes one from a token bucket: this process's own when it is the only one (SQLite), or one kept
in the database that every process takes from (bot/store/shared.py, PostgreSQL), so that any
number of processes together stay within the one limit.

The bucket refills at nine tenths of the limit and holds a tenth in reserve: however the
requests fall, no second sees more than the limit. Nothing is dropped: a request waits its turn.
Where the limit is high (a bot Discord allows more), a process takes several requests from the
shared bucket at once, what the limit allows in `GRANT_SECONDS`, and spends them within
`STASH_SECONDS` or gives them up: one round trip to the database serves many requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.store import Clock
from bot.store.shared import SharedState

log = logging.getLogger(__name__)

BUCKET = "discord bot token"  # the shared bucket's name (bot/store/shared.py)
RESERVE_SHARE = 0.1  # of the limit, held as the bucket's reserve (the rest refills each second)
WHOLE = 1.0 - 1e-9  # a request's token, give or take the rounding of the sums that refill it
GRANT_SECONDS = 0.02  # a process takes at once what the limit allows in this long (at least 1)
STASH_SECONDS = 0.5  # requests taken at once and not made within this long are given up

Sleep = Callable[[float], Awaitable[None]]


class RequestBudget:
    def __init__(
        self,
        limit: float,
        *,
        monotonic: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`limit`: requests a second, for every process together."""
        self.burst = max(1.0, limit * RESERVE_SHARE)
        self.rate = max(limit - self.burst, limit / 2)
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = self.burst
        self._refilled_at = monotonic()
        self._shared: SharedState | None = None
        self._shared_clock: Clock | None = None
        self._lock = asyncio.Lock()  # one request at a time asks the bucket, in order
        self._grant = max(1, int(self.rate * GRANT_SECONDS))
        self._stash = 0  # requests taken from the shared bucket, not made yet
        self._stashed_at = 0.0
        self._shared_failed = False
        self._waiting = 0  # requests sleeping until the budget allows them

    @property
    def congested(self) -> bool:
        """Requests are waiting for the budget right now."""
        return self._waiting > 0

    def share_through(self, shared: SharedState, *, clock: Clock | None = None) -> None:
        """From now on, take from the bucket every process shares (`clock`: the time to pass
        to it; None: the database's own clock)."""
        self._shared = shared
        self._shared_clock = clock

    async def acquire(self) -> None:
        """Wait until this process may make one more request with the bot token."""
        async with self._lock:
            while (wait := await self._take()) > 0:
                self._waiting += 1
                try:
                    await self._sleep(wait)
                finally:
                    self._waiting -= 1

    async def _take(self) -> float:
        if self._shared is not None:
            if self._stash > 0 and self._monotonic() - self._stashed_at <= STASH_SECONDS:
                self._stash -= 1
                return 0.0
            try:
                now = self._shared_clock() if self._shared_clock is not None else None
                taken, wait = await self._shared.take_some(
                    BUCKET, self.rate, self.burst, now, want=self._grant
                )
            except Exception as exc:  # the database is failing: this process's own bucket
                if not self._shared_failed:
                    log.warning("Discord's request budget is unreadable (%s); counting here", exc)
                self._shared_failed = True
            else:
                self._shared_failed = False
                if taken:
                    self._stash, self._stashed_at = taken - 1, self._monotonic()
                    return 0.0
                return wait
        return self._take_here()

    def _take_here(self) -> float:
        now = self._monotonic()
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._refilled_at = now
        if self._tokens >= WHOLE:
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self.rate
