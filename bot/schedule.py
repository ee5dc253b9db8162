"""When to look at a running task next.

`PredictedSchedule` looks when the task is predicted to end, then again after short steps that
grow (1, 2, 4 s …) while nothing new is learnt; and while the task is in the span of time in which
alike tasks ended lately, it looks every 1.5 s. Two bounds hold whatever the prediction says:
two looks at one task are never more than the poll interval apart, and never less than a second.
The prediction reads what EvoLink says of the task (the `estimated_time` of its create answer,
the progress each look reports and how fast it moves) and what tasks of the same quality and
duration took lately in this process. `FixedSchedule` looks every interval: the callback safety
net, and how the bot polled before predictions.

Pure: no I/O, no Discord, no texts; the clock is injected. State per running task is kept in
memory; after a restart a task's prediction starts again from its next look. So it does when
another process made a look at the task since this one's last (several processes share the
tasks: the row counts the looks made, `Started.looks`, and a count above the one this process
expects means its memory of the task is out of date).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

MIN_GAP = 1.0  # a task is never looked at more often than this
STEP_GROWTH = 2.0  # past the predicted end, each step that learns nothing: the next this longer
HISTORY = 20  # run times kept per kind of task
HISTORY_MIN = 3  # alike tasks needed before their run times are believed
# Where alike tasks end (the 10th to the 90th percentile of their run times, as a factor of their
# estimate), a look every DENSE_STEP: measured on the bench's mix of progress profiles, the lag
# p95 went from 3.6 s to under 2 s for a few more ids in each batch query.
DENSE_STEP = 1.5
LONGEST_ESTIMATE = 86_400.0  # an estimate beyond a day is not believed
LAST_LEVEL = 99  # the highest progress a running task reports (100 comes with the result)

Clock = Callable[[], float]
Kind = tuple[str | None, int | None]  # quality, duration: alike tasks take alike times


@dataclass(frozen=True)
class Started:
    """A task EvoLink accepted: when, what it estimated, and what kind of video it makes."""

    id: int
    at: float
    estimate: float | None
    kind: Kind
    looks: int = 0  # looks made so far, by any process (the row's poll count)


@dataclass(frozen=True)
class Sighting:
    """Progress a look saw, and when."""

    at: float
    progress: int


class Schedule(Protocol):
    def first_look(self, task: Started) -> float:
        """When to look at a task EvoLink has just accepted (a clock time)."""

    def next_look(self, task: Started, progress: int) -> float:
        """When to look again at a task a look just found unfinished at `progress` %."""

    def finished(self, task: Started, *, completed: bool) -> None:
        """A look found the task ended (`completed`, or failed): learn from it, forget it."""

    def aimed(self, task: Started) -> bool:
        """The look due is aimed at the task's predicted end, or steps past it: taking it sooner
        (to fill a batch query) would likely find the task still running."""


class RunTimes:
    """How long recent tasks of each kind took, in this process: in seconds, and as a factor of
    EvoLink's estimate for them."""

    def __init__(self, keep: int = HISTORY) -> None:
        self._keep = keep
        self._seconds: dict[Kind, deque[float]] = {}
        self._ratios: dict[Kind, deque[float]] = {}
        self._precise: dict[Kind, deque[float]] = {}  # ratios of ends seen within a step

    def record(
        self, kind: Kind, took: float, estimate: float | None, *, precise: bool = True
    ) -> None:
        """`precise`: the end was seen within a short step, so `took` can tell the spread."""
        if not (math.isfinite(took) and took > 0):
            return
        self._seconds.setdefault(kind, deque(maxlen=self._keep)).append(took)
        if estimate is not None:
            self._ratios.setdefault(kind, deque(maxlen=self._keep)).append(took / estimate)
            if precise:
                self._precise.setdefault(kind, deque(maxlen=self._keep)).append(took / estimate)

    def expected(self, kind: Kind, estimate: float | None) -> float | None:
        """How long a new task of this kind should take: the estimate, corrected by how far
        alike tasks strayed from theirs; without an estimate, what alike tasks took."""
        if estimate is not None:
            ratios = self._ratios.get(kind, ())
            if len(ratios) >= HISTORY_MIN:
                return estimate * statistics.median(ratios)
            return estimate
        seconds = self._seconds.get(kind, ())
        return statistics.median(seconds) if len(seconds) >= HISTORY_MIN else None

    def span(self, kind: Kind, estimate: float | None) -> tuple[float, float] | None:
        """Between how many seconds after their start alike tasks end: the 10th to the 90th
        percentile of recent run times seen to within a few seconds (as a factor of the estimate
        where there is one); None before enough are known."""
        if estimate is not None:
            ratios = self._precise.get(kind, ())
            if len(ratios) >= HISTORY_MIN:
                low, high = _spread(sorted(ratios))
                return estimate * low, estimate * high
            return None
        seconds = self._seconds.get(kind, ())
        return _spread(sorted(seconds)) if len(seconds) >= HISTORY_MIN else None


