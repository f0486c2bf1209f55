"""Bounded cancellation: a swallowed cancel is answered by the next one; a task that
ignores every cancel is given up on after the timeout, never waited for."""

from __future__ import annotations

import asyncio

import pytest

from listener.cancellation import StepTimeoutError, cancel_and_wait, run_bounded

#: Only guards against a hang: every scenario here ends long before it.
HANG = 10.0


async def swallows_one_cancel(swallowed: list[int]) -> None:
    """What redis-py's ``wait_for`` does on Python 3.11: the first cancel is lost."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        swallowed.append(1)
    await asyncio.Event().wait()  # then waits for the next message, for ever


async def ignores_every_cancel(stop_ignoring: asyncio.Event) -> None:
    while not stop_ignoring.is_set():
        try:
            await stop_ignoring.wait()
        except asyncio.CancelledError:
            continue


def test_a_task_that_swallowed_one_cancel_is_stopped_by_the_next() -> None:
    """The cause of the hung listener, reproduced: one ``cancel()`` and a plain wait
    would wait for ever; cancel_and_wait cancels again and the task ends."""

    async def scenario() -> None:
        swallowed: list[int] = []
        task = asyncio.create_task(swallows_one_cancel(swallowed))
        await asyncio.sleep(0)

        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.2)
        assert (done, swallowed) == (set(), [1])  # one cancel is not enough

        stuck = await asyncio.wait_for(
            cancel_and_wait({task}, timeout=5, recancel_interval=0.05), HANG
        )

        assert stuck == set()
        assert task.cancelled()

    asyncio.run(scenario())


def test_a_task_that_ignores_every_cancel_is_returned_after_the_timeout() -> None:
    async def scenario() -> None:
        stop_ignoring = asyncio.Event()
        stubborn = asyncio.create_task(ignores_every_cancel(stop_ignoring), name="stubborn")
        obedient = asyncio.create_task(asyncio.Event().wait(), name="obedient")
        await asyncio.sleep(0)

        stuck = await asyncio.wait_for(
            cancel_and_wait({stubborn, obedient}, timeout=0.3, recancel_interval=0.05), HANG
        )

        assert stuck == {stubborn}
        assert obedient.cancelled()
        stop_ignoring.set()  # let it end, so the loop closes cleanly
        await stubborn

    asyncio.run(scenario())


def test_run_bounded_returns_the_steps_result() -> None:
    async def step() -> str:
        await asyncio.sleep(0)
        return "done"

    assert asyncio.run(run_bounded(step(), step="quick", timeout=5)) == "done"


def test_run_bounded_gives_up_on_a_step_that_overruns_and_says_if_it_stopped() -> None:
    async def scenario() -> None:
        with pytest.raises(StepTimeoutError) as stopped:
            await asyncio.wait_for(
                run_bounded(asyncio.Event().wait(), step="waits", timeout=0.1), HANG
            )
        assert (stopped.value.step, stopped.value.abandoned) == ("waits", False)

        stop_ignoring = asyncio.Event()
        with pytest.raises(StepTimeoutError) as abandoned:
            await asyncio.wait_for(
                run_bounded(ignores_every_cancel(stop_ignoring), step="stubborn", timeout=0.1),
                HANG,
            )
        assert (abandoned.value.step, abandoned.value.abandoned) == ("stubborn", True)
        stop_ignoring.set()

    asyncio.run(scenario())
