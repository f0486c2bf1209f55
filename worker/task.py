"""The one retry mechanism of the workers: a task base that retries or dead-letters.

A task declares its policy and what giving up means, and raises; the base
does the rest::

    @retried_task(name=POST_REPLY, give_up=give_up_reply, retry_event=ev.REPLY_RETRY)
    def post_reply(reply: dict) -> dict: ...

On an error the base asks :meth:`glipbot.retry.RetryPolicy.decide` once:
retry after the delay it gives (carrying the attempts so far in a reserved
keyword argument the task never sees), or call ``give_up`` (keep a dead
letter, free what the work held) and fail the task with
:class:`~glipbot.errors.DeadLetteredError`. Waiting for a turn
(:class:`~glipbot.errors.RetryLater`) is retried quietly; every other retry
is logged and, when the task names one, counted. A task that names a
``keep_alive`` hears when each try starts and when it is put off, so the
ledger of work in flight (:mod:`glipbot.contracts.ledger`) knows it is alive.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from celery import Task

from glipbot import log_events as ev
from glipbot.errors import DeadLetteredError, RetryLater
from glipbot.logging import get_logger
from glipbot.retry import Attempts, Decision, RetryPolicy
from worker.celery import app
from worker.runtime import runtime

#: The keyword argument that carries :class:`~glipbot.retry.Attempts` between tries.
ATTEMPTS_KWARG = "_attempts"

#: ``give_up(error, attempts, arguments)``: keep the work, free what it held; the error to raise.
#: ``arguments`` are the task's, by name.
GiveUp = Callable[[Exception, int, dict[str, Any]], DeadLetteredError]
#: ``log_context(arguments)``: what to bind to a retry's log line.
LogContext = Callable[[dict[str, Any]], dict[str, Any]]
#: ``keep_alive(arguments, seconds)``: the work is alive and will show progress
#: within ``seconds`` (plus the ledger's bound); called when a try starts (0)
#: and when it is retried (the countdown).
KeepAlive = Callable[[dict[str, Any], float], None]

_log = get_logger(__name__)


class RetriedTask(Task):
    """Runs the task; on failure retries by :attr:`retry_policy` or gives up."""

    retry_policy: RetryPolicy = RetryPolicy()
    give_up: GiveUp
    #: Log event of a retry; ``retry_counter`` names the worker counter it adds to.
    retry_event: str = ev.TASK_RETRY
    retry_counter: str | None = None
    #: Binds log context from the task's arguments (``reply_key``, ``event_uuid``, ...).
    log_context: LogContext = staticmethod(lambda _arguments: {})
    keep_alive: KeepAlive | None = None
    max_retries = None  # the policy bounds retries, not Celery
    # Celery checks the arguments of each send against ``run``'s signature,
    # which does not take the attempts; a wrong call still fails at run time,
    # and the policy gives it up as a dead letter.
    typing = False
    throws = (DeadLetteredError,)  # an expected outcome: logged without a traceback

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        attempts = Attempts.from_json(kwargs.pop(ATTEMPTS_KWARG, None))
        try:
            if self.keep_alive is not None:
                self.keep_alive(self._arguments(args, kwargs), 0.0)
            return self.run(*args, **kwargs)
        except DeadLetteredError:
            raise
        except Exception as exc:
            decision = self.retry_policy.decide(exc, attempts, time.time())
            arguments = self._arguments(args, kwargs)
            if decision.delay is None:
                raise self.give_up(exc, decision.attempts.failures, arguments) from exc
            self._retrying(decision, arguments)
            if self.keep_alive is not None:
                _keep_alive_quietly(self.keep_alive, arguments, decision.delay, self.log_context)
            raise self.retry(
                args=args,
                kwargs={**kwargs, ATTEMPTS_KWARG: decision.attempts.to_json()},
                countdown=decision.delay,
            ) from None

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(inspect.signature(self.run).bind(*args, **kwargs).arguments)
        except TypeError:  # called with arguments it does not take: keep what came
            return {"args": list(args), **kwargs}

    def _retrying(self, decision: Decision, arguments: dict[str, Any]) -> None:
        if isinstance(decision.error, RetryLater):
            return  # waiting for a turn or a lock: routine, and frequent
        if self.retry_counter:
            runtime().counters.incr(self.retry_counter)
        _log.warning(
            self.retry_event,
            error=str(decision.error),
            error_type=type(decision.error).__name__,
            delay=decision.delay,
            failures=decision.attempts.failures,
            **self.log_context(arguments),
        )


def retried_task(
    *,
    name: str,
    give_up: GiveUp,
    retry_event: str,
    retry_counter: str | None = None,
    log_context: LogContext | None = None,
    keep_alive: KeepAlive | None = None,
    policy: RetryPolicy | None = None,
    **options: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """Register a Celery task on the app whose failures :class:`RetriedTask` handles."""
    declared: dict[str, Any] = {
        "give_up": staticmethod(give_up),
        "retry_event": retry_event,
        "retry_counter": retry_counter,
    }
    if log_context is not None:
        declared["log_context"] = staticmethod(log_context)
    if keep_alive is not None:
        declared["keep_alive"] = staticmethod(keep_alive)
    if policy is not None:
        declared["retry_policy"] = policy
    return app.task(name=name, base=RetriedTask, **declared, **options)


def _keep_alive_quietly(
    keep_alive: KeepAlive, arguments: dict[str, Any], delay: float, context: LogContext
) -> None:
    """Move the work's deadline past the countdown. If Redis fails now, the reaper
    sends the work again once the old deadline passed, which is harmless."""
    try:
        keep_alive(arguments, delay)
    except Exception as exc:  # the retry must still be scheduled
        _log.warning(ev.KEEP_ALIVE_FAILED, error=str(exc), **context(arguments))
