"""Bounded cancellation: cancel, cancel again, and give up on a task that will not stop.

Cancelling an asyncio task is a request, and a task can swallow it. One
does in this listener: redis-py sends through ``asyncio.wait_for`` when
``socket_timeout`` is set, and on Python 3.11 ``wait_for`` drops a cancel
that arrives as the send completes (CPython gh-86296, fixed in 3.12); the
task then goes on to wait for its next message, for ever. So nothing here
awaits a cancelled task without a bound:

* :func:`cancel_and_wait` cancels, then cancels again every
  :data:`RECANCEL_INTERVAL` (a swallowed cancel is answered by the next one,
  which lands on an ordinary wait), and after ``timeout`` returns the tasks
  that are still running: the caller logs them, counts them and goes on
  without them;
* :func:`run_bounded` runs one step as a task of its own and waits at most
  ``timeout`` for it (``asyncio.wait`` never depends on the step answering a
  cancel, unlike ``wait_for`` or ``asyncio.timeout``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

__all__ = [
    "RECANCEL_INTERVAL",
    "StepTimeoutError",
    "cancel_and_wait",
    "run_bounded",
    "wait_or_stop",
]

#: Seconds between two cancels of a task that has not stopped yet.
RECANCEL_INTERVAL = 0.25

_T = TypeVar("_T")
#: Tasks given up on: kept referenced until they end, so they are never collected half-way.
_abandoned: set[asyncio.Task[Any]] = set()


class StepTimeoutError(TimeoutError):
    """A step of :func:`run_bounded` overran its bound; ``abandoned`` if it would not stop."""

    def __init__(self, step: str, timeout: float, *, abandoned: bool) -> None:
        super().__init__(f"{step} did not finish within {timeout:g} s")
        self.step = step
        self.timeout = timeout
        self.abandoned = abandoned


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]],
    *,
    timeout: float,
    recancel_interval: float = RECANCEL_INTERVAL,
) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` until they stop, for at most ``timeout`` seconds.

    Returns the tasks still running after ``timeout`` (empty when all
    stopped). Their exceptions are retrieved, so none is reported as "never
    retrieved".
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = {task for task in tasks if not task.done()}
    finished = {task for task in tasks if task.done()}
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        done, pending = await asyncio.wait(pending, timeout=min(recancel_interval, remaining))
        finished |= done
    for task in finished:
        _retrieve(task)
    for task in pending:
        _abandoned.add(task)
        task.add_done_callback(_forget)
    return pending


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    _retrieve(task)


async def run_bounded(step_coro: Coroutine[Any, Any, _T], *, step: str, timeout: float) -> _T:
    """Run ``step_coro`` as the task ``step``; raise :class:`StepTimeoutError` after ``timeout``.

    On a timeout the step is cancelled (within :data:`RECANCEL_INTERVAL`, or
    abandoned: ``StepTimeoutError.abandoned``). If the caller is cancelled,
    so is the step.
    """
    task = asyncio.create_task(step_coro, name=step)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    stuck = await cancel_and_wait({task}, timeout=RECANCEL_INTERVAL * 2)
    raise StepTimeoutError(step, timeout, abandoned=bool(stuck))


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Wait until ``stop`` is set or ``seconds`` have passed, whatever else is cancelled."""
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()
