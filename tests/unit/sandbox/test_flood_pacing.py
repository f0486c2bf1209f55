"""The flood's pacing (:func:`sandbox.flood.pace`) on a clock the test moves: no waiting."""

from __future__ import annotations

import asyncio

from sandbox.flood import BATCH, pace
from tests.support.clock import FakeClock


class Recorder:
    """``make`` for :func:`pace`: notes the clock at each call; refuses after ``stop_after``."""

    def __init__(self, clock: FakeClock, stop_after: int | None = None) -> None:
        self.clock = clock
        self.times: list[float] = []
        self.sleeps: list[float] = []
        self.calls_between_sleeps: list[int] = [0]
        self._stop_after = stop_after

    def make(self) -> bool:
        if self._stop_after is not None and len(self.times) >= self._stop_after:
            return False
        self.times.append(self.clock())
        self.calls_between_sleeps[-1] += 1
        return True

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.calls_between_sleeps.append(0)
        self.clock.advance(seconds)


def run(recorder: Recorder, count: int, rate: float | None) -> int:
    return asyncio.run(pace(recorder.make, count, rate, clock=recorder.clock, sleep=recorder.sleep))


def test_with_a_rate_post_i_is_made_i_over_rate_seconds_after_the_first() -> None:
    """At 4 posts/s, 10 posts are made at 0, 0.25, ..., 2.25 s, never before they are due."""
    clock = FakeClock(100.0)
    recorder = Recorder(clock)

    made = run(recorder, 10, 4.0)

    assert made == 10
    assert [round(t - 100.0, 6) for t in recorder.times] == [i / 4 for i in range(10)]


def test_a_late_start_catches_up_in_batches_of_at_most_batch() -> None:
    """When the loop was away, the posts already due are made at once, BATCH at a time."""
    clock = FakeClock()
    recorder = Recorder(clock)

    async def late_sleep(seconds: float) -> None:
        await recorder.sleep(seconds + 1.0)  # every wake-up comes a second late

    made = asyncio.run(pace(recorder.make, 300, 100.0, clock=clock, sleep=late_sleep))

    assert made == 300
    assert max(recorder.calls_between_sleeps) == BATCH
    assert all(t >= 1_000.0 + i / 100 for i, t in enumerate(recorder.times))


def test_without_a_rate_posts_are_back_to_back_yielding_every_batch() -> None:
    """No rate: no real sleep, only a yield (sleep(0)) after each BATCH posts."""
    clock = FakeClock()
    recorder = Recorder(clock)

    made = run(recorder, 2 * BATCH + 1, None)

    assert made == 2 * BATCH + 1
    assert recorder.sleeps == [0, 0]
    assert recorder.calls_between_sleeps == [BATCH, BATCH, 1]


def test_stops_when_make_refuses() -> None:
    """``make`` answering False ends the flood; the answer is how many were made."""
    clock = FakeClock()
    recorder = Recorder(clock, stop_after=7)

    assert run(recorder, 20, 1000.0) == 7


def test_one_post_needs_no_sleep() -> None:
    """A flood of one is made at once, rate or not."""
    clock = FakeClock()
    recorder = Recorder(clock)

    assert run(recorder, 1, 0.001) == 1
    assert recorder.sleeps == []
