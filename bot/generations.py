"""Starting a video: store the intent, call EvoLink once, record what it answered.

The row is written before the paid call, with the Idempotency-Key the call will carry, so a crash
or a lost answer leaves a `requested` row that the tracker later settles by repeating the same
call with the same key. EvoLink is expected to replay the task instead of making a second one;
that is not published (see README, Money rules), so a repeat that makes a new task is logged.

A create EvoLink did not take (busy, or not reached: certainly no task) is not refused: the
request waits in line (bot/busy_line.py) and is created after Retry-After, in order. Where
several processes share the database, EvoLink's pause is shared through it (every process holds
new requests back until it ends), and so is the line: each process reads it from the waiting
rows while the pause lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from bot import evolink
from bot.busy_line import BusyLine, Place
from bot.charges import ChargeAnomaly, check_reported
from bot.credits import Admission, Credits, Requester
from bot.instruments import NO_INSTRUMENTS, Instruments
from bot.logcontext import about_generation
from bot.moderation import Moderation
from bot.request import VideoRequest, request_of_stored
from bot.schedule import Schedule, Started
from bot.store import Clock, Generation, Store, WaitingRequest

log = logging.getLogger(__name__)

RECONCILE_DELAY = 60.0  # how long a lost create waits before the same call is repeated
RECONCILE_ATTEMPTS = 5
# EvoLink says an earlier call with the same key is still being handled: ask again shortly, for
# as long as a create can believably take (EvoLink's MCP client waits 2 minutes for one); after
# that each such answer counts as a lost one, so the attempts still end.
IN_FLIGHT_RETRY = 5.0
IN_FLIGHT_PATIENCE = 300.0
CREATES_PAUSED = "evolink creates paused"  # the shared timer: EvoLink's Retry-After for creates


class SubmitRefused(Exception):
    """EvoLink said no; nothing was made and nothing is charged."""

    def __init__(self, error: evolink.EvoLinkError) -> None:
        self.error = error
        super().__init__(str(error))


class SubmitHeld(Exception):
    """EvoLink did not take the create (busy, or not reached), so nothing was made: the request
    waits in line, its credits held, and is created after Retry-After."""

    def __init__(self, generation: Generation, error: evolink.EvoLinkError) -> None:
        self.generation = generation
        self.error = error
        super().__init__(str(error))


class SubmitUnconfirmed(Exception):
    """The create call's answer was lost; the tracker will find out and tell the member."""

    def __init__(self, generation_id: int, reason: str) -> None:
        self.generation_id = generation_id
        super().__init__(reason)


class SubmitUnrecorded(SubmitUnconfirmed):
    """EvoLink made the task but the bot could not store it (e.g. the database was locked or
    full). The row stays `requested` with its Idempotency-Key: the tracker repeats the call,
    gets the same task back, and settles it; the member must not be told they were not charged.
    """


def callback_url(base: str | None, g: Generation) -> str | None:
    """Where EvoLink should call back for this task: a path only its secret token opens."""
    if base is None or g.callback_token is None:
        return None
    return f"{base}/{g.id}/{g.callback_token}"


def request_of(g: Generation, callback_base: str | None = None) -> VideoRequest:
    """The exact create body of a stored request (a repeat must match the first call)."""
    return request_of_stored(g, callback_url(callback_base, g))


