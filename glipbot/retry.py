"""When to try a failed call again: the retry policy as data.

Tasks ask :meth:`RetryPolicy.delay` what to do with an error; the answer is
a number of seconds, or ``None`` for "give up and dead-letter it".
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from glipbot.errors import PermanentError, PlatformError, RateLimitedError, TransientError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter for transient failures, bounded in attempts.

    A 429 is not a failure of the request but a queue in front of it: it is
    retried after its ``Retry-After`` for as long as ``rate_limited_for``
    allows, without using up attempts.
    """

    max_attempts: int = 8
    base: float = 1.0
    cap: float = 300.0
    rate_limited_for: float = 3600.0
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, error: Exception, failures: int, waited: float = 0.0) -> float | None:
        """Seconds before the next try after ``error``, or ``None`` to give up.

        ``failures`` counts the transient failures so far (this one included);
        ``waited`` is how long the work has existed, for the 429 bound. An
        error that wraps a platform error (a bot handler's) is judged by it.
        """
        error = root_cause(error)
        if isinstance(error, RateLimitedError):
            if waited > self.rate_limited_for:
                return None
            return error.retry_after + self.jitter()  # spread the herd after a pause
        if isinstance(error, PermanentError) or not isinstance(error, TransientError):
            return None
        if failures >= self.max_attempts:
            return None
        backoff = min(self.cap, self.base * 2 ** (failures - 1))
        delay = backoff * (0.5 + self.jitter() / 2)
        hinted = getattr(error, "retry_after", None)
        return max(delay, float(hinted)) if hinted else delay


def root_cause(error: Exception) -> Exception:
    """The platform error behind ``error`` (a bot handler wraps the one it met)."""
    while isinstance(error.__cause__, PlatformError) and isinstance(error, PlatformError):
        error = error.__cause__
    return error
