"""worker.task: one base decides, for every task, whether a failure retries or dead-letters.

The decision itself (:meth:`RetryPolicy.decide`) is tested without Celery; the
base is then driven with Celery's ``retry`` replaced by a recorder.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

from glipbot.errors import (
    BadRequestError,
    DeadLetteredError,
    NetworkError,
    RateLimitedError,
    RetryLater,
    TransientError,
)
from glipbot.retry import Attempts, RetryPolicy
from worker.celery import app
from worker.task import ATTEMPTS_KWARG, retried_task

POLICY = RetryPolicy(max_attempts=3, base=1.0, cap=10.0, jitter=lambda: 1.0)


def test_a_transient_failure_counts_and_backs_off() -> None:
    decision = POLICY.decide(NetworkError("reset"), Attempts(1, since=100.0), now=110.0)

    assert (decision.delay, decision.attempts, decision.failed) == (2.0, Attempts(2, 100.0), True)


def test_the_first_failure_starts_the_clock() -> None:
    decision = POLICY.decide(NetworkError("reset"), Attempts(), now=50.0)

    assert decision.attempts == Attempts(1, since=50.0)


def test_waiting_for_a_turn_is_not_a_failure() -> None:
    decision = POLICY.decide(RetryLater("not yet", retry_after=0.5), Attempts(2, 0.0), now=9.0)

    assert (decision.delay, decision.attempts.failures, decision.failed) == (0.5, 2, False)


def test_a_429_waits_without_using_up_attempts_until_the_bound() -> None:
    limited = RateLimitedError("429", retry_after=30.0)

    waiting = POLICY.decide(limited, Attempts(3, since=0.0), now=60.0)
    too_long = POLICY.decide(limited, Attempts(3, since=0.0), now=POLICY.rate_limited_for + 1)

    assert (waiting.delay, waiting.attempts.failures) == (31.0, 3)
    assert too_long.delay is None


def test_a_redis_outage_is_as_transient_as_a_platform_one() -> None:
    decision = POLICY.decide(redis.ConnectionError("refused"), Attempts(), now=0.0)

    assert isinstance(decision.error, TransientError)
    assert decision.delay == 1.0


def test_the_last_transient_failure_gives_up() -> None:
    assert POLICY.decide(NetworkError("reset"), Attempts(2, 0.0), now=1.0).delay is None


@pytest.mark.parametrize("error", [BadRequestError("400"), KeyError("bug")])
def test_permanent_and_unknown_errors_give_up_at_once(error: Exception) -> None:
    assert POLICY.decide(error, Attempts(), now=0.0).delay is None


def test_attempts_survive_the_trip_through_a_task_argument() -> None:
    attempts = Attempts(3, since=12.5)

    assert Attempts.from_json(attempts.to_json()) == attempts
    assert Attempts.from_json(None) == Attempts()


class _Retry(Exception):
    def __init__(self, **options: Any) -> None:
        super().__init__("retry")
        self.options = options


_GIVEN_UP: list[tuple[Exception, int, dict[str, Any]]] = []


def _give_up(error: Exception, attempts: int, arguments: dict[str, Any]) -> DeadLetteredError:
    _GIVEN_UP.append((error, attempts, arguments))
    return DeadLetteredError(str(error))


@retried_task(name="tests.worker.probe", give_up=_give_up, retry_event="probe_retry", policy=POLICY)
def _probe(item: str, raise_: Exception | None = None) -> str:
    if raise_ is not None:
        raise raise_
    return item


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The task registered through the base, with Celery's ``retry`` replaced by a recorder."""
    _GIVEN_UP.clear()
    task = app.tasks[_probe.name]  # the registered task, not a lazy proxy
    monkeypatch.setattr(task, "retry", lambda **options: _Retry(**options))
    monkeypatch.setattr(task, "given_up", _GIVEN_UP, raising=False)
    return task


def test_a_task_that_succeeds_returns_its_result_and_never_sees_the_attempts(probe: Any) -> None:
    assert probe("ok", **{ATTEMPTS_KWARG: {"failures": 1, "since": 0.0}}) == "ok"


def test_a_transient_failure_is_retried_carrying_its_attempts(probe: Any) -> None:
    with pytest.raises(_Retry) as retried:
        probe("x", raise_=NetworkError("reset"))

    options = retried.value.options
    assert options["countdown"] == 1.0
    assert options["args"] == ("x",)
    assert options["kwargs"][ATTEMPTS_KWARG]["failures"] == 1
    assert probe.given_up == []


def test_a_permanent_failure_is_given_up_with_the_arguments_by_name(probe: Any) -> None:
    error = BadRequestError("400")

    with pytest.raises(DeadLetteredError):
        probe("x", raise_=error)

    assert probe.given_up == [(error, 1, {"item": "x", "raise_": error})]


def test_a_dead_lettered_outcome_passes_through_untouched(probe: Any) -> None:
    with pytest.raises(DeadLetteredError):
        probe("x", raise_=DeadLetteredError("kept by the body"))

    assert probe.given_up == []


def test_the_last_attempt_gives_up(probe: Any) -> None:
    with pytest.raises(DeadLetteredError):
        probe("x", raise_=NetworkError("reset"), **{ATTEMPTS_KWARG: {"failures": 2, "since": 0}})

    assert [attempts for _e, attempts, _a in probe.given_up] == [3]


def test_a_retry_is_logged_under_the_tasks_event(probe: Any) -> None:
    with capture_logs() as logs, pytest.raises(_Retry):
        probe("x", raise_=NetworkError("reset"))

    assert [(e["event"], e["failures"], e["error_type"]) for e in logs] == [
        ("probe_retry", 1, "NetworkError")
    ]


def test_waiting_for_a_turn_retries_quietly(probe: Any) -> None:
    with capture_logs() as logs, pytest.raises(_Retry) as retried:
        probe("x", raise_=RetryLater("not yet", retry_after=0.5))

    assert retried.value.options["countdown"] == 0.5
    assert logs == []


_ALIVE: list[tuple[dict[str, Any], float]] = []


@retried_task(
    name="tests.worker.kept_alive",
    give_up=_give_up,
    retry_event="probe_retry",
    policy=POLICY,
    keep_alive=lambda arguments, seconds: _ALIVE.append((arguments, seconds)),
)
def _kept_alive(item: str, raise_: Exception | None = None) -> str:
    if raise_ is not None:
        raise raise_
    return item


def test_a_task_with_a_keep_alive_reports_each_start_and_each_countdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """So the ledger knows the work is alive: at the start, and past a retry's countdown."""
    _ALIVE.clear()
    task = app.tasks[_kept_alive.name]
    monkeypatch.setattr(task, "retry", lambda **options: _Retry(**options))

    with pytest.raises(_Retry):
        task("x", raise_=RetryLater("settling", retry_after=4.0))

    assert [seconds for _arguments, seconds in _ALIVE] == [0.0, 4.0]
    assert _ALIVE[0][0]["item"] == "x"
