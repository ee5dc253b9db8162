"""What the bot's processes agree on through the database, beyond the rows of their work.

- timers (`shared_timers`): until when something holds for every process, e.g. the pause in
  creates EvoLink asked for (`extend`, `until`), or when a notice was last sent, so that one
  process sends it (`claim_notice`);
- the request budget (`request_budget`): a token bucket every process spends from, e.g. Discord's
  global rate limit for the bot token (`take`). Its clock is the database's own unless the
  caller passes the time (tests), so processes on hosts whose clocks differ still share it
  exactly.
"""

from __future__ import annotations

from bot.store.database import Clock, Executor

ROUNDING = 1e-9  # of a token: what sums of floats may leave a whole token short by


class SharedState:
    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._buckets: set[str] = set()  # the buckets whose row is known to exist

    # --- timers ----------------------------------------------------------------------------------

    async def until(self, name: str, *, since: float) -> float | None:
        """Until when the timer `name` runs, if it was last set after `since`."""
        row = await self._db.fetchone(
            "SELECT until FROM shared_timers WHERE name = ? AND set_at > ?", name, since
        )
        return float(row[0]) if row is not None else None

    async def extend(self, name: str, until: float) -> None:
        """The timer runs at least until `until` (never shortened), set now."""
        later = self._db.dialect.greater("shared_timers.until", "excluded.until")
        await self._db.execute(
            f"""INSERT INTO shared_timers (name, until, set_at) VALUES (?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET until = {later}, set_at = excluded.set_at""",
            name, until, self._clock(),
        )  # fmt: skip

    async def claim_notice(self, name: str, every: float) -> bool:
        """True for exactly one caller, in every process together, per `every` seconds: the
        one that sends the notice `name` now."""
        now = self._clock()
        row = await self._db.fetchone(
            """INSERT INTO shared_timers (name, until, set_at) VALUES (?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET until = excluded.until, set_at = excluded.set_at
               WHERE shared_timers.until <= ? RETURNING name""",
            name, now + every, now, now,
        )  # fmt: skip
        return row is not None

    # --- the request budget ----------------------------------------------------------------------

    async def take(self, name: str, rate: float, burst: float, now: float | None = None) -> float:
        """Take one request from the bucket `name` (refilled at `rate` a second, holding at
        most `burst`): 0 when taken, else the seconds until one can be (nothing taken)."""
        granted, wait = await self.take_some(name, rate, burst, now, want=1)
        return 0.0 if granted else wait

    async def take_some(
        self, name: str, rate: float, burst: float, now: float | None = None, *, want: int
    ) -> tuple[int, float]:
        """Take up to `want` requests from the bucket `name` at once (one round trip for
        several, where the rate is high): how many were taken, and when none was, the seconds
        until one can be."""
        clock = "?" if now is not None else self._db.dialect.now_seconds()
        times = (now,) if now is not None else ()
        if name not in self._buckets:
            await self._db.execute(
                f"""INSERT INTO request_budget (name, tokens, refilled_at) VALUES (?, ?, {clock})
                   ON CONFLICT (name) DO NOTHING""",
                name, burst, *times,
            )  # fmt: skip
            self._buckets.add(name)
        dialect = self._db.dialect
        elapsed = dialect.greater(f"{clock} - refilled_at", "0")
        available = dialect.lesser("?", f"tokens + {elapsed} * ?")
        # a token short by the rounding of the sums that refill it is a whole one
        granted = dialect.lesser(dialect.floor(f"{available} + {ROUNDING}"), "?")
        fill = (burst, *times, rate)
        row = await self._db.fetchone(
            f"""UPDATE request_budget SET
                   tokens = {dialect.greater(f"{available} - {granted}", "0")},
                   granted = {granted},
                   refilled_at = {clock}
               WHERE name = ? RETURNING tokens, granted""",
            *fill, *fill, want, *fill, want, *times, name,
        )  # fmt: skip
        if row is None:  # the row went (a restored backup): made again on the next take
            self._buckets.discard(name)
            return 0, 0.0
        taken = int(row[1])
        if taken:
            return taken, 0.0
        return 0, max(0.0, (1.0 - float(row[0])) / rate)
