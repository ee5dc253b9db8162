"""Credits: what a video costs, who may spend what, and a ledger that explains every figure.

The unit is the EvoLink credit, what the owner pays in. A request reserves its estimated cost in
the same transaction that checks every limit and stores the request, so no burst of clicks can
overspend. The reservation is later settled to what EvoLink reported, or refunded in full when no
video came of it. Nothing is edited in place: balances are sums over the append-only ledger.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.refusal import Hint, Refusal
from bot.request import DURATION, QUALITY, VideoRequest, stored_columns
from bot.settings import Settings
from bot.store import (
    Clock,
    Generation,
    LedgerEntry,
    NewGeneration,
    Store,
    Transaction,
    VideoCharge,
)

SPENDING = ("reserve", "settle", "refund")
ACTIVE_STATUSES = ("requested", "submitted", "running")
COSTING_STATUSES = ("queued", *ACTIVE_STATUSES, "completed")  # the rest were refunded in full
DAY = 86400.0
RECENT = 5  # videos and moderators' changes shown in /credits


@dataclass(frozen=True)
class Prices:
    per_second: dict[str, float]

    @classmethod
    def from_settings(cls, settings: Settings) -> Prices:
        return cls({"720p": settings.price_720p, "1080p": settings.price_1080p})

    def estimate(self, quality: str | None, duration: int | None) -> float:
        """Never below EvoLink's charge for the same request: billing follows the duration."""
        return round(
            self.per_second[quality or QUALITY.default] * (duration or DURATION.default), 4
        )


@dataclass(frozen=True)
class Limits:
    default_credits: float | None  # None: unlimited
    period: str
    max_running: int
    max_queued: int
    cooldown: float
    guild_cap: float | None  # None: no cap
    global_cap: float | None

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            default_credits=s.default_user_credits,
            period=s.credit_period,
            max_running=s.max_running_per_user,
            max_queued=s.max_queued_per_user,
            cooldown=s.cooldown_seconds,
            guild_cap=s.guild_credit_cap,
            global_cap=s.global_credit_cap,
        )


def period_bounds(period: str, now: float) -> tuple[float, float | None]:
    """Start of the current period and the moment it renews (UTC); `once` never renews."""
    if period == "once":
        return 0.0, None
    day = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        start = day
        end = start + dt.timedelta(days=1)
    elif period == "weekly":
        start = day - dt.timedelta(days=day.weekday())
        end = start + dt.timedelta(days=7)
    elif period == "monthly":
        start = day.replace(day=1)
        days = calendar.monthrange(start.year, start.month)[1]
        end = start + dt.timedelta(days=days)
    else:
        raise ValueError(f"unknown credit period {period!r}")
    return start.timestamp(), end.timestamp()


class CreditRefused(Refusal):
    """A request the limits do not allow: which limit, and the figures the member is told."""


@dataclass(frozen=True)
class Admission:
    generation: Generation
    cost: float
    queue_position: int | None  # 1 = next to start; None when it was started at once
    evolink_busy: bool = False  # it waits for EvoLink to take it, not for a free slot


@dataclass(frozen=True)
class MemberCredits:
    allowance: float | None  # None: unlimited
    remaining: float | None
    held: float  # reserved by requests still running or waiting
    renews_at: float | None
    period: str
    recent: list[LedgerEntry]
    granted: float = 0.0  # this period, by moderators: grants less takes
    videos: list[VideoCharge] = field(default_factory=list)  # latest first
    adjustments: list[LedgerEntry] = field(default_factory=list)  # moderators', latest first


@dataclass(frozen=True)
class Requester:
    guild_id: int
    channel_id: int
    user_id: int
    role_ids: tuple[int, ...] = ()
    locale: str | None = None
    upload_limit: int | None = None
    user_name: str | None = None  # as the member is called now, kept for the moderators


LARGEST_BELIEVABLE = 1e12  # credits: more than any account, allowance or price holds


def fmt(amount: float) -> str:
    """Credits as people write them: 5, 7.5, 0.25; an absurd figure in three digits (1e+308),
    never hundreds."""
    if not abs(amount) < LARGEST_BELIEVABLE:  # NaN included
        return f"{amount:.3g}"
    return f"{round(amount, 2) + 0.0:,.2f}".rstrip("0").rstrip(".")  # + 0.0 turns -0 into 0


