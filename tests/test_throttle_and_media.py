"""Progress-edit throttling and the progress bar (fetching a video: tests/test_links.py)."""

from __future__ import annotations

from bot.ui.render import progress_bar
from bot.ui.throttle import CHANNEL_EDITS, GLOBAL_BURST, GLOBAL_EDITS_PER_SECOND, EditThrottle
from tests.conftest import FakeClock


def test_progress_bar_rendering() -> None:
    assert progress_bar(0) == "▱▱▱▱▱▱▱▱▱▱ 0%"
    assert progress_bar(48) == "▰▰▰▰▰▱▱▱▱▱ 48%"
    assert progress_bar(100) == "▰▰▰▰▰▰▰▰▰▰ 100%"
    assert progress_bar(140) == "▰▰▰▰▰▰▰▰▰▰ 100%" and progress_bar(-3).endswith(" 0%")


def test_a_busy_channel_gets_at_most_four_edits_per_five_seconds() -> None:
    clock = FakeClock()
    throttle = EditThrottle(clock)
    sent = 0
    for _ in range(60):
        for message in range(100):  # a hundred videos rendering in one channel
            sent += throttle.allow(channel_id=1, message_id=message)
        clock.advance(1)
    assert sent <= CHANNEL_EDITS * 60 / 5 + CHANNEL_EDITS
    assert throttle.allow(channel_id=2, message_id=500)  # other channels are not held back


def test_one_message_is_not_edited_more_than_every_three_seconds() -> None:
    clock = FakeClock()
    throttle = EditThrottle(clock)
    assert throttle.allow(1, 10)
    clock.advance(2)
    assert not throttle.allow(1, 10)
    clock.advance(1)
    assert throttle.allow(1, 10)


def test_thousands_of_tasks_share_a_bot_wide_budget_of_progress_edits() -> None:
    clock = FakeClock()
    throttle = EditThrottle(clock)
    sent = 0
    for _ in range(60):
        for n in range(10_000):  # ten thousand videos, each in a channel of its own
            sent += throttle.allow(channel_id=n, message_id=n)
        clock.advance(1)
    assert sent <= GLOBAL_EDITS_PER_SECOND * 60 + GLOBAL_BURST  # Discord allows ~50 calls/s
    assert sent >= GLOBAL_EDITS_PER_SECOND * 59  # and the budget is used, not wasted


def test_a_correction_of_a_queue_place_goes_out_even_in_a_busy_channel() -> None:
    clock = FakeClock()
    throttle = EditThrottle(clock)
    sent = sum(throttle.allow(channel_id=1, message_id=m) for m in range(10))
    assert sent == CHANNEL_EDITS  # progress ticks: the channel is full
    assert throttle.allow(channel_id=1, message_id=99, correction=True)
    assert throttle.allow(channel_id=1, message_id=0, correction=True)  # even just edited
