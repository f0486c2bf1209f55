"""``handle_event``: one notification through the bot; its replies onto ``replies``."""

from __future__ import annotations

import functools
import time
from datetime import datetime
from typing import Any

import redis
from celery import Task

from glipbot.contracts.chat_order import ChatTurns
from glipbot.errors import DeadLetteredError, RateLimitedError, TransientError
from glipbot.logging import get_logger
from glipbot.retry import root_cause
from tasks.replies import POLICY, enqueue_reply
from worker.celery import app
from worker.dispatch import Dispatcher
from worker.runtime import runtime

_log = get_logger(__name__)


@functools.cache
def dispatcher() -> Dispatcher:
    """This process's dispatcher (built on first use, after the pool forked)."""
    rt = runtime()
    return Dispatcher(
        bot=rt.bot,
        directory=rt.directory,
        turns=ChatTurns(rt.platform.redis, rt.platform.keys),
        dead_letters=rt.dead_letters,
        counters=rt.counters,
        enqueue=enqueue_reply,
    )


@app.task(
    name="tasks.events.handle_event", bind=True, max_retries=None, throws=(DeadLetteredError,)
)
def handle_event(
    self: Task,
    envelope: dict[str, Any],
    fence: int | None = None,
    seq: int | None = None,
    failures: int = 0,
) -> dict[str, Any]:
    """Run the bot on one notification (as the listener enqueued it).

    ``fence`` is the listener's fencing token, ``seq`` the event's place in
    its chat. A transient failure is retried with back-off; past the last
    attempt, or on a permanent failure, the event is dead-lettered and the
    task fails with :class:`~glipbot.errors.DeadLetteredError`.
    """
    d = dispatcher()
    try:
        sent = d.handle(envelope, seq)
    except (TransientError, redis.RedisError) as exc:
        error = exc if isinstance(exc, TransientError) else TransientError(str(exc))
        limited = isinstance(root_cause(error), RateLimitedError)
        counted = failures if limited else failures + 1  # waiting for a slot is not failing
        delay = POLICY.delay(error, counted, waited=_age(envelope))
        if delay is None:
            raise d.give_up(envelope, seq, exc) from exc
        _log.warning(
            "event_retry", event_uuid=envelope.get("uuid"), error=str(exc), delay=delay, fence=fence
        )
        raise self.retry(
            countdown=delay, kwargs={**(self.request.kwargs or {}), "failures": counted}
        ) from None
    return {"replies": [out.key for out in sent]}


def _age(envelope: dict[str, Any]) -> float:
    """Seconds since the platform sent the notification (0 when it says nothing usable)."""
    try:
        sent = datetime.fromisoformat(str(envelope.get("timestamp")).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, time.time() - sent.timestamp())