def odd_balance(remaining: float) -> bool:
    """Whether an account balance EvoLink reports cannot be right: below zero, or beyond any
    real account (shown as reported, marked odd, rather than believed)."""
    return not 0 <= remaining < LARGEST_BELIEVABLE


class Credits:
    def __init__(self, store: Store, defaults: Limits, prices: Prices, clock: Clock) -> None:
        self._store = store
        self._defaults = defaults
        self.prices = prices
        self._clock = clock

    # --- limits ----------------------------------------------------------------------------------

    async def limits(self, guild_id: int, tx: Transaction | None = None) -> Limits:
        own = await (tx or self._store).ledger.limit_overrides(guild_id)
        if own is None:
            return self._defaults
        d = self._defaults
        return replace(
            d,
            default_credits=_override(own.default_credits, d.default_credits),
            period=own.period or d.period,
            max_running=own.max_running if own.max_running is not None else d.max_running,
            max_queued=own.max_queued if own.max_queued is not None else d.max_queued,
            cooldown=own.cooldown if own.cooldown is not None else d.cooldown,
            guild_cap=_override(own.guild_cap, d.guild_cap),
        )

    async def set_limits(
        self, tx: Transaction, guild_id: int, moderator_id: int, **changes: Any
    ) -> Limits:
        """Store per-server overrides; a value of None clears that override (back to .env).
        Raises ValueError for a name that is not one of Limits' server-wide fields."""
        await tx.ledger.set_limit_overrides(guild_id, moderator_id, changes)
        return await self.limits(guild_id, tx)

    async def reset_limits(self, tx: Transaction, guild_id: int) -> bool:
        return await tx.ledger.clear_limit_overrides(guild_id)

    async def set_allowance(
        self,
        tx: Transaction,
        guild_id: int,
        kind: str,
        target_id: int,
        credits: float | None,
        moderator_id: int,
    ) -> None:
        """A member's or a role's allowance per period (None: unlimited)."""
        await tx.ledger.set_allowance(guild_id, kind, target_id, credits, moderator_id)

    async def clear_allowance(
        self, tx: Transaction, guild_id: int, kind: str, target_id: int
    ) -> bool:
        return await tx.ledger.clear_allowance(guild_id, kind, target_id)

    async def allowance(
        self,
        guild_id: int,
        user_id: int,
        role_ids: Sequence[int],
        limits: Limits,
        tx: Transaction | None = None,
    ) -> float | None:
        """A member override wins; else the most generous role; else the server default."""
        rows = await (tx or self._store).ledger.allowances(guild_id, user_id, role_ids)
        member = [credits for kind, credits in rows if kind == "member"]
        if member:
            return member[0]
        roles = [credits for kind, credits in rows if kind == "role"]
        if roles:
            return None if None in roles else max(c for c in roles if c is not None)
        return limits.default_credits

    # --- admission -----------------------------------------------------------------------------

    async def admit(
        self,
        who: Requester,
        request: VideoRequest,
        *,
        next_poll_at: float,
        callback_token: str | None = None,
        hold: bool = False,
    ) -> Admission:
        """Check every limit and store the request with its reservation, all in one transaction.
        `hold`: it waits even with a free slot (EvoLink is busy, others wait before it)."""
        cost = self.prices.estimate(request.quality, request.duration)
        now = self._clock()
        async with self._store.transaction() as tx:
            limits = await self.limits(who.guild_id, tx)
            await tx.ledger.hold_spending(
                who.guild_id, who.user_id,
                server=limits.guild_cap is not None, bot=limits.global_cap is not None,
            )  # fmt: skip
            start, renews = period_bounds(limits.period, now)
            await self._check_cooldown(tx, who, limits, now)
            running, queued = await self._counts(tx, who)
            must_wait = running >= limits.max_running or queued > 0  # oldest request first
            if must_wait and queued >= limits.max_queued:
                raise _busy(limits)
            allowance = await self.allowance(who.guild_id, who.user_id, who.role_ids, limits, tx)
            if allowance is not None:
                left = allowance + await tx.ledger.member_total_since(
                    who.guild_id, who.user_id, start
                )
                if left + 1e-9 < cost:
                    hint = self.cheaper(request, max(left, 0.0))
                    raise _allowance_spent(cost, max(left, 0.0), renews, hint)
            if limits.guild_cap is not None:
                spent = -await tx.ledger.server_spending_since(who.guild_id, start)
                if spent + cost > limits.guild_cap + 1e-9:
                    raise _cap_reached("server", renews)
            if limits.global_cap is not None:
                global_start, global_renews = period_bounds(self._defaults.period, now)
                spent = -await tx.ledger.bot_spending_since(global_start)
                if spent + cost > limits.global_cap + 1e-9:
                    raise _cap_reached("bot", global_renews)

            status = "queued" if must_wait or hold else "requested"
            generation = await tx.generations.add(
                _new_generation(who, request, status, next_poll_at, callback_token)
            )
            await self._append(tx, generation, "reserve", -cost, now, reason="estimate")
        position = queued + 1 if status == "queued" else None
        return Admission(generation, cost, position, evolink_busy=hold and not must_wait)

    def cheaper(self, request: VideoRequest, left: float) -> Hint | None:
        """What the member could have instead with what is left, nearest to what they asked
        for: the same video at a cheaper quality, else a shorter one, else shorter and
        cheaper; None when nothing would fit (nothing cheaper is suggested in vain)."""
        quality = request.quality or QUALITY.default
        duration = request.duration or DURATION.default
        cheapest = min(self.prices.per_second, key=lambda q: self.prices.per_second[q])
        same_cheaper = self.prices.estimate(cheapest, duration)
        cheaper_quality = same_cheaper < self.prices.estimate(quality, duration)
        if cheaper_quality and same_cheaper <= left + 1e-9:
            values = {"quality": cheapest, "cost": fmt(same_cheaper), "count": same_cheaper}
            return Hint("refusal.hint.quality", values)
        options = [(quality, "refusal.hint.shorter")]
        if cheaper_quality:
            options.append((cheapest, "refusal.hint.quality_shorter"))
        for candidate, key in options:
            seconds = self._longest(candidate, duration - 1, left)
            if seconds is not None:
                cost = self.prices.estimate(candidate, seconds)
                values = {"quality": candidate, "seconds": seconds, "cost": fmt(cost)}
                return Hint(key, {**values, "count": cost})
        return None

    def _longest(self, quality: str, at_most: int, left: float) -> int | None:
        """The longest duration up to `at_most` seconds that `left` credits pay for."""
        per_second = self.prices.per_second[quality]
        seconds = at_most if per_second <= 0 else min(at_most, int((left + 1e-9) // per_second))
        return seconds if seconds >= DURATION.minimum else None

    async def _check_cooldown(
        self, tx: Transaction, who: Requester, limits: Limits, now: float
    ) -> None:
        """The pause runs from the member's last request that costs something: one waiting, in
        progress or made. A refused, cancelled or failed one was refunded and does not count."""
        if limits.cooldown <= 0:
            return
        last = await tx.generations.last_requested_at(who.guild_id, who.user_id, COSTING_STATUSES)
        if last is not None and now - last < limits.cooldown:
            wait = int(limits.cooldown - (now - last)) + 1
            raise CreditRefused("refusal.cooldown", count=wait)

    async def _counts(self, tx: Transaction, who: Requester) -> tuple[int, int]:
        counts = await tx.generations.unfinished_counts(who.guild_id, who.user_id)
        return sum(counts.get(s, 0) for s in ACTIVE_STATUSES), counts.get("queued", 0)

    # --- settlement ----------------------------------------------------------------------------

    async def settle(
        self,
        tx: Transaction,
        generation: Generation,
        charge: float,
        *,
        reason: str,
        moderator_id: int | None = None,
    ) -> float:
        """Make the generation's net charge equal `charge`; returns the change (+ = given back).

        Idempotent: settling twice to the same figure appends nothing the second time.
        EvoLink's figures are checked before they get here (bot/charges.py); this is the last
        guard: a negative or non-finite charge would give credits away.
        """
        if not math.isfinite(charge) or charge < 0:
            raise ValueError(f"refusing to settle generation {generation.id} to {charge!r}")
        await tx.ledger.hold_generation(generation.id)
        net = await tx.ledger.generation_net(generation.id)
        if net is None:
            return 0.0  # nothing was reserved for it
        cost, charged_at = net
        delta = round(-cost - charge, 6)
        if abs(delta) < 1e-9:
            return 0.0
        kind = "refund" if charge == 0 else "settle"
        await self._append(
            tx, generation, kind, delta, charged_at, reason=reason, moderator_id=moderator_id
        )
        return delta

    async def refund(
        self,
        tx: Transaction,
        generation: Generation,
        reason: str,
        moderator_id: int | None = None,
    ) -> float:
        return await self.settle(tx, generation, 0.0, reason=reason, moderator_id=moderator_id)

    async def _append(
        self,
        tx: Transaction,
        generation: Generation,
        kind: str,
        amount: float,
        charged_at: float,
        *,
        reason: str,
        moderator_id: int | None = None,
    ) -> None:
        assert generation.guild_id is not None
        await tx.ledger.append(
            generation.guild_id, generation.user_id, kind, amount, generation_id=generation.id,
            charged_at=charged_at, moderator_id=moderator_id, reason=reason,
        )  # fmt: skip

    # --- moderators -----------------------------------------------------------------------------

    async def adjust(
        self,
        tx: Transaction,
        guild_id: int,
        user_id: int,
        amount: float,
        moderator_id: int,
        reason: str,
    ) -> None:
        """Grant (amount > 0) or take (amount < 0) credits for the current period."""
        await tx.ledger.append(
            guild_id, user_id, "grant" if amount > 0 else "take", amount,
            moderator_id=moderator_id, reason=reason,
        )  # fmt: skip

    # --- reading --------------------------------------------------------------------------------

    async def member(self, guild_id: int, user_id: int, role_ids: Sequence[int]) -> MemberCredits:
        now = self._clock()
        limits = await self.limits(guild_id)
        start, renews = period_bounds(limits.period, now)
        allowance = await self.allowance(guild_id, user_id, role_ids, limits)
        # One read, no write lock: what this period spent, what requests in flight hold, and
        # what moderators granted or took.
        ledger = self._store.ledger
        spent, holding, granted = await ledger.member_totals(guild_id, user_id, start)
        remaining = None if allowance is None else allowance + spent
        return MemberCredits(
            allowance=allowance,
            remaining=remaining,
            held=-holding + 0.0,
            renews_at=renews,
            period=limits.period,
            recent=await self.ledger(guild_id, user_id, limit=5),
            granted=granted + 0.0,
            videos=await ledger.video_charges(guild_id, user_id, RECENT),
            adjustments=await ledger.recent(guild_id, user_id, RECENT, adjustments_only=True),
        )

    async def ledger(self, guild_id: int, user_id: int, *, limit: int = 20) -> list[LedgerEntry]:
        return await self._store.ledger.recent(guild_id, user_id, limit)


def _override(value: float | None, default: float | None) -> float | None:
    if value is None:
        return default
    return None if value < 0 else value


def _new_generation(
    who: Requester,
    request: VideoRequest,
    status: str,
    next_poll_at: float,
    callback_token: str | None,
) -> NewGeneration:
    return NewGeneration(
        guild_id=who.guild_id,
        channel_id=who.channel_id,
        user_id=who.user_id,
        locale=who.locale,
        **stored_columns(request),
        idempotency_key=str(uuid.uuid4()),
        next_poll_at=next_poll_at,
        status=status,
        callback_token=callback_token,
        upload_limit=who.upload_limit,
        user_name=who.user_name,
    )


def _allowance_spent(
    cost: float, left: float, renews: float | None, hint: Hint | None
) -> CreditRefused:
    values: dict[str, object] = {"cost": fmt(cost), "left": fmt(left), "count": cost}
    key = "refusal.allowance.renews" if renews else "refusal.allowance.no_renewal"
    if renews:
        values["when"] = renews
    if hint is not None:  # only what would help: nothing when no smaller video fits
        return CreditRefused(f"{key}.hint", hint=hint, **values)
    return CreditRefused(key, **values)


def _cap_reached(who: str, renews: float | None) -> CreditRefused:
    """`who`: "server" (this server's cap) or "bot" (the owner's cap on the whole bot)."""
    if renews:
        return CreditRefused(f"refusal.cap.{who}.renews", when=renews)
    return CreditRefused(f"refusal.cap.{who}")


def _busy(limits: Limits) -> CreditRefused:
    if limits.max_queued:
        return CreditRefused(
            "refusal.busy_waiting", count=limits.max_running, queued=limits.max_queued
        )
    return CreditRefused("refusal.busy", count=limits.max_running)
