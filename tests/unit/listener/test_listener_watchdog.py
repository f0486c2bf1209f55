"""The watchdog's decision, on a fake clock with a fake exit: a loop stuck in a step past
its bound and the grace ends the process with one line naming the step; a process that
was suspended (SIGSTOP) is not stuck; a shutdown ends within its bound."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from devtools.processes import wait_for
from listener.watchdog import CHECK_INTERVAL, EXIT_STATUS, EXITING, Heartbeat, Watchdog
from tests.support.clock import FakeClock


class Process:
    """The fake ``exit_process``: records the statuses it was asked to exit with."""

    def __init__(self) -> None:
        self.exits: list[int] = []

    def __call__(self, status: int) -> None:
        self.exits.append(status)


def setup(grace: float = 5.0, shutdown_bound: float = 20.0) -> tuple[Any, ...]:
    clock, process = FakeClock(), Process()
    loop, leadership = Heartbeat("event_loop", clock=clock), Heartbeat("leadership", clock=clock)
    watchdog = Watchdog(
        [loop, leadership],
        grace=grace,
        shutdown_bound=shutdown_bound,
        clock=clock,
        exit_process=process,
    )
    return clock, process, loop, leadership, watchdog


def run_checks(clock: FakeClock, watchdog: Watchdog, seconds: float, *beats: Heartbeat) -> None:
    """``seconds`` of the watchdog thread's life: a check every CHECK_INTERVAL, while
    ``beats`` keep beating (the loops that are alive)."""
    for _ in range(round(seconds / CHECK_INTERVAL)):
        clock.now += CHECK_INTERVAL
        for heartbeat in beats:
            heartbeat.beat("event_loop" if heartbeat.loop == "event_loop" else "leading", 6)
        watchdog.check()


def test_a_heartbeat_is_overdue_once_its_step_outlives_its_bound() -> None:
    clock = FakeClock()
    heartbeat = Heartbeat("leadership", clock=clock)
    assert heartbeat.overrun() is None  # nothing to judge before the first beat

    heartbeat.beat("cancelling", 10)
    clock.now += 10
    assert heartbeat.overrun() is None
    clock.now += 2.5
    overrun = heartbeat.overrun()

    assert overrun is not None
    assert (overrun.loop, overrun.step, overrun.seconds, overrun.bound) == (
        "leadership",
        "cancelling",
        12.5,
        10,
    )
    assert overrun.describe() == "leadership stuck in cancelling for 12.5 s (bound 10 s)"
    heartbeat.stop()
    assert (heartbeat.overrun(), heartbeat.step) == (None, None)


def test_a_step_stuck_past_its_bound_and_the_grace_exits_with_one_line_naming_it() -> None:
    clock, process, loop, leadership, watchdog = setup(grace=5)
    leadership.beat("cancelling", 10)

    with capture_logs() as logs:
        run_checks(clock, watchdog, 15, loop)  # overdue for 5 s: /healthz fails, no exit yet
        assert process.exits == []
        run_checks(clock, watchdog, 1, loop)

    assert process.exits == [EXIT_STATUS]
    exits = [entry for entry in logs if entry["event"] == "watchdog_exit"]
    assert len(exits) == 1
    assert (exits[0]["log_level"], exits[0]["loop"], exits[0]["step"], exits[0]["bound"]) == (
        "critical",
        "leadership",
        "cancelling",
        10,
    )


def test_loops_that_keep_beating_are_never_judged_stuck() -> None:
    clock, process, loop, leadership, watchdog = setup()

    run_checks(clock, watchdog, 120, loop, leadership)

    assert process.exits == []


def test_an_event_loop_that_stops_turning_exits_even_if_the_step_is_within_bound() -> None:
    clock, process, loop, leadership, watchdog = setup(grace=5)
    loop.beat("event_loop", 10)
    leadership.beat("standby", 3600)

    run_checks(clock, watchdog, 16)

    assert process.exits == [EXIT_STATUS]
    overrun = watchdog.verdict()
    assert overrun is not None
    assert (overrun.loop, overrun.step) == ("event_loop", "event_loop")


def test_a_shutdown_that_overruns_its_bound_exits_naming_the_step_it_is_stuck_in() -> None:
    clock, process, loop, leadership, watchdog = setup(shutdown_bound=20)
    leadership.beat("draining", 3600)

    watchdog.shutdown_requested()
    run_checks(clock, watchdog, 20, loop)
    assert process.exits == []
    run_checks(clock, watchdog, 1, loop)

    assert process.exits == [EXIT_STATUS]
    overrun = watchdog.verdict()
    assert overrun is not None
    assert (overrun.loop, overrun.step) == ("shutdown", "draining")


def test_a_shutdown_stuck_after_the_loops_ended_names_the_exit() -> None:
    clock, process, loop, leadership, watchdog = setup(shutdown_bound=20)
    loop.stop()
    leadership.stop()  # both loops ended; what hangs is the process' exit itself

    watchdog.shutdown_requested()
    run_checks(clock, watchdog, 21)

    assert process.exits == [EXIT_STATUS]
    overrun = watchdog.verdict()
    assert overrun is not None
    assert overrun.step == EXITING


def test_a_suspended_process_gets_the_grace_to_beat_again_before_it_is_judged() -> None:
    """SIGSTOP then SIGCONT: no check ran while the process was stopped; every loop is
    overdue when it resumes, but none is stuck. One that does not beat again is."""
    clock, process, loop, leadership, watchdog = setup(grace=5)
    loop.beat("event_loop", 10)
    leadership.beat("leading", 6)

    clock.now += 60  # stopped: the watchdog's thread did not run either
    with capture_logs() as logs:
        watchdog.check()
    assert process.exits == []
    assert [entry["event"] for entry in logs] == ["watchdog_resumed"]

    run_checks(clock, watchdog, 4.5, loop)  # the event loop beats again, leadership does not
    assert process.exits == []
    run_checks(clock, watchdog, 1, loop)
    assert process.exits == [EXIT_STATUS]
    overrun = watchdog.verdict()
    assert overrun is not None
    assert (overrun.loop, overrun.step) == ("leadership", "leading")


def test_the_watchdog_thread_acts_on_its_own_while_the_main_thread_does_nothing() -> None:
    """A real thread on the real clock: nothing in the main thread calls ``check``."""
    process = Process()
    stuck = Heartbeat("leadership")
    watchdog = Watchdog([stuck], grace=0.1, interval=0.05, exit_process=process)
    stuck.beat("releasing_lease", 0.1)

    watchdog.start()
    try:
        wait_for(lambda: process.exits, timeout=10)
    finally:
        watchdog.stop()

    assert process.exits == [EXIT_STATUS]
