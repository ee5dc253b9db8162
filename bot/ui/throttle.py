"""Keeps progress edits under Discord's rate limits, however many tasks run.

Discord allows about five message edits per five seconds in a channel, and about 50 requests a
second for the whole bot. Progress edits are nice to have, so when a channel is busy, or the
bot's share of requests for them is spent, they are skipped (the next poll brings a fresher
figure); final states never go through here and are always sent.
"""

from __future__ import annotations

from collections import deque

from bot.store import Clock

CHANNEL_EDITS = 4  # per window, one below Discord's limit to leave room for deliveries
CHANNEL_WINDOW = 5.0
MESSAGE_GAP = 3.0  # at least this long between two edits of one status message
GLOBAL_EDITS_PER_SECOND = 10.0  # a fifth of Discord's global limit: deliveries come first
GLOBAL_BURST = 20.0


class EditThrottle:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._channel_edits: dict[int, deque[float]] = {}
        self._message_edits: dict[int, float] = {}
        self._tokens = GLOBAL_BURST
        self._refilled_at = clock()

    def allow(self, channel_id: int, message_id: int, *, correction: bool = False) -> bool:
        """True (and counted) when an edit of this message may be sent now. A `correction`
        (a place in the queue that is no longer true) skips the channel and message limits:
        it is never repeated by a later poll, and discord.py waits out a 429 if one comes."""
        now = self._clock()
        last = self._message_edits.get(message_id)
        if not correction and last is not None and now - last < MESSAGE_GAP:
            return False
        recent = self._channel_edits.setdefault(channel_id, deque())
        while recent and now - recent[0] >= CHANNEL_WINDOW:
            recent.popleft()
        if not correction and len(recent) >= CHANNEL_EDITS:
            return False
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(GLOBAL_BURST, self._tokens + elapsed * GLOBAL_EDITS_PER_SECOND)
        self._refilled_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        recent.append(now)
        self._message_edits[message_id] = now
        self._forget_old(now)
        return True

    def _forget_old(self, now: float) -> None:
        if len(self._message_edits) > 10_000:
            self._message_edits = {
                m: t for m, t in self._message_edits.items() if now - t < MESSAGE_GAP
            }
            self._channel_edits = {c: q for c, q in self._channel_edits.items() if q}