def _spread(ordered: list[float]) -> tuple[float, float]:
    """The 10th to the 90th percentile, the low end at least as far below the median as the high
    end is above it: a task found ended at a look aimed at its predicted end is recorded as
    ending then, though it may have ended a little before, so early ends go unseen."""

    def percentile(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    median, high = statistics.median(ordered), percentile(0.9)
    return min(percentile(0.1), 2 * median - high), high


def believable_estimate(seconds: float | None) -> float | None:
    """EvoLink's estimate if it can be one (above 0, at most a day), else None."""
    if seconds is None or not (math.isfinite(seconds) and 0 < seconds <= LONGEST_ESTIMATE):
        return None
    return seconds


@dataclass
class _Track:
    """What the schedule remembers of one running task."""

    sightings: list[Sighting] = field(default_factory=list)  # first, previous, last level seen
    last_look: float | None = None
    aim: float | None = None  # the predicted end the look now due aims at (None: not aimed)
    missed: bool = False  # a look aimed at a predicted end found the task still running
    step: float = MIN_GAP  # the longest wait after a look aimed at the end found it running
    looks: int = 0  # the task's looks counted by the time of the next one (see Started.looks)


class PredictedSchedule:
    def __init__(
        self,
        poll_interval: float,
        *,
        clock: Clock = time.time,
        run_times: RunTimes | None = None,
    ) -> None:
        self._longest = max(MIN_GAP, poll_interval)
        self._clock = clock
        self.run_times = run_times or RunTimes()
        self._tracks: dict[int, _Track] = {}

    def aimed(self, task: Started) -> bool:
        """The look due aims at the predicted end, or steps past it (see Schedule.aimed)."""
        track = self._current(task)
        return track is not None and (track.aim is not None or track.missed)

    def _current(self, task: Started) -> _Track | None:
        """What this process remembers of the task, unless another process has looked at it
        since (then forgotten: the prediction starts again, as after a restart)."""
        track = self._tracks.get(task.id)
        if track is not None and task.looks > track.looks:
            del self._tracks[task.id]
            return None
        return track

    @property
    def tracked(self) -> int:
        """Tasks the schedule holds state for (it forgets each once it has ended)."""
        return len(self._tracks)

    def first_look(self, task: Started) -> float:
        track = self._tracks[task.id] = _Track(looks=task.looks)
        track.last_look = task.at
        return task.at + self._gap(track, task.at, self._by_history(task), self._span(task))

    def next_look(self, task: Started, progress: int) -> float:
        now = self._clock()
        track = self._current(task) or self._tracks.setdefault(task.id, _Track())
        track.looks = task.looks + 1  # this look, once stored
        if track.aim is not None:  # a look aimed at the predicted end: a miss
            track.missed = True
            track.step = MIN_GAP  # near that end: short steps again
        last = track.sightings[-1].progress if track.sightings else 0
        if 0 < progress < 100 and progress > last:
            seen = track.sightings
            track.sightings = [*seen[:1], *seen[1:][-1:], Sighting(now, progress)]
        track.last_look = now
        end = _soonest_ahead(self._by_progress(task, track, now), self._by_history(task), now=now)
        return now + self._gap(track, now, end, self._span(task))

    def finished(self, task: Started, *, completed: bool) -> None:
        track = self._current(task)
        self._tracks.pop(task.id, None)
        if not completed:
            return
        now = self._clock()
        ended, since = now, 0.0  # a look aimed at its predicted end found it done: just before
        if track is not None and track.last_look is not None and track.aim is None:
            ended = (track.last_look + now) / 2  # somewhere since the previous look
            since = now - track.last_look
        self.run_times.record(
            task.kind, ended - task.at, believable_estimate(task.estimate),
            precise=since <= 2 * DENSE_STEP,
        )  # fmt: skip

    def _gap(
        self, track: _Track, now: float, end: float | None, span: tuple[float, float] | None
    ) -> float:
        """The wait until the next look: to the predicted end, at least a second, at most the
        interval. Once a look aimed at the end has found the task running, at most the step
        (1 s, then 2, 4 … each time a whole step passes with no end predicted within it). In the
        span where alike tasks end, at most DENSE_STEP, and the first look there at its start."""
        if end is not None and end <= now:
            track.missed = True  # late (e.g. looked at again after a restart or a pause)
        longest = track.step if track.missed else self._longest
        dense = span is not None and span[0] <= now < span[1]
        if dense:
            longest = min(longest, DENSE_STEP)
        elif span is not None and now < span[0] and (end is None or not now < end < span[0]):
            end = span[0]  # no end predicted before the span starts: look when it does
        if end is None or not 0 < end - now <= longest:
            track.aim = None
            if track.missed and not dense:  # waited a whole step and learnt nothing: grow it
                track.step = min(STEP_GROWTH * track.step, self._longest)
            return longest
        track.aim = end
        return max(end - now, MIN_GAP)

    def _span(self, task: Started) -> tuple[float, float] | None:
        span = self.run_times.span(task.kind, believable_estimate(task.estimate))
        return None if span is None else (task.at + span[0], task.at + span[1])

    def _by_history(self, task: Started) -> float | None:
        """The end the estimate suggests, corrected by what alike tasks took."""
        expected = self.run_times.expected(task.kind, believable_estimate(task.estimate))
        return None if expected is None else task.at + expected

    @staticmethod
    def _by_progress(task: Started, track: _Track, now: float) -> float | None:
        """When progress should reach its last level, at its pace since the first level seen and
        since the one before the last, whichever is sooner (the pace changes: sooner costs a
        look, later costs the member a wait). From one level alone, its pace since the create
        counts time spent pending too, so only a third of the way to that end is trusted."""
        seen = track.sightings
        if not seen:
            return None
        last = seen[-1]
        if len(seen) == 1:
            end = _reaches_last_level(Sighting(task.at, 0), last)
            return now + (end - now) / 3
        return min(_reaches_last_level(earlier, last) for earlier in seen[:-1])


def _reaches_last_level(earlier: Sighting, later: Sighting) -> float:
    """When progress gets past its last level at this pace (half a point past: a level read is
    reached somewhere within that point)."""
    per_point = max(0.0, later.at - earlier.at) / (later.progress - earlier.progress)
    return later.at + (LAST_LEVEL + 0.5 - later.progress) * per_point


def _soonest_ahead(*predictions: float | None, now: float) -> float | None:
    """The soonest predicted end still ahead; when all have passed, the latest (the task is
    late: looks then follow growing steps)."""
    known = [end for end in predictions if end is not None]
    ahead = [end for end in known if end > now]
    if ahead:
        return min(ahead)
    return max(known, default=None)


class FixedSchedule:
    """A look every interval (×0.9 to ×1.1, so that tasks started together spread out); the
    first at EvoLink's estimate if that is sooner (`first_at_estimate`)."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Clock = time.time,
        first_at_estimate: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._first_at_estimate = first_at_estimate
        self._rng = rng or random.Random()

    def first_look(self, task: Started) -> float:
        estimate = believable_estimate(task.estimate) if self._first_at_estimate else None
        return task.at + min(estimate or self._interval, self._interval)

    def next_look(self, task: Started, progress: int) -> float:
        return self._clock() + self._interval * self._rng.uniform(0.9, 1.1)

    def finished(self, task: Started, *, completed: bool) -> None:
        return None

    def aimed(self, task: Started) -> bool:
        return False
