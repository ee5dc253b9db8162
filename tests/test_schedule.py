"""When the tracker looks at a running task (bot/schedule.py), on a virtual clock: each of the
simulator's progress profiles, estimates that are right, short or long, looks per task and lag
(from the moment the task ended to the look that sees it)."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

import pytest

from bot.schedule import DENSE_STEP, FixedSchedule, PredictedSchedule, Schedule, Started
from bot.simulator.profiles import PROGRESS_PROFILES, processing_progress
from tests.conftest import FakeClock

POLL = 10.0
PENDING = 2.0  # the simulator's default time in `pending`
KIND = ("720p", 5)
WITH_PROGRESS = ("linear", "s-curve", "stepwise", "stuck-then-done")


@dataclass(frozen=True)
class Followed:
    looks: list[float]  # clock times of every look, the last one seeing the task ended
    started_at: float
    ended_at: float

    @property
    def lag(self) -> float:
        return self.looks[-1] - self.ended_at

    @property
    def gaps(self) -> list[float]:
        times = [self.started_at, *self.looks]
        return [later - earlier for earlier, later in itertools.pairwise(times)]


def follow(
    schedule: Schedule,
    clock: FakeClock,
    *,
    profile: str,
    length: float,
    estimate: float | None,
    task_id: int = 1,
    pending: float = PENDING,
) -> Followed:
    """A task of `length` seconds reporting progress by `profile`, looked at as `schedule` says
    (what the simulator would answer at each look), from the create to the look that sees it
    ended."""
    started = clock.now
    task = Started(task_id, started, estimate, KIND)
    looks = [schedule.first_look(task)]
    while True:
        clock.now = looks[-1]
        elapsed = clock.now - started
        if elapsed >= length:
            schedule.finished(task, completed=True)
            return Followed(looks, started, started + length)
        fraction = (elapsed - pending) / (length - pending)
        progress = 0 if elapsed < pending else processing_progress(profile, fraction)
        looks.append(schedule.next_look(task, progress))
        assert len(looks) < 1000, "the schedule never saw the task end"


def predicted(clock: FakeClock) -> PredictedSchedule:
    return PredictedSchedule(POLL, clock=clock)


def nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


@pytest.mark.parametrize("profile", PROGRESS_PROFILES)
@pytest.mark.parametrize("estimate_factor", [0.5, 0.6, 1.0, 2.0])
@pytest.mark.parametrize("length", [6.0, 45.0, 95.0, 150.0])
def test_whatever_progress_and_estimate_say_looks_stay_1_s_to_one_interval_apart(
    clock: FakeClock, profile: str, estimate_factor: float, length: float
) -> None:
    seen = follow(
        predicted(clock), clock, profile=profile, length=length, estimate=length * estimate_factor
    )
    assert all(1.0 - 1e-9 <= gap <= POLL + 1e-9 for gap in seen.gaps)
    assert 0 <= seen.lag <= POLL


@pytest.mark.parametrize("profile", PROGRESS_PROFILES)
def test_a_short_video_whose_estimate_is_right_is_looked_at_once_as_it_ends(
    clock: FakeClock, profile: str
) -> None:
    seen = follow(predicted(clock), clock, profile=profile, length=6.0, estimate=6.0)
    assert (len(seen.looks), seen.lag) == (1, 0.0)


@pytest.mark.parametrize("profile", PROGRESS_PROFILES)
def test_an_estimate_40_percent_short_costs_a_few_looks_not_an_interval(
    clock: FakeClock, profile: str
) -> None:
    """6 s videos estimated at 3.6 s: the poller of a fixed interval sees them an interval
    (±10 %) after the estimate, 6.6 s late at least."""
    seen = follow(predicted(clock), clock, profile=profile, length=6.0, estimate=3.6)
    assert len(seen.looks) <= 4 and seen.lag <= 1.6
    if profile == "linear":
        assert len(seen.looks) <= 3 and seen.lag <= 0.1
    fixed = follow(FixedSchedule(POLL, clock=clock), clock, profile=profile, length=6.0,
                   estimate=3.6, task_id=2)  # fmt: skip
    assert fixed.lag > 6.5


@pytest.mark.parametrize("profile", (*WITH_PROGRESS, "none-until-done"))
def test_a_long_video_is_seen_within_a_second_of_its_end_when_the_estimate_is_right(
    clock: FakeClock, profile: str
) -> None:
    seen = follow(predicted(clock), clock, profile=profile, length=95.0, estimate=95.0)
    assert seen.lag <= 1.0
    # the interval alone needs 10 looks for 95 s; a slow finish (s-curve) costs a few more
    assert len(seen.looks) <= 16


def test_past_its_end_a_silent_task_is_looked_at_after_1_2_4_8_then_10_s(
    clock: FakeClock,
) -> None:
    """No progress and an estimate that was half the truth: nothing tells when it ends."""
    seen = follow(predicted(clock), clock, profile="none-until-done", length=60.0, estimate=30.0)
    assert seen.gaps == pytest.approx([10, 10, 10, 1, 2, 4, 8, 10, 10])


def test_a_task_stuck_at_99_percent_is_looked_at_in_growing_steps_never_every_second(
    clock: FakeClock,
) -> None:
    schedule = predicted(clock)
    task = Started(1, clock.now, 5.0, KIND)
    looks = [schedule.first_look(task)]
    for _ in range(10):  # at its estimate it reads 99 %, and stays there
        clock.now = looks[-1]
        looks.append(schedule.next_look(task, 99))
    gaps = [b - a for a, b in itertools.pairwise(looks)]
    # a second (at 99 % it could end any moment), then steps that double while it stays there
    assert gaps == pytest.approx([1, 1, 2, 4, 8, 10, 10, 10, 10, 10])


def test_progress_that_jumps_back_or_is_out_of_range_does_not_break_the_bounds(
    clock: FakeClock,
) -> None:
    schedule = predicted(clock)
    task = Started(1, clock.now, 30.0, KIND)
    at = schedule.first_look(task)
    for progress in (50, 20, 0, 100, 7, 150, -5, 99, 98, 60):
        clock.now = at
        following = schedule.next_look(task, progress)
        assert 1.0 <= following - at <= POLL
        at = following


def test_alike_tasks_teach_it_that_the_estimate_is_short(clock: FakeClock) -> None:
    schedule = predicted(clock)
    first = follow(schedule, clock, profile="none-until-done", length=6.0, estimate=3.6)
    for n in range(8):
        clock.advance(100.0)
        follow(schedule, clock, profile="none-until-done", length=6.0, estimate=3.6, task_id=n)
    clock.advance(100.0)
    seen = follow(schedule, clock, profile="none-until-done", length=6.0, estimate=3.6, task_id=9)
    assert len(first.looks) == 3
    # looked at where alike tasks ended: at the start of that span, and a step later at most
    assert len(seen.looks) <= 2 and seen.lag <= DENSE_STEP


def test_without_any_estimate_it_looks_every_interval_until_alike_tasks_tell(
    clock: FakeClock,
) -> None:
    schedule = predicted(clock)
    seen = follow(schedule, clock, profile="none-until-done", length=25.0, estimate=None)
    assert seen.gaps == pytest.approx([10, 10, 10])
    for n in range(3):
        follow(schedule, clock, profile="none-until-done", length=6.0, estimate=None, task_id=n)
    assert schedule.first_look(Started(7, clock.now, None, KIND)) - clock.now < 10


def test_it_forgets_each_task_once_it_has_ended(clock: FakeClock) -> None:
    schedule = predicted(clock)
    for n in range(50):
        follow(schedule, clock, profile="linear", length=30.0, estimate=30.0, task_id=n)
    task = Started(99, clock.now, 30.0, KIND)
    schedule.first_look(task)
    schedule.finished(task, completed=False)
    assert schedule.tracked == 0


def test_over_a_mix_it_sees_videos_end_far_sooner_than_a_fixed_interval_for_few_more_looks(
    clock: FakeClock,
) -> None:
    """Looks per task and lag over 400 videos of 30 to 150 s, each profile with progress, the
    estimate right; the same videos for the fixed interval (the first look at the estimate if
    sooner, then every 10 s ±10 %)."""
    rng = random.Random(4)
    videos = [(rng.uniform(30, 150), rng.choice(WITH_PROGRESS)) for _ in range(400)]
    results: dict[str, tuple[float, float, float]] = {}
    for name, schedule in (
        ("fixed", FixedSchedule(POLL, clock=clock, rng=random.Random(1))),
        ("predicted", predicted(clock)),
    ):
        lags, looks = [], []
        for n, (length, profile) in enumerate(videos):
            clock.advance(1000.0)
            seen = follow(
                schedule, clock, profile=profile, length=length, estimate=length, task_id=n
            )
            lags.append(seen.lag)
            looks.append(len(seen.looks))
        results[name] = (nearest_rank(lags, 50), nearest_rank(lags, 95), sum(looks) / len(looks))
    fixed, ours = results["fixed"], results["predicted"]
    assert fixed[1] > 8.0  # lag p95: most of an interval
    assert ours[1] <= 1.0  # lag p95
    # looks per task: a few more, most of them where alike tasks ended (every DENSE_STEP there)
    assert ours[2] <= fixed[2] + 4.0


def test_where_alike_tasks_ended_it_looks_every_step_so_none_waits_long(clock: FakeClock) -> None:
    """Run times stray around the estimate (here 0.95 to 1.05 of it): in that span a task may
    end any moment, so it is looked at every DENSE_STEP, early or late against the median."""
    schedule = predicted(clock)
    for n, factor in enumerate((0.95, 0.97, 0.99, 1.0, 1.01, 1.03, 1.05) * 3):
        follow(schedule, clock, profile="stuck-then-done", length=60.0 * factor, estimate=60.0,
               task_id=n)  # fmt: skip
        clock.advance(100.0)
    lags = []
    for n in range(21):  # within the 10th to the 90th percentile of what alike tasks took
        length = 60.0 * (0.96 + n * 0.004)
        seen = follow(schedule, clock, profile="stuck-then-done", length=length, estimate=60.0,
                      task_id=100 + n)  # fmt: skip
        lags.append(seen.lag)
        assert len(seen.looks) <= 16  # the interval alone needs 7; a few steps more, not 60
        clock.advance(100.0)
    assert max(lags) <= DENSE_STEP + 1e-6
