"""Follows every active task until it is final and delivered, driven only by the database.

One loop per process: start waiting requests (in order, once EvoLink takes creates again),
settle lost creates, poll the tasks that are due (bounded concurrency; when a task is next due is
bot/schedule.py's answer), deliver what has finished, then sleep until the next row is due or a
new submission wakes it.
Any number of processes may run this loop over one database: each takes the rows it works on
with a claim and a lease (bot/store/work.py), renews the leases of its work in flight, and gives
its rows back when it stops; the rows of a process that died are taken over within one lease.
After a restart, unfinished rows are simply due; the one step at start makes creates the last
process left in flight due as soon as their call can no longer be waiting (resume_lost_creates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot import evolink, result_link
from bot.charges import ChargeAnomaly, check_reported
from bot.credits import Credits
from bot.generations import VideoService
from bot.instruments import NO_INSTRUMENTS, Instruments
from bot.logcontext import about_generation
from bot.schedule import Schedule, Started
from bot.store import Clock, Generation, ProgressUpdate, Store

log = logging.getLogger(__name__)

BATCH = 50
POLL_PAGE = 1000  # due tasks taken per pass
BATCH_AHEAD = 1.0  # a pass also takes rows due this much later, so batches go out full
BATCH_GATHER = 0.25  # and waits this long past the first due look (aimed looks are not early)
BATCH_REPROBE = 3600.0  # after a "no batch route" answer, single queries for this long
DELIVERY_CONCURRENCY = 128  # deliveries (download, upload) in flight at once
MAX_IDLE_SLEEP = 30.0
DELIVERY_RETRY_DELAYS = (5.0, 30.0, 120.0, 600.0, 1800.0)
CUT_OFF_CREATE_MARGIN = 5.0  # beyond the HTTP timeout, before a dead process's create is repeated
UNUSABLE_RESULT = "unusable_result"  # error code: EvoLink finished, but its link is unusable
NO_RESULT = "no_result"  # error code: EvoLink said "completed" but never sent the video's link
NO_RESULT_REPOLLS = 3  # further looks at a "completed" without a link; the last gives it up


class Notifier(Protocol):
    """The Discord side, as the tracker needs it (see bot.ui.delivery)."""

    async def progress(self, generation: Generation) -> None:
        """Show a changed status; best effort, never raises."""

    async def deliver(self, generation: Generation) -> Delivery:
        """Tell the member the outcome; raise DeliveryFailed if nothing reached them."""

    async def give_up(self, generation: Generation, reason: str) -> None:
        """The last delivery attempt failed: a short note to the member where one can still
        reach them, and word to the moderators. Best effort, never raises."""


@dataclass(frozen=True)
class Delivery:
    via: str
    message_id: int | None
    attached: bool | None = None  # the message carries the video's file (None: no video)


class DeliveryFailed(Exception):
    pass


class Tracker:
    def __init__(
        self,
        store: Store,
        api: evolink.EvoLinkClient,
        service: VideoService,
        credits: Credits,
        notifier: Notifier,
        *,
        schedule: Schedule,
        poll_interval: float,
        concurrency: int,
        task_timeout: float,
        http_timeout: float,
        clock: Clock = time.time,
        on_charge_anomaly: Callable[[ChargeAnomaly], None] = lambda anomaly: None,
        on_key_refused: Callable[[evolink.EvoLinkError], Awaitable[None]] | None = None,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self._store = store
        self._api = api
        self._service = service
        self._credits = credits
        self._notifier = notifier
        self._schedule = schedule
        self._poll_interval = poll_interval
        self._task_timeout = task_timeout
        self._http_timeout = http_timeout
        self._clock = clock
        self._on_charge_anomaly = on_charge_anomaly
        self._on_key_refused = on_key_refused
        self._instruments = instruments
        self._limit = asyncio.Semaphore(concurrency)
        self._delivery_slots = asyncio.Semaphore(DELIVERY_CONCURRENCY)
        self._wake = asyncio.Event()
        self._paused_until = 0.0
        self._outage_streak = 0
        self._stopping = False
        self._batch_supported_at = 0.0
        self._batch_answered = False  # until a batch query has been answered once
        self._key_refused_logged = False
        self._background: set[asyncio.Task[None]] = set()
        self._delivering: dict[int, asyncio.Task[None]] = {}
        self._delivery_crashes: list[BaseException] = []
        self._completed_without_result: dict[int, int] = {}  # answers so far, this process

    def wake(self) -> None:
        self._wake.set()

    async def resume_lost_creates(self) -> None:
        """Call once at start, before this process makes any create: every `requested` row's
        create was cut off with the last process, whose call may still be in EvoLink's hands.
        Each is repeated once that call can no longer be waiting for its answer (the HTTP timeout
        and a margin after it began; at once if that has passed) instead of after
        RECONCILE_DELAY; creates lost later in this process still wait theirs. (Where other
        processes share the database, the rows under their live leases are theirs.) On a
        database of this process alone, what earlier runs claimed is free again first."""
        if not self._store.is_shared:
            await self._store.work.forget_earlier_runs()
        settle = self._http_timeout + CUT_OFF_CREATE_MARGIN
        count = await self._store.generations.unsubmitted_due_at(self._clock(), settle)
        if count:
            log.info(
                "%d request(s) cut off by the last stop are checked with EvoLink once their "
                "call can no longer be in flight (at most %.0fs)", count, settle,
            )  # fmt: skip

    async def run(self) -> None:
        log.info("tracker started")
        while not self._stopping:
            self._wake.clear()  # before the pass: a wake-up during it then starts another
            try:
                await self._pass()
            except Exception:
                log.exception("tracker pass failed; trying again shortly")
                await asyncio.sleep(1.0)
            if not self._stopping:
                await self._sleep_until_due()
        await asyncio.gather(*self._delivering.values(), return_exceptions=True)
        log.info("tracker stopped")

    async def keep_leases(self) -> None:
        """Renew the leases of this process's work in flight (a slow delivery, a create waiting
        for EvoLink's answer) well before they run out, so no other process takes it over.
        Runs until cancelled; needed only where other processes share the database."""
        every = self._store.work.claimant.lease / 3
        while True:
            await asyncio.sleep(every)
            try:
                await self._store.work.renew()
            except Exception:
                log.exception("could not renew this process's leases; trying again")

    def stop(self) -> None:
        """Finish the current pass and the deliveries in flight, then return from run()."""
        self._stopping = True
        self._wake.set()

    async def run_once(self) -> None:
        """One pass, then wait for the deliveries and status edits it started (each request
        to Discord may first wait its turn: bot/request_budget.py)."""
        await self._pass()
        await self.deliveries_done()
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def deliveries_done(self) -> None:
        """Wait until no delivery is in flight; re-raise what killed one (tests inject crashes)."""
        while self._delivering:
            await asyncio.gather(*self._delivering.values(), return_exceptions=True)
        if self._delivery_crashes:
            raise self._delivery_crashes.pop(0)

    async def _pass(self) -> None:
        """Queued requests with a free slot, lost creates, due polls, due deliveries. Deliveries
        run beside the loop, so a slow upload never holds up the next poll."""
        changed = await self._service.start_queued()
        for generation in changed:
            self._in_background(self._notifier.progress(generation))
        for guild_id, user_id in {(g.guild_id, g.user_id) for g in changed}:
            await self.renumber_queue(guild_id, user_id)
        now = self._clock()
        settle = self._http_timeout + CUT_OFF_CREATE_MARGIN
        for generation in await self._store.work.unsubmitted(now, BATCH, settle=settle):
            if generation.id not in self._service.in_flight:
                await self._service.reconcile(generation)
        if now >= self._paused_until:
            # rows due within the next moment join this pass: fuller batches, no extra lag (but
            # not a look aimed at a predicted end: sooner, it would likely miss it)
            ahead = min(BATCH_AHEAD, self._poll_interval / 10) if self._batch_usable() else 0.0
            due = await self._store.work.polls(
                now + ahead, POLL_PAGE, wanted=lambda g: self._due_now(g, now)
            )
            await self._poll_all(due)
        due = await self._store.work.deliveries(BATCH, skip=self._delivering)
        for generation in due:
            self._start_delivery(generation)

    async def renumber_queue(self, guild_id: int | None, user_id: int) -> None:
        """Show the member's waiting requests their new places (one left the queue)."""
        for waiting in await self._store.generations.queued_of(guild_id, user_id):
            self._in_background(self._notifier.progress(waiting))

    async def close(self) -> None:
        """Stop what is still running, then give back this process's rows: another process (or
        the next start) takes them at once instead of after their leases."""
        for task in [*self._background, *self._delivering.values()]:
            task.cancel()
        await asyncio.gather(*self._background, *self._delivering.values(), return_exceptions=True)
        try:
            await self._store.work.release_all()
        except Exception:
            log.exception("could not give back this process's rows; their leases will run out")

    async def _sleep_until_due(self) -> None:
        now = self._clock()
        settle = self._http_timeout + CUT_OFF_CREATE_MARGIN
        next_poll = await self._store.work.next_poll_at(settle=settle)
        if next_poll is not None:
            if self._batch_usable():  # looks due within a moment go out in one batch query
                next_poll += BATCH_GATHER
            next_poll = max(next_poll, self._paused_until)
        next_delivery = await self._store.work.next_delivery_at(skip=self._delivering)
        line = self._service.line
        next_start = line.retry_at if len(line) else None  # EvoLink's pause for creates ends
        candidates = (next_poll, next_delivery, next_start, now + MAX_IDLE_SLEEP)
        delay = min(t for t in candidates if t is not None) - now
        if delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _poll_all(self, due: list[Generation]) -> None:
        """Query every due task, by chunks of 50: one batch call each where the API offers it,
        else single queries; each chunk's answers are then stored in one transaction."""
        now = self._clock()
        active: list[Generation] = []
        for generation in due:
            if generation.submitted_at and now - generation.submitted_at > self._task_timeout:
                await self._finish(generation, status="expired", error_code="expired")
            else:
                active.append(generation)
        size = evolink.BATCH_LIMIT
        chunks = [active[i : i + size] for i in range(0, len(active), size)]
        if chunks and self._batch_usable() and not self._batch_answered:
            await self._poll_chunk(chunks.pop(0))  # one probe, not a burst of refused batches
        await asyncio.gather(*(self._poll_chunk(chunk) for chunk in chunks))

    async def _poll_chunk(self, chunk: list[Generation]) -> None:
        answers: list[tuple[Generation, evolink.TaskState]] = []
        singles = chunk
        if self._batch_usable():
            singles = await self._query_batch(chunk, answers)
        for answer in await asyncio.gather(*(self._query_one(g) for g in singles)):
            if answer is not None:
                answers.append(answer)
        await self._apply(answers)

    async def _query_batch(
        self, chunk: list[Generation], answers: list[tuple[Generation, evolink.TaskState]]
    ) -> list[Generation]:
        """Query a chunk in one call, adding to `answers`; returns what needs a single query."""
        ids = [g.task_id for g in chunk if g.task_id is not None]
        async with self._limit:
            try:
                states = await self._api.get_tasks(ids)
            except evolink.BatchUnsupported:
                if self._batch_supported_at <= self._clock():
                    log.info("EvoLink has no batch query here; polling tasks one by one")
                self._batch_supported_at = self._clock() + BATCH_REPROBE
                self._batch_answered = False
                return chunk
            except evolink.EvoLinkError as exc:
                await self._poll_failed(chunk, exc)
                return []
        self._outage_streak = 0
        self._batch_answered = True
        missing = []
        for generation in chunk:
            state = states.get(generation.task_id or "")
            if state is None:
                missing.append(generation)  # unknown to the batch: a single query says why
            else:
                answers.append((generation, state))
        return missing

    @about_generation
    async def _query_one(
        self, generation: Generation
    ) -> tuple[Generation, evolink.TaskState] | None:
        assert generation.task_id is not None
        async with self._limit:
            try:
                task = await self._api.get_task(generation.task_id)
            except evolink.TaskNotFound as exc:
                await self._finish(
                    generation, status="failed", error_code="task_not_found", message=exc.message
                )
                return None
            except evolink.BadResponse as exc:
                # EvoLink answered, not readably for this task: no outage for the others (it is
                # asked again each interval, and expires with a refund if it never reads well)
                log.warning("could not read the state of task %s: %s", generation.task_id, exc)
                next_look = self._schedule.next_look(started(generation), generation.progress)
                await self._store.generations.reschedule_poll(generation.id, next_look)
                return None
            except evolink.EvoLinkError as exc:
                await self._poll_failed([generation], exc)
                return None
        self._outage_streak = 0
        return generation, task

    async def _apply(self, answers: list[tuple[Generation, evolink.TaskState]]) -> None:
        """Final answers finish their rows one by one (each with its charge or refund); the
        others are stored together."""
        updates: list[ProgressUpdate] = []
        show: list[int] = []
        for generation, task in answers:
            if task.status == "completed" and task.video_url is not None:
                await self._completed(generation, task, task.video_url)
            elif task.status == "completed":
                seen = self._completed_without_result.get(generation.id, 0) + 1
                if seen > NO_RESULT_REPOLLS:
                    await self._no_result(generation, task, seen)
                    continue
                self._completed_without_result[generation.id] = seen
                log.warning("task %s completed without a result; polling again", task.id)
                again = self._schedule.next_look(started(generation), task.progress)
                updates.append(ProgressUpdate(generation.id, "processing", task.progress, again))
            elif task.is_terminal:
                await self._finish(
                    generation,
                    status="failed",
                    error_code=task.error_code or task.status,
                    message=task.error_message,
                    credits=task.credits_used,
                )
            else:
                next_look = self._schedule.next_look(started(generation), task.progress)
                updates.append(ProgressUpdate(generation.id, task.status, task.progress, next_look))
                if task.progress > generation.progress or (
                    task.status == "processing" and generation.status == "submitted"
                ):
                    show.append(generation.id)
        if updates:
            for updated in await self._store.generations.record_progress_many(updates, show=show):
                self._in_background(self._notifier.progress(updated))

    async def _completed(self, generation: Generation, task: evolink.TaskState, url: str) -> None:
        """A link the bot cannot hand out would fail every delivery attempt the same way: the
        video is as lost to the member as a failed one, so it ends failed and refunded, and the
        moderators see why (EvoLink may have charged for it)."""
        problem = result_link.problem(url, self._api.base_url)
        if problem is None:
            await self._finish(generation, status="completed", url=url, credits=task.credits_used)
            return
        log.warning("task %s finished with an unusable result link: %s", task.id, problem)
        shown = ascii(url[:200]) + ("…" if len(url) > 200 else "")
        used = (
            "" if task.credits_used is None else f" (EvoLink reported {task.credits_used:g} used)"
        )
        await self._finish(
            generation,
            status="failed",
            error_code=UNUSABLE_RESULT,
            message=f"EvoLink's result link is {problem}{used}: {shown}",
            credits=task.credits_used,
        )

    async def _no_result(self, generation: Generation, task: evolink.TaskState, seen: int) -> None:
        """EvoLink keeps saying the video is done without a link to it: it will not come (a
        missing link is not a late one), so the member is refunded and told now rather than
        after TASK_TIMEOUT_MINUTES, and the moderators see why (EvoLink may have charged)."""
        log.warning("task %s completed without a result %d times; giving it up", task.id, seen)
        used = (
            "" if task.credits_used is None else f" (EvoLink reported {task.credits_used:g} used)"
        )
        await self._finish(
            generation,
            status="failed",
            error_code=NO_RESULT,
            message=f"EvoLink said {seen} times the task was done but sent no video link{used}",
            credits=task.credits_used,
        )

    async def _poll_failed(self, generations: list[Generation], exc: evolink.EvoLinkError) -> None:
        ids = [generation.id for generation in generations]
        if isinstance(exc, evolink.Unauthorized | evolink.ModelAccessDenied):
            if not self._key_refused_logged:
                self._key_refused_logged = True
                log.error("EvoLink refused the API key while polling: %s", exc)
                if self._on_key_refused is not None:
                    self._in_background(self._on_key_refused(exc))
            await self._store.generations.reschedule_polls(ids, self._clock() + 60.0)
            return
        self._outage_streak += 1
        wait = min(self._poll_interval * 2 ** min(self._outage_streak, 6), 300.0)
        if exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        if isinstance(exc, evolink.RateLimited) or self._outage_streak >= 3:
            self._paused_until = max(self._paused_until, self._clock() + wait)
        log.warning(
            "polling %d task(s) failed (%s); next look in %.0fs", len(generations), exc, wait
        )
        await self._store.generations.reschedule_polls(ids, self._clock() + wait)

    @about_generation
    async def _finish(
        self,
        generation: Generation,
        *,
        status: str,
        url: str | None = None,
        error_code: str | None = None,
        message: str | None = None,
        credits: float | None = None,
    ) -> None:
        """Record a final state with its charge (completed: EvoLink's figure if believable, else
        what is held) or its full refund, in one transaction. The row keeps what was charged."""
        self._schedule.finished(started(generation), completed=status == "completed")
        self._completed_without_result.pop(generation.id, None)
        anomaly = None
        if status == "completed":
            checked = check_reported(
                self._credits.prices, generation, credits,
                stage="used", task_id=generation.task_id or "",
            )  # fmt: skip
            credits, anomaly = checked.charge, checked.anomaly
        else:
            credits = None  # refunded in full, whatever EvoLink says the task used
        async with self._store.transaction() as tx:
            finished = await tx.generations.record_finished(
                generation.id, status=status, result_url=url, error_code=error_code,
                error_message=message, credits_used=credits,
            )  # fmt: skip
            if finished is not None:
                if status != "completed":
                    await self._credits.refund(tx, finished, reason=f"video {status}")
                elif credits is not None:
                    await self._credits.settle(tx, finished, credits, reason="final charge")
        if finished is not None:
            log.info("generation %s %s (task %s)", finished.id, status, finished.task_id)
            if status == "completed":
                self._instruments.credits_spent(self._charged(finished, credits))
            if anomaly is not None:
                self._on_charge_anomaly(anomaly)
            self._start_delivery(finished)
            if await self._store.generations.has_queued(finished.guild_id, finished.user_id):
                self.wake()  # a slot is free: start their next request now, not at the next poll

    def _start_delivery(self, generation: Generation) -> None:
        if generation.id in self._delivering:
            return
        task = asyncio.create_task(self._deliver(generation))
        self._delivering[generation.id] = task
        task.add_done_callback(lambda done: self._delivery_ended(generation.id, done))

    def _delivery_ended(self, generation_id: int, task: asyncio.Task[None]) -> None:
        self._delivering.pop(generation_id, None)
        if not task.cancelled() and task.exception() is not None:
            self._delivery_crashes.append(task.exception())  # type: ignore[arg-type]

    @about_generation
    async def _deliver(self, generation: Generation) -> None:
        try:
            async with self._delivery_slots:
                delivery = await self._notifier.deliver(generation)
        except Exception as exc:
            # Discord refusing, or something unexpected (a bug, the database busy): either way
            # one attempt of the bounded schedule; the nonce prevents a second post on retry.
            if not isinstance(exc, DeliveryFailed):
                log.exception("delivering generation %s failed unexpectedly", generation.id)
            await self._attempt_failed(generation, str(exc) or type(exc).__name__)
            return
        await self._store.generations.mark_delivered(
            generation.id, via=delivery.via, message_id=delivery.message_id,
            attached=delivery.attached,
        )  # fmt: skip
        if generation.finished_at is not None:
            self._instruments.delivered(self._clock() - generation.finished_at)

    def _charged(self, finished: Generation, settled_to: float | None) -> float:
        """What a completed video cost its member: EvoLink's figure if it was believed, else
        what stayed held (EvoLink's believed reservation, or the bot's estimate)."""
        if settled_to is not None:
            return settled_to
        if finished.credits_reserved is not None:
            return finished.credits_reserved
        return self._credits.prices.estimate(finished.quality, finished.duration)

    async def _attempt_failed(self, generation: Generation, reason: str) -> None:
        attempt = generation.delivery_attempts
        try:
            if attempt < len(DELIVERY_RETRY_DELAYS):
                retry_at = self._clock() + DELIVERY_RETRY_DELAYS[attempt]
                log.warning("delivery of generation %s failed (%s); retrying", generation.id,
                            reason)  # fmt: skip
                await self._store.generations.delivery_failed(generation.id, retry_at=retry_at)
                self._wake.set()  # the loop may be asleep past the retry time
                return
            log.error("giving up delivering generation %s after %d attempts: %s",
                      generation.id, attempt + 1, reason)  # fmt: skip
            await self._store.generations.delivery_failed(generation.id, retry_at=None)
            given_up = await self._store.generations.get(generation.id) or generation
        except Exception:
            log.exception("could not record the failed delivery of generation %s", generation.id)
            return
        await self._notifier.give_up(given_up, reason)

    def _due_now(self, generation: Generation, now: float) -> bool:
        due_at = generation.next_poll_at
        return due_at is None or due_at <= now or not self._schedule.aimed(started(generation))

    def _batch_usable(self) -> bool:
        return self._batch_supported_at <= self._clock()

    def _in_background(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("background notification failed")

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def started(generation: Generation) -> Started:
    """A running task as the schedule knows it."""
    return Started(
        generation.id,
        generation.submitted_at or generation.requested_at,
        generation.estimated_seconds,
        (generation.quality, generation.duration),
        looks=generation.poll_count,
    )
