"""The line of requests that wait because EvoLink could not take a new video.

When a create is answered 429 (busy) or cannot reach EvoLink at all, nothing was made: the
request is kept waiting (its row back to `queued`, its credits held) instead of refused, and
every request after it waits behind it, so that EvoLink gets them in the order members asked.
After Retry-After the tracker creates them one by one from the head; a new 429 stops it again.

The rows are the database's; what is kept here is the order they wait in and when EvoLink may be
asked again. After a restart the line is empty: the waiting rows are simply tried at once, in
order, and line up again if EvoLink is still busy. Where several processes share the database,
each keeps a line of its own, read from the waiting rows and the shared pause (bot/generations.py).
Pure: no I/O, the clock is injected.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

BUSY_WAIT = 5.0  # seconds before the next try when EvoLink named no Retry-After
UNREACHABLE_WAIT = 15.0  # seconds before the next try when EvoLink could not be reached
LONGEST_WAIT = 300.0  # a Retry-After beyond this is not believed


@dataclass(frozen=True)
class Place:
    """Where a waiting request stands: `position` 1 starts next. `evolink_busy`: it waits for
    EvoLink, in the line of every member; otherwise for one of the member's own videos to end."""

    position: int
    evolink_busy: bool = False


class BusyLine:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._ids: list[int] = []  # generation ids, oldest request first
        self.retry_at = 0.0  # when EvoLink may be asked for the next create

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def waiting(self) -> bool:
        """A new request must wait behind others (or EvoLink asked for a pause)."""
        return bool(self._ids) or self._clock() < self.retry_at

    @property
    def open(self) -> bool:
        """EvoLink may be asked for the next create now."""
        return self._clock() >= self.retry_at

    def refused(self, retry_after: float | None, *, reachable: bool = True) -> None:
        """EvoLink did not take a create: ask again after its Retry-After (or a default)."""
        default = BUSY_WAIT if reachable else UNREACHABLE_WAIT
        wait = default if retry_after is None else min(max(retry_after, 1.0), LONGEST_WAIT)
        self.retry_at = max(self.retry_at, self._clock() + wait)

    def pause_until(self, until: float) -> None:
        """EvoLink asked another process for a pause in creates, until then."""
        self.retry_at = max(self.retry_at, until)

    def join(self, generation_id: int) -> None:
        """A request starts waiting (ids grow with the time of the request: the order holds)."""
        if generation_id not in self._ids:
            bisect.insort(self._ids, generation_id)

    def leave(self, generation_id: int) -> None:
        """A request stops waiting: created, cancelled or withdrawn."""
        if generation_id in self._ids:
            self._ids.remove(generation_id)

    def replace(self, generation_ids: Iterable[int]) -> dict[int, int]:
        """The line as the database now has it; returns the new place of every request whose
        place changed (to be shown to its member)."""
        before = {gid: n for n, gid in enumerate(self._ids, start=1)}
        self._ids = sorted(set(generation_ids))
        return {gid: n for n, gid in enumerate(self._ids, start=1) if before.get(gid) != n}

    def place(self, generation_id: int) -> Place | None:
        """Its place in the line, or None if it is not in it."""
        index = bisect.bisect_left(self._ids, generation_id)
        if index < len(self._ids) and self._ids[index] == generation_id:
            return Place(index + 1, evolink_busy=True)
        return None
