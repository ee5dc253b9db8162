"""Starting a video: store the intent, call EvoLink once, record what it answered.

The row is written before the paid call, with the Idempotency-Key the call will carry, so a crash
or a lost answer leaves a `requested` row that the tracker later settles by repeating the same
call with the same key. EvoLink is expected to replay the task instead of making a second one;
that is not published (see README, Money rules), so a repeat that makes a new task is logged.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace

from bot import evolink
from bot.charges import ChargeAnomaly, check_reported
from bot.credits import Admission, Credits, Requester
from bot.instruments import NO_INSTRUMENTS, Instruments
from bot.logcontext import about_generation
from bot.moderation import Moderation
from bot.request import VideoRequest, request_of_stored
from bot.store import Clock, Generation, Store

log = logging.getLogger(__name__)

RECONCILE_DELAY = 60.0  # how long a lost create waits before the same call is repeated
RECONCILE_ATTEMPTS = 5
# EvoLink says an earlier call with the same key is still being handled: ask again shortly, for
# as long as a create can believably take (EvoLink's MCP client waits 2 minutes for one); after
# that each such answer counts as a lost one, so the attempts still end.
IN_FLIGHT_RETRY = 5.0
IN_FLIGHT_PATIENCE = 300.0


class SubmitRefused(Exception):
    """EvoLink said no; nothing was made and nothing is charged."""

    def __init__(self, error: evolink.EvoLinkError) -> None:
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
        poll_interval: float,
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
        self._poll_interval = poll_interval
        self._clock = clock
        self._on_submitted = on_submitted
        self._on_charge_anomaly = on_charge_anomaly
        self._callback_base = callback_base
        self._instruments = instruments
        self.in_flight: set[int] = set()
        self._held_by_evolink_since: dict[int, float] = {}

    async def request(self, who: Requester, request: VideoRequest) -> Admission:
        """Admit the request, then start it unless it has to wait (`admit`, then `start`)."""
        return await self.start(await self.admit(who, request))

    async def admit(self, who: Requester, request: VideoRequest) -> Admission:
        """Whether the member may have this video, decided without EvoLink (so quickly enough
        to answer within Discord's 3 seconds), and, if so, the request stored with its credits.

        Every way a member asks for a video comes here, so the rules run once, in this order:
        bans and the blocklist (raising Banned or Blocked), then the limits, checked with the
        reservation in one transaction (CreditRefused); nothing is stored or charged for a
        refused request.
        """
        await self._moderation.screen(
            who.guild_id, who.user_id, request.prompt, request.negative_prompt
        )
        admission = await self._credits.admit(
            who,
            request,
            next_poll_at=self._clock() + RECONCILE_DELAY,
            callback_token=secrets.token_urlsafe(24) if self._callback_base else None,
        )
        self._instruments.credits_reserved(admission.cost)
        if admission.queue_position is not None:
            self._on_submitted()  # a slot may be free already: the tracker starts the oldest
        return admission

    async def start(self, admission: Admission) -> Admission:
        """Make the paid call for an admitted request that need not wait; it raises as `submit`
        does (SubmitRefused, SubmitUnconfirmed)."""
        if admission.queue_position is not None:
            return admission
        generation = await self.submit(admission.generation, member_waiting=True)
        return replace(admission, generation=generation)

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
                    generation.id, self._clock() + RECONCILE_DELAY, counted=False
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
            if member_waiting:  # certain that no task was made: the member may simply retry
                await self._fail(generation, exc, member_told=True)
                raise SubmitRefused(exc) from exc
            await self._store.generations.retry_unsubmitted_later(
                generation.id, self._clock() + RECONCILE_DELAY
            )
            raise SubmitUnconfirmed(generation.id, str(exc)) from exc
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
        first_look = (
            self._poll_interval
            if self._callback_base  # the callback says when; polling is only a safety net
            else min(task.estimated_time or self._poll_interval, self._poll_interval)
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
                next_poll_at=self._clock() + first_look,
            )
            if checked.charge is not None:
                await self._credits.settle(
                    tx, submitted, checked.charge, reason="reserved by EvoLink"
                )
        return submitted, checked.anomaly

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
        """Start waiting requests whose member has a free slot, oldest first (a banned member's
        are withdrawn instead). Returns what changed, for the status messages."""
        started: list[Generation] = []
        for guild_id, user_id in await self._store.generations.members_with_queued():
            if await self._moderation.is_banned(guild_id, user_id):
                started.extend(await self.withdraw_queued(guild_id, user_id))
                continue
            limits = await self._credits.limits(guild_id)
            promoted = await self._store.generations.promote_queued(
                guild_id, user_id, limits.max_running, self._clock() + RECONCILE_DELAY
            )
            for generation in promoted:
                try:
                    started.append(await self.submit(generation, member_waiting=False))
                except (SubmitRefused, SubmitUnconfirmed):
                    pass  # stored: the delivery loop tells the member, or the reconcile retries
        return started

    async def withdraw_queued(self, guild_id: int, user_id: int) -> list[Generation]:
        """Cancel every request the member still has waiting in our queue, each refunded in
        full (e.g. they were banned: nothing more is started or paid for them)."""
        async with self._store.transaction() as tx:
            withdrawn = await tx.generations.cancel_all_queued(guild_id, user_id)
            for generation in withdrawn:
                await self._credits.refund(tx, generation, reason="withdrawn: member banned")
        return withdrawn

    async def cancel_queued(self, generation_id: int, user_id: int) -> Generation | None:
        """The requester withdraws a request still waiting in our queue: full refund."""
        async with self._store.transaction() as tx:
            cancelled = await tx.generations.cancel_queued(generation_id, user_id)
            if cancelled is not None:
                await self._credits.refund(tx, cancelled, reason="cancelled while waiting")
        return cancelled
