"""The watchdog: a listener that is stuck exits, so that its supervisor restarts it.

Two loops beat a :class:`Heartbeat`, each beat naming the step the loop is
in and how long that step may take:

* the event loop itself (``event_loop``): :func:`tick` beats every
  :data:`TICK_INTERVAL` with the bound :data:`LOOP_STALL_BOUND`. When the
  event loop stops turning (a blocking call, a busy loop), nothing that runs
  on it can notice, ``/healthz`` included: that is why the watchdog is a
  thread;
* the leadership loop (``leadership``, :mod:`listener.leadership`), which
  beats at each step and every second while it leads. Its heartbeat is also
  what ``/healthz`` reads (:mod:`listener.status`): a step past its bound
  makes the listener ``failing``, with the step named.

:class:`Watchdog` is a :class:`threading.Thread` that checks both every
:data:`CHECK_INTERVAL`. It ends the process with :data:`EXIT_STATUS` and one
critical log line (``watchdog_exit``, naming the loop and the step) when a
heartbeat is overdue by more than ``grace`` beyond its bound, or when a
shutdown (SIGTERM) has not finished within ``shutdown_bound``, however it
is stuck. ``os._exit`` is the only exit that works from a thread while the
main thread is stuck; the lease of a process that exits so is not released:
it expires within the TTL, and a standby takes over.

A process that was not running at all (SIGSTOP, a paused VM) is not stuck:
when the watchdog finds that it missed its own checks by more than
:data:`SUSPENSION_GAP`, it gives every loop ``grace`` seconds to beat again
before judging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from glipbot import log_events as ev
from glipbot.logging import get_logger

log = get_logger(__name__)

#: The exit status of a process the watchdog ended (EX_SOFTWARE).
EXIT_STATUS = 70
#: Seconds between two beats of the event loop's heartbeat.
TICK_INTERVAL = 0.5
#: Seconds the event loop may go without turning.
LOOP_STALL_BOUND = 10.0
#: Seconds a heartbeat may be overdue, past its bound, before the process exits;
#: meanwhile ``/healthz`` answers ``failing``.
GRACE = 5.0
#: Seconds a shutdown may take, from SIGTERM to the process' exit.
SHUTDOWN_BOUND = 20.0
#: Seconds between two checks of the watchdog thread.
CHECK_INTERVAL = 0.5
#: Checks missed by more than this many seconds mean the whole process was suspended.
SUSPENSION_GAP = 2.0

#: The step named when a shutdown overran and no loop is beating any more.
EXITING = "exiting"


@dataclass(frozen=True)
class Beat:
    """One beat: the step a loop entered, when (``clock()``), and its bound in seconds."""

    step: str
    at: float
    bound: float


@dataclass(frozen=True)
class Overrun:
    """A loop that has been in ``step`` for ``seconds``, longer than its ``bound``."""

    loop: str
    step: str
    seconds: float
    bound: float

    def describe(self) -> str:
        """One line for ``/healthz``'s ``reason`` and the logs."""
        return f"{self.loop} stuck in {self.step} for {self.seconds:.1f} s (bound {self.bound:g} s)"


