"""Credit rules over a real store (SQLite and PostgreSQL) and a fake clock: no Discord, no
network."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from bot.credits import CreditRefused, Credits, Limits, Prices, Requester, period_bounds
from bot.request import VideoRequest
from bot.simulator import DEFAULT_PRICES
from bot.store import NewGeneration, Store, open_store
from bot.ui.client import error_text
from tests.backends import Backend
from tests.conftest import FakeClock

GUILD = 10
LIMITS = Limits(default_credits=50.0, period="daily", max_running=100, max_queued=0, cooldown=0.0,
                guild_cap=None, global_cap=None)  # fmt: skip
PRICES = Prices({"720p": 1.0, "1080p": 2.0})
FIVE_SECONDS = VideoRequest(prompt="a cat", duration=5)  # costs 5 at 720p


def member(user_id: int = 1, roles: tuple[int, ...] = (), guild_id: int = GUILD) -> Requester:
    return Requester(guild_id=guild_id, channel_id=99, user_id=user_id, role_ids=roles)


@pytest.fixture
async def store(backend: Backend, clock: FakeClock) -> AsyncIterator[Store]:
    s = await open_store(backend.target, clock=clock)
    yield s
    await s.close()


def said(refusal: Exception) -> str:
    """A refusal as the member reads it (in English)."""
    return error_text(refusal, None)


@contextmanager
def refused_with(words: str) -> Iterator[None]:
    with pytest.raises(CreditRefused) as caught:
        yield
    assert words in said(caught.value)


def make(store: Store, clock: FakeClock, **limits: object) -> Credits:
    return Credits(store, replace(LIMITS, **limits), PRICES, clock)  # type: ignore[arg-type]


async def ledger_kinds(store: Store, generation_id: int) -> list[tuple[str, float]]:
    rows = await store.fetchall(
        "SELECT kind, amount FROM credit_ledger WHERE generation_id = ? ORDER BY id", generation_id
    )
    return [(r[0], r[1]) for r in rows]


def test_the_estimate_never_undercuts_the_api_price_table() -> None:
    for quality in ("720p", "1080p"):
        for duration in range(2, 16):
            api = DEFAULT_PRICES[quality] * duration
            assert PRICES.estimate(quality, duration) >= api
    assert PRICES.estimate(None, None) == DEFAULT_PRICES["720p"] * 5  # API defaults: 720p, 5 s


def test_period_bounds_in_utc() -> None:
    wed = dt.datetime(2026, 11, 25, 15, 30, tzinfo=dt.UTC).timestamp()
    day = period_bounds("daily", wed)
    assert day == (dt.datetime(2026, 11, 25, tzinfo=dt.UTC).timestamp(),
                   dt.datetime(2026, 11, 26, tzinfo=dt.UTC).timestamp())  # fmt: skip
    week = period_bounds("weekly", wed)
    assert week[0] == dt.datetime(2026, 11, 23, tzinfo=dt.UTC).timestamp()  # Monday
    month = period_bounds("monthly", wed)
    assert month == (dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp(),
                     dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp())  # fmt: skip
    assert period_bounds("once", wed) == (0.0, None)


async def test_reserve_then_refuse_when_the_allowance_is_spent(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, default_credits=12.0)
    await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    with pytest.raises(CreditRefused) as refused:
        await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    text = said(refused.value)
    assert "cost 5 credits" in text and "you have 2 left" in text and "renew <t:" in text
    assert "Nothing was charged" in text
    rows = await store.fetchall("SELECT kind, amount FROM credit_ledger ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [("reserve", -5.0), ("reserve", -5.0)]
    assert (await store.fetchone("SELECT COUNT(*) FROM generations"))[0] == 2  # type: ignore[index]


async def test_settle_to_the_api_figure_and_refund_on_failure(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock)
    admission = await credits.admit(member(), VideoRequest(prompt="x", quality="1080p"),
                                    next_poll_at=0)  # fmt: skip
    g = admission.generation
    assert admission.cost == 10.0
    async with store.transaction() as tx:
        assert await credits.settle(tx, g, 8.0, reason="reserved by EvoLink") == 2.0
        assert await credits.settle(tx, g, 8.0, reason="again") == 0.0  # idempotent
        assert await credits.settle(tx, g, 7.5, reason="final charge") == 0.5
    assert await ledger_kinds(store, g.id) == [("reserve", -10.0), ("settle", 2.0), ("settle", 0.5)]
    async with store.transaction() as tx:
        assert await credits.refund(tx, g, "video failed") == 7.5
        assert await credits.refund(tx, g, "video failed") == 0.0
    assert sum(a for _, a in await ledger_kinds(store, g.id)) == 0
    summary = await credits.member(GUILD, 1, ())
    assert summary.remaining == 50.0


async def test_settle_refuses_a_charge_that_would_give_credits_away(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock)
    g = (await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)).generation
    for charge in (-5.0, float("nan"), float("-inf")):
        with pytest.raises(ValueError):
            async with store.transaction() as tx:
                await credits.settle(tx, g, charge, reason="final charge")
    assert await ledger_kinds(store, g.id) == [("reserve", -5.0)]


async def test_allowance_renews_at_the_period_boundary(store: Store, clock: FakeClock) -> None:
    clock.now = dt.datetime(2026, 11, 25, 23, 59, tzinfo=dt.UTC).timestamp()
    credits = make(store, clock, default_credits=5.0)
    await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    with pytest.raises(CreditRefused):
        await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    clock.advance(60)  # midnight UTC
    await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    summary = await credits.member(GUILD, 1, ())
    assert summary.remaining == 0.0
    assert summary.renews_at == dt.datetime(2026, 11, 27, tzinfo=dt.UTC).timestamp()


async def test_a_refund_goes_back_to_the_period_it_was_spent_in(
    store: Store, clock: FakeClock
) -> None:
    clock.now = dt.datetime(2026, 11, 25, 23, 59, tzinfo=dt.UTC).timestamp()
    credits = make(store, clock, default_credits=5.0)
    g = (await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)).generation
    clock.advance(120)  # the video fails after midnight
    async with store.transaction() as tx:
        await credits.refund(tx, g, "video failed")
    assert (await credits.member(GUILD, 1, ())).remaining == 5.0  # not 10


async def test_role_and_member_overrides(store: Store, clock: FakeClock) -> None:
    credits = make(store, clock, default_credits=10.0)
    async with store.transaction() as tx:
        await credits.set_allowance(tx, GUILD, "role", 501, 30.0, moderator_id=9)
        await credits.set_allowance(tx, GUILD, "role", 502, 80.0, moderator_id=9)
    assert await credits.allowance(GUILD, 1, (), LIMITS) == 50.0  # LIMITS' default
    assert await credits.allowance(GUILD, 1, (501, 502), LIMITS) == 80.0  # most generous role
    async with store.transaction() as tx:
        await credits.set_allowance(tx, GUILD, "member", 1, 5.0, moderator_id=9)
    assert await credits.allowance(GUILD, 1, (501, 502), LIMITS) == 5.0  # member override wins
    async with store.transaction() as tx:
        await credits.set_allowance(tx, GUILD, "role", 503, None, moderator_id=9)
    assert await credits.allowance(GUILD, 2, (501, 503), LIMITS) is None  # an unlimited role
    async with store.transaction() as tx:
        assert await credits.clear_allowance(tx, GUILD, "member", 1)
    assert await credits.allowance(GUILD, 1, (501,), LIMITS) == 30.0


async def test_grants_and_takes_are_ledger_rows(store: Store, clock: FakeClock) -> None:
    credits = make(store, clock, default_credits=10.0)
    async with store.transaction() as tx:
        await credits.adjust(tx, GUILD, 1, 15.0, moderator_id=9, reason="contest winner")
        await credits.adjust(tx, GUILD, 1, -3.0, moderator_id=9, reason="spam")
    summary = await credits.member(GUILD, 1, ())
    assert summary.remaining == 22.0
    assert [(e.kind, e.amount, e.moderator_id, e.reason) for e in summary.recent] == [
        ("take", -3.0, 9, "spam"), ("grant", 15.0, 9, "contest winner"),
    ]  # fmt: skip


async def test_the_ledger_cannot_be_edited(store: Store, clock: FakeClock) -> None:
    credits = make(store, clock)
    async with store.transaction() as tx:
        await credits.adjust(tx, GUILD, 1, 5.0, moderator_id=9, reason="x")
    with pytest.raises(Exception, match="append-only"):
        await store.execute("UPDATE credit_ledger SET amount = 1000")
    with pytest.raises(Exception, match="append-only"):
        await store.execute("DELETE FROM credit_ledger")


async def test_fifty_concurrent_clicks_never_overspend_a_member(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, default_credits=23.0)
    results = await asyncio.gather(
        *(credits.admit(member(), FIVE_SECONDS, next_poll_at=0) for _ in range(50)),
        return_exceptions=True,
    )
    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, CreditRefused)]
    assert len(admitted) == 4 and len(refused) == 46  # 4 × 5 = 20 ≤ 23 < 25
    assert (await credits.member(GUILD, 1, ())).remaining == 3.0


async def test_a_crowd_never_overspends_the_server_or_the_bot(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, default_credits=None, guild_cap=42.0, global_cap=60.0)
    crowd = [credits.admit(member(user_id=n), FIVE_SECONDS, next_poll_at=0) for n in range(50)]
    results = await asyncio.gather(*crowd, return_exceptions=True)
    assert len([r for r in results if not isinstance(r, BaseException)]) == 8  # 40 ≤ 42
    refusal = next(r for r in results if isinstance(r, CreditRefused))
    assert "This server has used all the video credits" in said(refusal)
    other = [credits.admit(member(user_id=n, guild_id=11), FIVE_SECONDS, next_poll_at=0)
             for n in range(50)]  # fmt: skip
    results = await asyncio.gather(*other, return_exceptions=True)
    assert len([r for r in results if not isinstance(r, BaseException)]) == 4  # 60 - 40 = 20
    assert "The bot has used all" in said(next(r for r in results if isinstance(r, CreditRefused)))


async def test_running_limit_queues_then_refuses(store: Store, clock: FakeClock) -> None:
    credits = make(store, clock, max_running=1, max_queued=2)
    first = await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    second = await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    third = await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    assert first.queue_position is None and first.generation.status == "requested"
    assert (second.queue_position, third.queue_position) == (1, 2)
    assert second.generation.status == "queued"
    with refused_with("1 video in progress and 2 waiting"):
        await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    assert await store.generations.queue_position(third.generation) == 2
    # the queue holds its reservations
    assert (await credits.member(GUILD, 1, ())).held == 15.0


async def test_cooldown_between_requests(store: Store, clock: FakeClock) -> None:
    credits = make(store, clock, cooldown=30.0)
    await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    clock.advance(10)
    with refused_with("wait 21 more seconds"):
        await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    clock.advance(21)
    await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)


async def test_server_limits_override_the_env_defaults_and_survive_reopening(
    backend: Backend, clock: FakeClock
) -> None:
    store = await open_store(backend.target, clock=clock)
    credits = make(store, clock)
    async with store.transaction() as tx:
        limits = await credits.set_limits(tx, GUILD, 9, default_credits=-1.0, max_running=3,
                                          period="weekly", guild_cap=500.0)  # fmt: skip
    assert limits.default_credits is None and limits.max_running == 3
    await store.close()
    store = await open_store(backend.target, clock=clock)
    again = await make(store, clock).limits(GUILD)
    assert (again.period, again.guild_cap, again.max_queued) == ("weekly", 500.0, 0)
    assert await make(store, clock).limits(GUILD + 1) == LIMITS
    await store.close()


async def test_the_cooldown_counts_only_requests_that_cost_something(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, cooldown=30.0, max_running=1, max_queued=1)
    refused = (await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)).generation
    async with store.transaction() as tx:  # EvoLink said no: failed, refunded
        failed = await tx.generations.fail_unsubmitted(refused.id, "x", "no", member_told=True)
        assert failed is not None
        await credits.refund(tx, failed, "EvoLink refused the request")
    made = (await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)).generation
    await store.generations.mark_submitted(
        made.id, task_id="t", status="pending", progress=0, credits_reserved=5.0,
        estimated_seconds=None, next_poll_at=0,
    )  # fmt: skip
    await store.generations.record_finished(
        made.id, status="completed", result_url="https://v/x.mp4"
    )
    clock.advance(10)
    with refused_with("wait 21 more seconds"):  # a video made counts
        await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    clock.advance(20)
    started = await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    assert started.generation.status == "requested"
    clock.advance(30)
    cancelled = await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    assert cancelled.queue_position == 1
    async with store.transaction() as tx:
        assert await tx.generations.cancel_queued(cancelled.generation.id, 1) is not None
    clock.advance(1)
    queued = await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    assert queued.queue_position == 1  # the cancelled one did not count
    clock.advance(1)
    with refused_with("wait 30 more seconds"):  # a waiting one counts
        await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)


async def test_a_new_request_waits_behind_one_already_waiting_even_with_a_free_slot(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, max_running=1, max_queued=3)
    first = (await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)).generation
    waiting = await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    assert waiting.queue_position == 1
    await store.generations.fail_unsubmitted(
        first.id, "x", "no", member_told=True
    )  # the slot is free
    behind = await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    assert (behind.queue_position, behind.generation.status) == (2, "queued")  # oldest first


async def test_clearing_an_allowance_that_was_never_set_changes_nothing(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock)
    async with store.transaction() as tx:
        assert not await credits.clear_allowance(tx, GUILD, "member", 1)
        await credits.set_allowance(tx, GUILD, "member", 1, 0.0, moderator_id=9)
        assert await credits.clear_allowance(tx, GUILD, "member", 1)
        assert not await credits.clear_allowance(tx, GUILD, "member", 1)


@pytest.mark.parametrize(("allowance", "admitted"), [(5.0, True), (4.5, False), (4.99, False)])
async def test_an_allowance_is_spent_to_the_last_credit_and_not_one_beyond(
    store: Store, clock: FakeClock, allowance: float, admitted: bool
) -> None:
    credits = make(store, clock, default_credits=allowance)
    if admitted:
        await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
        assert (await credits.member(GUILD, 1, ())).remaining == 0.0
    else:
        with refused_with("cost 5 credits"):
            await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)


@pytest.mark.parametrize("cap", ["guild_cap", "global_cap"])
@pytest.mark.parametrize(("limit", "videos"), [(10.0, 2), (9.5, 1), (10.5, 2), (14.99, 2)])
async def test_a_cap_is_spent_to_the_last_credit_and_not_one_beyond(
    store: Store, clock: FakeClock, cap: str, limit: float, videos: int
) -> None:
    credits = make(store, clock, default_credits=None, **{cap: limit})
    async with store.transaction() as tx:  # a member's grants and takes are not the cap's
        await credits.adjust(tx, GUILD, 1, 3.0, moderator_id=9, reason="prize")
        await credits.adjust(tx, GUILD, 2, -10.0, moderator_id=9, reason="spam")
    made = 0
    for n in range(3):
        try:
            await credits.admit(member(user_id=n), FIVE_SECONDS, next_poll_at=0)
        except CreditRefused as refused:
            assert "has used all the video credits" in said(refused)
        else:
            made += 1
    assert made == videos


def test_periods_start_at_midnight_utc_and_renew_after_a_day_a_week_a_month() -> None:
    sunday = dt.datetime(2026, 11, 29, 23, 59, 58, 750_000, tzinfo=dt.UTC).timestamp()
    midnight = dt.datetime(2026, 11, 29, tzinfo=dt.UTC).timestamp()
    assert period_bounds("daily", sunday) == (midnight, midnight + 86400)
    monday = dt.datetime(2026, 11, 23, tzinfo=dt.UTC).timestamp()
    assert period_bounds("weekly", sunday) == (monday, monday + 7 * 86400)
    december = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()
    assert period_bounds("monthly", sunday)[1] == december
    with pytest.raises(ValueError, match="fortnightly"):
        period_bounds("fortnightly", sunday)


def test_estimates_keep_fractions_of_a_credit() -> None:
    prices = Prices({"720p": 0.25, "1080p": 0.3333})
    assert prices.estimate("720p", 3) == 0.75
    assert prices.estimate("1080p", 7) == 2.3331


async def test_a_cooldown_of_one_second_still_applies(store: Store, clock: FakeClock) -> None:
    credits = make(store, clock, cooldown=1.0)
    await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    clock.advance(0.5)
    with refused_with("wait 1 more second "):
        await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)
    clock.advance(0.5)
    await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)


async def test_a_server_override_of_one_limit_keeps_the_defaults_of_the_others(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, default_credits=10.0, guild_cap=100.0, cooldown=5.0)
    async with store.transaction() as tx:
        limits = await credits.set_limits(tx, GUILD, 9, max_running=3)
    assert (limits.max_running, limits.default_credits, limits.guild_cap) == (3, 10.0, 100.0)
    assert (limits.max_queued, limits.cooldown, limits.period) == (0, 5.0, "daily")


async def test_nothing_is_settled_or_refunded_for_a_request_that_reserved_nothing(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock)
    older = await store.generations.add(
        NewGeneration(
            guild_id=GUILD, channel_id=99, user_id=1, locale=None, prompt="a cat",
            negative_prompt=None, quality=None, aspect_ratio=None, duration=None, seed=None,
            prompt_extend=None, audio_url=None, idempotency_key="from-before-credits",
            next_poll_at=0,
        )
    )  # fmt: skip
    async with store.transaction() as tx:
        assert await credits.settle(tx, older, 5.0, reason="final charge") == 0.0
        assert await credits.refund(tx, older, "moderator refund", moderator_id=9) == 0.0
    assert await ledger_kinds(store, older.id) == []


# --- admissions side by side (PostgreSQL runs transactions concurrently) ---------------------


async def connections_ready(store: Store, count: int) -> None:
    """Have `count` transactions open at once, so that the next ones start without waiting for
    a new connection to a server (and so run truly side by side)."""

    async def hold() -> None:
        async with store.transaction():
            await asyncio.sleep(0.01)

    await asyncio.gather(*(hold() for _ in range(count)))


async def admit_at_once(store: Store, credits: Credits, who: list[Requester]) -> tuple[int, int]:
    """Every request at the same moment; (admitted, refused for credits)."""
    await connections_ready(store, len(who))
    results = await asyncio.gather(
        *(credits.admit(w, FIVE_SECONDS, next_poll_at=0) for w in who), return_exceptions=True
    )
    unexpected = [r for r in results if isinstance(r, BaseException)]
    refused = [r for r in unexpected if isinstance(r, CreditRefused)]
    assert unexpected == refused, unexpected
    return len(results) - len(refused), len(refused)


async def test_requests_of_one_member_at_once_never_spend_more_than_the_allowance(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, default_credits=12.0)  # two videos of 5 fit, not three
    assert await admit_at_once(store, credits, [member()] * 6) == (2, 4)
    assert await store.ledger.member_total_since(GUILD, 1, 0) == -10.0


async def test_requests_of_many_members_at_once_never_pass_the_server_cap(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, guild_cap=12.0)
    assert await admit_at_once(store, credits, [member(user) for user in range(1, 7)]) == (2, 4)
    assert await store.ledger.server_spending_since(GUILD, 0) == -10.0


async def test_requests_of_many_servers_at_once_never_pass_the_bot_cap(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, global_cap=17.0)
    who = [member(guild_id=guild) for guild in range(1, 7)]
    assert await admit_at_once(store, credits, who) == (3, 3)
    assert await store.ledger.bot_spending_since(0) == -15.0


async def test_requests_of_different_members_at_once_are_all_admitted(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock, default_credits=5.0)  # nothing refused that fits
    assert await admit_at_once(store, credits, [member(user) for user in range(1, 9)]) == (8, 0)


async def test_one_generation_settled_twice_at_once_is_charged_once(
    store: Store, clock: FakeClock
) -> None:
    credits = make(store, clock)
    generation = (await credits.admit(member(), FIVE_SECONDS, next_poll_at=0)).generation

    async def settle() -> float:
        async with store.transaction() as tx:
            return await credits.settle(tx, generation, 3.0, reason="final charge")

    await connections_ready(store, 3)
    assert sorted(await asyncio.gather(settle(), settle(), settle())) == [0.0, 0.0, 2.0]
    assert await ledger_kinds(store, generation.id) == [("reserve", -5.0), ("settle", 2.0)]