class VideoService:
    def __init__(
        self,
        store: Store,
        api: evolink.EvoLinkClient,
        credits: Credits,
        moderation: Moderation,
        *,
        schedule: Schedule,
        clock: Clock = time.time,
        on_submitted: Callable[[], None] = lambda: None,
        on_charge_anomaly: Callable[[ChargeAnomaly], None] = lambda anomaly: None,
        callback_base: str | None = None,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self._store = store
        self._api = api
        self._credits = credits
        self._moderation = moderation
        self._schedule = schedule
        self._clock = clock
        self._on_submitted = on_submitted
        self._on_charge_anomaly = on_charge_anomaly
        self._callback_base = callback_base
        self._instruments = instruments
        self.in_flight: set[int] = set()
        self._held_by_evolink_since: dict[int, float] = {}
        self.line = BusyLine(clock)
        self._admitting = asyncio.Lock()
        self._started_at = clock()  # a pause asked for before this start is not learned (below)

    async def request(self, who: Requester, request: VideoRequest) -> Admission:
        """Admit the request, then start it unless it has to wait (`admit`, then `start`): for a
        free slot, or for EvoLink (busy, or others already wait for it: they go first)."""
        return await self.start(await self.admit(who, request))

    async def admit(self, who: Requester, request: VideoRequest) -> Admission:
        """Whether the member may have this video, decided without EvoLink (so quickly enough
        to answer within Discord's 3 seconds), and, if so, the request stored with its credits.

        Every way a member asks for a video comes here, so the rules run once, in this order:
        bans and the blocklist (raising Banned or Blocked), then the limits, checked with the
        reservation in one transaction (CreditRefused); nothing is stored or charged for a
        refused request.
        """
        # one admission of this process at a time, in the order members asked: ids, and so the
        # line of requests waiting for EvoLink, follow it (SQLite's one connection did that by
        # itself; PostgreSQL's pool answers side by side, in any order)
        async with self._admitting:
            await self._learn_pause()
            await self._moderation.screen(
                who.guild_id, who.user_id, request.prompt, request.negative_prompt
            )
            admission = await self._credits.admit(
                who,
                request,
                next_poll_at=self._clock() + RECONCILE_DELAY,
                callback_token=secrets.token_urlsafe(24) if self._callback_base else None,
                hold=self.line.waiting,
            )
        self._instruments.credits_reserved(admission.cost)
        if admission.evolink_busy:
            self.line.join(admission.generation.id)
        if admission.queue_position is not None:
            self._on_submitted()  # a slot may be free already: the tracker starts the oldest
            return self._with_place(admission, admission.generation)
        return admission

    async def start(self, admission: Admission) -> Admission:
        """Make the paid call for an admitted request that need not wait; it raises as `submit`
        does (SubmitRefused, SubmitUnconfirmed). One EvoLink does not take waits in line."""
        if admission.queue_position is not None:
            return admission
        try:
            generation = await self.submit(admission.generation, member_waiting=True)
        except SubmitHeld as held:
            return self._with_place(replace(admission, evolink_busy=True), held.generation)
        return replace(admission, generation=generation)

    def _with_place(self, admission: Admission, generation: Generation) -> Admission:
        place = self.line.place(generation.id)
        if place is None:
            return replace(admission, generation=generation)
        return replace(admission, generation=generation, queue_position=place.position)

    async def place(self, generation: Generation) -> Place | None:
        """Where a waiting request stands: in the line for EvoLink, or in its member's queue."""
        in_line = self.line.place(generation.id)
        if in_line is not None:
            return in_line
        position = await self._store.generations.queue_position(generation)
        return Place(position) if position is not None else None

    @about_generation
    async def submit(
        self, generation: Generation, *, member_waiting: bool, repeat: bool = False
    ) -> Generation:
        """Make the create call for a `requested` row and store the answer.

        With `member_waiting` the member hears of a refusal straight away (SubmitRefused); without
        it (a reconcile after a crash) the refusal is stored for the delivery loop to announce.
        `repeat`: this call may have been made before, its answer lost. Raises SubmitUnrecorded
        when the task was made but could not be stored.
        """
        self.in_flight.add(generation.id)
        held_by_evolink = False
        try:
            if not member_waiting:
                # the attempt's start, which a restart reads (updated_at) to know when this call
                # can no longer be in flight; and its due time should this process die during it
                await self._store.generations.retry_unsubmitted_later(
                    generation.id, self._clock() + RECONCILE_DELAY, counted=False, starting=True
                )
            task = await self._api.create_task(
                request_of(generation, self._callback_base), generation.idempotency_key
            )
        except evolink.CreateInFlight as exc:
            held_by_evolink = True
            await self._ask_again_shortly(generation, exc)
            raise SubmitUnconfirmed(generation.id, str(exc)) from exc
        except evolink.OutcomeUnknown as exc:
            log.warning("create for generation %s unconfirmed: %s", generation.id, exc)
            await self._store.generations.retry_unsubmitted_later(
                generation.id, self._clock() + RECONCILE_DELAY
            )
            raise SubmitUnconfirmed(generation.id, str(exc)) from exc
        except (evolink.RateLimited, evolink.Unreachable) as exc:
            if repeat:  # this call made nothing, but the lost one may have: repeat it later
                await self._store.generations.retry_unsubmitted_later(
                    generation.id,
                    self._clock() + RECONCILE_DELAY,
                    counted=isinstance(exc, evolink.Unreachable),
                )
                raise SubmitUnconfirmed(generation.id, str(exc)) from exc
            await self._hold(generation, exc)
        except evolink.EvoLinkError as exc:
            await self._fail(generation, exc, member_told=member_waiting)
            raise SubmitRefused(exc) from exc
        finally:
            self.in_flight.discard(generation.id)
            if not held_by_evolink:
                self._held_by_evolink_since.pop(generation.id, None)
        if task.replayed:
            log.info("generation %s: EvoLink replayed task %s", generation.id, task.id)
        elif repeat:
            log.warning(
                "generation %s: repeating a lost create made task %s, not a replay; if the lost "
                "call had reached EvoLink, the account also paid for a task the bot never saw",
                generation.id, task.id,
            )  # fmt: skip
        try:
            submitted, anomaly = await self._record_submitted(generation, task)
        except Exception as exc:  # whatever failed here, the task exists and will be billed
            log.exception(
                "EvoLink made task %s for generation %s, but it could not be stored; the same "
                "call will be repeated to recover it",
                task.id, generation.id,
            )  # fmt: skip
            with contextlib.suppress(Exception):  # the database may still be failing
                await self._store.generations.retry_unsubmitted_later(
                    generation.id, self._clock() + RECONCILE_DELAY, counted=False
                )
            raise SubmitUnrecorded(generation.id, str(exc)) from exc
        if anomaly is not None:
            self._on_charge_anomaly(anomaly)
        self._on_submitted()
        return submitted

    async def _ask_again_shortly(self, generation: Generation, exc: evolink.CreateInFlight) -> None:
        """EvoLink still handles an earlier call with this key (a restart's repeat may meet the
        dead process's call): this one made nothing, so it is not one of the row's attempts, and
        the row stays `requested`, never refunded, until a repeat gets the task back."""
        now = self._clock()
        since = self._held_by_evolink_since.setdefault(generation.id, now)
        if now - since < IN_FLIGHT_PATIENCE:
            log.info(
                "generation %s: EvoLink is still handling an earlier call with the same key (%s);"
                " asking again in %.0fs", generation.id, exc, IN_FLIGHT_RETRY,
            )  # fmt: skip
            await self._store.generations.retry_unsubmitted_later(
                generation.id, now + IN_FLIGHT_RETRY, counted=False
            )
            return
        log.warning(
            "generation %s: EvoLink has said for %.0f min that an earlier call with the same key "
            "is in progress (%s); counted as a lost answer", generation.id, (now - since) / 60, exc,
        )  # fmt: skip
        await self._store.generations.retry_unsubmitted_later(generation.id, now + RECONCILE_DELAY)

    async def _record_submitted(
        self, generation: Generation, task: evolink.TaskState
    ) -> tuple[Generation, ChargeAnomaly | None]:
        """Store the task and settle the reservation to EvoLink's figure, if it is believable."""
        kind = (generation.quality, generation.duration)
        first_look = self._schedule.first_look(
            Started(generation.id, self._clock(), task.estimated_time, kind)
        )
        checked = check_reported(
            self._credits.prices, generation, task.credits_reserved,
            stage="reserved", task_id=task.id,
        )  # fmt: skip
        async with self._store.transaction() as tx:
            submitted = await tx.generations.mark_submitted(
                generation.id,
                task_id=task.id,
                status=task.status,
                progress=task.progress,
                credits_reserved=checked.charge,
                estimated_seconds=task.estimated_time,
                next_poll_at=first_look,
            )
            if checked.charge is not None:
                await self._credits.settle(
                    tx, submitted, checked.charge, reason="reserved by EvoLink"
                )
        return submitted, checked.anomaly

    async def _hold(self, generation: Generation, exc: evolink.EvoLinkError) -> None:
        """Certainly no task was made: the request waits in line instead, credits held."""
        self.line.refused(exc.retry_after, reachable=isinstance(exc, evolink.RateLimited))
        if self._store.is_shared:  # every process holds its new requests back until then
            await self._store.shared.extend(CREATES_PAUSED, self.line.retry_at)
        held = await self._store.generations.hold_request(generation.id)
        if held is None:  # no longer `requested`: nothing to hold (cannot happen in one process)
            raise SubmitUnconfirmed(generation.id, str(exc)) from exc
        self.line.join(held.id)
        log.info("EvoLink did not take generation %s (%s); it waits, %d in line",
                 held.id, exc, len(self.line))  # fmt: skip
        raise SubmitHeld(held, exc) from exc

    async def _fail(
        self, generation: Generation, exc: evolink.EvoLinkError, *, member_told: bool
    ) -> None:
        """No task was made: record why and give every credit back, in one transaction."""
        async with self._store.transaction() as tx:
            failed = await tx.generations.fail_unsubmitted(
                generation.id, exc.code or type(exc).__name__, exc.message,
                member_told=member_told,
            )  # fmt: skip
            if failed is not None:
                await self._credits.refund(tx, failed, reason="EvoLink refused the request")

    @about_generation
    async def reconcile(self, generation: Generation) -> None:
        """Settle a `requested` row left by a crash or a lost answer: same call, same key."""
        if generation.poll_count >= RECONCILE_ATTEMPTS:
            lost = evolink.OutcomeUnknown(
                "EvoLink never confirmed the task.", None, "submit_unconfirmed"
            )
            await self._fail(generation, lost, member_told=False)
            return
        try:
            await self.submit(generation, member_waiting=False, repeat=True)
        except (SubmitRefused, SubmitUnconfirmed):
            pass  # stored either way: refused rows go to delivery, lost ones wait their turn

    async def start_queued(self) -> list[Generation]:
        """Start waiting requests, oldest first across every member: each whose member has a
        free slot, unless EvoLink asked for a pause (a banned member's are withdrawn instead).
        A create EvoLink does not take stops the rest until its Retry-After. Returns what
        changed, for the status messages: started, withdrawn, and places in line that moved."""
        await self._learn_pause()
        if not self.line.open:  # EvoLink asked for a pause; nothing can start before its head
            return await self._line_from_rows() if self._store.is_shared else []
        changed: list[Generation] = []
        waiting = await self._store.generations.queued_in_order()
        for guild_id, user_id in dict.fromkeys((w.guild_id, w.user_id) for w in waiting):
            if guild_id is not None and await self._moderation.is_banned(guild_id, user_id):
                withdrawn = await self.withdraw_queued(guild_id, user_id)
                changed.extend(withdrawn)
                gone = {g.id for g in withdrawn}
                waiting = [w for w in waiting if w.id not in gone]
        startable = await self._startable(waiting)
        for index, (request, max_running) in enumerate(startable):
            async with self._store.transaction() as tx:  # the member's last slot: one taker
                await tx.ledger.hold_spending(request.guild_id or 0, request.user_id)
                promoted = await tx.generations.promote_waiting(
                    request.id, max_running, self._clock() + RECONCILE_DELAY
                )
            self.line.leave(request.id)
            if promoted is None:
                continue
            try:
                changed.append(await self.submit(promoted, member_waiting=False))
            except SubmitHeld:
                moved = self.line.replace(w.id for w, _ in startable[index:])
                mine = {w.id for w, _ in startable[index:] if w.mine}
                changed.extend(await self._rows(gid for gid in moved if gid in mine))
                break
            except (SubmitRefused, SubmitUnconfirmed):
                pass  # stored: the delivery loop tells the member, or the reconcile retries
        return changed

    async def _learn_pause(self) -> None:
        """Where processes share the database: a pause EvoLink asked another process for since
        this one started (a process that starts tries at once, as after a restart with SQLite,
        and lines up if EvoLink is still busy)."""
        if self._store.is_shared:
            until = await self._store.shared.until(CREATES_PAUSED, since=self._started_at)
            if until is not None:
                self.line.pause_until(until)

    async def _line_from_rows(self) -> list[Generation]:
        """While EvoLink's pause lasts: the line as the waiting rows make it, whichever process
        held them; returns this process's requests whose place in it changed."""
        startable = await self._startable(await self._store.generations.queued_in_order())
        moved = self.line.replace(w.id for w, _ in startable)
        mine = {w.id for w, _ in startable if w.mine}
        return await self._rows(gid for gid in moved if gid in mine)

    async def _startable(self, waiting: list[WaitingRequest]) -> list[tuple[WaitingRequest, int]]:
        """The waiting requests whose member has a slot for them, oldest first, each with its
        member's running limit."""
        ahead: dict[tuple[int | None, int], int] = {}  # member -> their requests before this
        max_running: dict[int, int] = {}  # guild -> its running limit
        startable = []
        for request in waiting:
            member = (request.guild_id, request.user_id)
            before = ahead.get(member, 0)
            ahead[member] = before + 1
            guild = request.guild_id or 0  # /video is guild-only
            if guild not in max_running:
                max_running[guild] = (await self._credits.limits(guild)).max_running
            if request.running + before < max_running[guild]:
                startable.append((request, max_running[guild]))
        return startable

    async def _rows(self, generation_ids: Iterable[int]) -> list[Generation]:
        rows = [
            await self._store.generations.get(generation_id) for generation_id in generation_ids
        ]
        return [row for row in rows if row is not None]

    async def withdraw_queued(self, guild_id: int, user_id: int) -> list[Generation]:
        """Cancel every request the member still has waiting in our queue, each refunded in
        full (e.g. they were banned: nothing more is started or paid for them)."""
        async with self._store.transaction() as tx:
            withdrawn = await tx.generations.cancel_all_queued(guild_id, user_id)
            for generation in withdrawn:
                await self._credits.refund(tx, generation, reason="withdrawn: member banned")
        for generation in withdrawn:
            self.line.leave(generation.id)
        return withdrawn

    async def cancel_queued(self, generation_id: int, user_id: int) -> Generation | None:
        """The requester withdraws a request still waiting in our queue: full refund."""
        async with self._store.transaction() as tx:
            cancelled = await tx.generations.cancel_queued(generation_id, user_id)
            if cancelled is not None:
                await self._credits.refund(tx, cancelled, reason="cancelled while waiting")
        if cancelled is not None:
            self.line.leave(cancelled.id)
        return cancelled