class Heartbeat:
    """The last beat of one loop; written on the event loop, read from any thread."""

    def __init__(self, loop: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.loop = loop
        self._clock = clock
        # One attribute, replaced whole: a reader in another thread sees a whole beat.
        self._beat: Beat | None = None

    def beat(self, step: str, bound: float) -> None:
        """The loop is alive and in ``step``, and beats again within ``bound`` seconds."""
        self._beat = Beat(step, self._clock(), bound)

    def stop(self) -> None:
        """The loop has ended: no longer watched."""
        self._beat = None

    @property
    def step(self) -> str | None:
        """The step of the last beat (None before the first one, or once stopped)."""
        beat = self._beat
        return None if beat is None else beat.step

    def overrun(self, now: float | None = None) -> Overrun | None:
        """The overrun if the last beat's step has outlived its bound, else None."""
        beat = self._beat
        if beat is None:
            return None
        elapsed = (self._clock() if now is None else now) - beat.at
        return Overrun(self.loop, beat.step, elapsed, beat.bound) if elapsed > beat.bound else None


async def tick(heartbeat: Heartbeat, *, bound: float = LOOP_STALL_BOUND) -> None:
    """Beat ``heartbeat`` every :data:`TICK_INTERVAL` for as long as the event loop turns."""
    while True:
        heartbeat.beat("event_loop", bound)
        await asyncio.sleep(TICK_INTERVAL)


def _exit_now(status: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


class Watchdog:
    """Watches heartbeats (and a shutdown's deadline) from a thread; exits when one is stuck.

    :meth:`verdict` is the decision and :meth:`check` acts on it; the clock
    and ``exit_process`` are injectable, so both are tested without a thread
    and without exiting.
    """

    def __init__(
        self,
        heartbeats: Sequence[Heartbeat],
        *,
        grace: float = GRACE,
        shutdown_bound: float = SHUTDOWN_BOUND,
        interval: float = CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        exit_process: Callable[[int], None] = _exit_now,
    ) -> None:
        self._heartbeats = tuple(heartbeats)
        self._grace = grace
        self._shutdown_bound = shutdown_bound
        self._interval = interval
        self._clock = clock
        self._exit = exit_process
        self._shutdown_at: float | None = None
        self._last_check = clock()
        self._excused_until = 0.0
        self._fired: Overrun | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def shutdown_requested(self) -> None:
        """A shutdown began (SIGTERM): from now on the process exits within ``shutdown_bound``."""
        if self._shutdown_at is None:
            self._shutdown_at = self._clock()
            log.info(ev.LISTENER_SHUTDOWN_REQUESTED, bound=self._shutdown_bound)

    def verdict(self) -> Overrun | None:
        """What is stuck now, beyond its bound and the grace, or None."""
        now = self._clock()
        if now < self._excused_until:
            return None
        if self._shutdown_at is not None and now - self._shutdown_at > self._shutdown_bound:
            steps = [h.step for h in self._heartbeats if h.step and h.loop != "event_loop"]
            return Overrun(
                "shutdown",
                steps[-1] if steps else EXITING,
                now - self._shutdown_at,
                self._shutdown_bound,
            )
        for heartbeat in self._heartbeats:
            overrun = heartbeat.overrun(now)
            if overrun is not None and overrun.seconds > overrun.bound + self._grace:
                return overrun
        return None

    def check(self) -> Overrun | None:
        """One check: ``exit_process(EXIT_STATUS)`` after one log line if something is stuck.

        Returns what was stuck (the same again on later calls: it exits once).
        """
        if self._fired is not None:
            return self._fired
        now = self._clock()
        missed = now - self._last_check - self._interval
        self._last_check = now
        if missed > SUSPENSION_GAP:
            # Nothing ran, the watchdog included: the process was stopped, not stuck.
            self._excused_until = now + self._grace
            if self._shutdown_at is not None:
                self._shutdown_at += missed
            log.warning(ev.WATCHDOG_RESUMED, suspended_seconds=round(missed, 1))
        overrun = self.verdict()
        if overrun is not None:
            self._fired = overrun
            log.critical(
                ev.WATCHDOG_EXIT,
                loop=overrun.loop,
                step=overrun.step,
                seconds=round(overrun.seconds, 1),
                bound=overrun.bound,
                exit_status=EXIT_STATUS,
            )
            self._exit(EXIT_STATUS)
        return overrun

    def start(self) -> None:
        """Start the watching thread (a daemon: it never holds the process up)."""
        self._last_check = self._clock()
        self._thread = threading.Thread(target=self._run, name="listener-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (tests; a process keeps its watchdog until it exits)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            if self.check() is not None:
                return
