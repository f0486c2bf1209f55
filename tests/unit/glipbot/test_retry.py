"""glipbot.retry: which failures come back, and when."""

from __future__ import annotations

import pytest

from glipbot.bot.errors import TransientHandlerError
from glipbot.errors import (
    BadRequestError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from glipbot.retry import RetryPolicy, root_cause

POLICY = RetryPolicy(max_attempts=4, base=1.0, cap=5.0, jitter=lambda: 1.0)


def test_transient_failures_back_off_exponentially_up_to_the_cap() -> None:
    delays = [POLICY.delay(NetworkError("reset"), n) for n in (1, 2, 3)]

    assert delays == [1.0, 2.0, 4.0]
    assert (
        RetryPolicy(max_attempts=20, cap=5.0, jitter=lambda: 1.0).delay(ServerError("503"), 10)
        == 5.0
    )


def test_jitter_spreads_the_delay_between_half_and_all_of_it() -> None:
    low = RetryPolicy(jitter=lambda: 0.0).delay(ServerError("500"), 3)
    high = RetryPolicy(jitter=lambda: 1.0).delay(ServerError("500"), 3)

    assert (low, high) == (2.0, 4.0)


def test_transient_failures_give_up_after_the_last_attempt() -> None:
    assert POLICY.delay(ServerError("500"), 4) is None


def test_a_server_asking_for_more_time_gets_it() -> None:
    assert POLICY.delay(ServerError("503", retry_after=30.0), 1) == 30.0


@pytest.mark.parametrize("error", [BadRequestError("400"), NotFoundError("404"), ValueError()])
def test_permanent_and_unknown_errors_are_not_retried(error: Exception) -> None:
    assert POLICY.delay(error, 1) is None


def test_a_429_waits_its_retry_after_without_using_up_attempts() -> None:
    limited = RateLimitedError("429", retry_after=30.0)

    assert POLICY.delay(limited, 99) == 31.0  # plus up to a second of jitter
    assert POLICY.delay(limited, 1, waited=7200.0) is None  # but not forever


def _wrapped(cause: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception as exc:
            raise TransientHandlerError(
                "handler failed transiently", handler="h", event_uuid="e", group_id="g"
            ) from exc
    except TransientHandlerError as wrapped:
        return wrapped


def test_a_429_met_inside_a_handler_still_waits_instead_of_failing() -> None:
    """A handler's person lookup hit the rate limit: the event waits for the slot."""
    wrapped = _wrapped(RateLimitedError("429", retry_after=30.0))

    assert isinstance(root_cause(wrapped), RateLimitedError)
    assert POLICY.delay(wrapped, 99) == 31.0


def test_other_wrapped_failures_back_off_as_themselves() -> None:
    wrapped = _wrapped(ServerError("503", retry_after=7.0))

    assert POLICY.delay(wrapped, 1) == 7.0
    assert POLICY.delay(wrapped, 4) is None


def test_a_cause_chain_that_loops_ends_where_it_loops() -> None:
    from glipbot.errors import LoginRefusedError
    from glipbot.retry import root_cause

    first = LoginRefusedError("refused", setting="RINGCENTRAL_PASSWORD")
    second = LoginRefusedError("refused again", setting="RINGCENTRAL_PASSWORD")
    first.__cause__, second.__cause__ = second, first  # a stored refusal re-raised from itself
    assert root_cause(first) in (first, second)
