"""When to try failed work again: the one retry policy, as data.

:meth:`RetryPolicy.decide` is the whole decision: classify the error once
(a Redis error is as transient as a platform one; a bot handler's error is
judged by the platform error behind it), then wait, back off, or give up.
The workers' task base (``worker.task``) and the listener's subscription
keeper both ask it; neither writes a loop of its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from glipbot.errors import (
    PermanentError,
    PlatformError,
    RateLimitedError,
    RetryLater,
    TransientError,
)


@dataclass(frozen=True)
class Attempts:
    """What a piece of work went through: transient failures so far, since when."""

    failures: int = 0
    since: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, carried by the work to its next try."""
        return {"failures": self.failures, "since": self.since}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Attempts:
        """The inverse of :meth:`to_json`; ``None`` is a first try."""
        if not data:
            return cls()
        since = data.get("since")
        return cls(int(data.get("failures") or 0), float(since) if since is not None else None)


@dataclass(frozen=True)
class Decision:
    """Retry after ``delay`` seconds, or give up (``delay is None``); ``attempts`` to carry on."""

    delay: float | None
    attempts: Attempts
    #: The error as the policy judged it (see :func:`classify`).
    error: Exception
    #: Whether this try counted as a failure (waiting for a turn or a 429 does not).
    failed: bool


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter for transient failures, bounded in attempts.

    A 429 is not a failure of the request but a queue in front of it: it is
    retried after its ``Retry-After`` for as long as ``rate_limited_for``
    allows, without using up attempts; so is :class:`~glipbot.errors.RetryLater`.
    ``max_attempts=None`` never gives up on a transient failure.
    """

    max_attempts: int | None = 8
    base: float = 1.0
    cap: float = 300.0
    rate_limited_for: float = 3600.0
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, failures: int) -> float:
        """The jittered delay after the ``failures``-th failure in a row (1 is the first)."""
        backoff = min(self.cap, self.base * 2 ** (max(failures, 1) - 1))
        return backoff * (0.5 + self.jitter() / 2)

    def delay(self, error: Exception, failures: int, waited: float = 0.0) -> float | None:
        """Seconds before the next try after ``error``, or ``None`` to give up.

        ``failures`` counts the transient failures so far (this one included);
        ``waited`` is how long the work has been retried, for the 429 bound.
        """
        error = classify(error)
        if isinstance(error, RetryLater):
            return error.retry_after
        if isinstance(error, RateLimitedError):
            if waited > self.rate_limited_for:
                return None
            return error.retry_after + self.jitter()  # spread the herd after a pause
        if isinstance(error, PermanentError) or not isinstance(error, TransientError):
            return None
        if self.max_attempts is not None and failures >= self.max_attempts:
            return None
        hinted = getattr(error, "retry_after", None)
        delay = self.backoff(failures)
        return max(delay, float(hinted)) if hinted else delay

    def decide(self, error: Exception, attempts: Attempts, now: float) -> Decision:
        """What to do with work that failed with ``error`` after ``attempts``, at ``now``."""
        judged = classify(error)
        failed = not isinstance(judged, RetryLater | RateLimitedError)
        since = attempts.since if attempts.since is not None else now
        after = Attempts(attempts.failures + (1 if failed else 0), since)
        return Decision(self.delay(judged, after.failures, now - since), after, judged, failed)


def classify(error: Exception) -> Exception:
    """The error the policy judges: the platform error behind a wrapper; Redis as transient."""
    error = root_cause(error)
    if isinstance(error, redis.RedisError):
        return TransientError(f"{type(error).__name__}: {error}")
    return error


def root_cause(error: Exception) -> Exception:
    """The platform error behind ``error`` (a bot handler wraps the one it met).

    A chain that loops (an error re-raised from itself) ends where it loops.
    """
    seen = {id(error)}
    while isinstance(error.__cause__, PlatformError) and isinstance(error, PlatformError):
        if id(error.__cause__) in seen:
            break
        error = error.__cause__
        seen.add(id(error))
    return error
