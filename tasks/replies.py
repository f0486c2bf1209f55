"""``post_reply``: one reply, posted exactly once, in its chat's order."""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import Task

from glipbot.errors import DeadLetteredError, PermanentError, RateLimitedError, TransientError
from glipbot.logging import get_logger
from glipbot.retry import RetryPolicy
from worker.celery import REPLIES_QUEUE, app
from worker.replies import NotYourTurnError, Outgoing, ReplyBusyError
from worker.runtime import runtime

SOURCE = "post_reply"
POLICY = RetryPolicy()

_log = get_logger(__name__)


def enqueue_reply(out: Outgoing) -> None:
    """Put ``out`` on the ``replies`` queue."""
    post_reply.apply_async(args=(out.to_json(),), queue=REPLIES_QUEUE)


@app.task(name="tasks.replies.post_reply", bind=True, max_retries=None, throws=(DeadLetteredError,))
def post_reply(self: Task, reply: dict[str, Any], failures: int = 0) -> dict[str, Any]:
    """Post ``reply`` (an :class:`~worker.replies.Outgoing` as JSON); retry, or dead-letter it."""
    rt = runtime()
    out = Outgoing.from_json(reply)
    log = _log.bind(reply_key=out.key, group_id=out.group_id, failures=failures)
    try:
        post_id = rt.poster.deliver(out)
    except (NotYourTurnError, ReplyBusyError) as exc:
        raise self.retry(countdown=exc.retry_after) from None  # waiting is not failing
    except (TransientError, redis.RedisError) as exc:
        counted = failures if isinstance(exc, RateLimitedError) else failures + 1
        delay = POLICY.delay(_transient(exc), counted, waited=time.time() - out.created)
        if delay is None:
            raise _give_up(out, reply, exc, counted) from exc
        rt.counters.incr("reply_retries")
        log.warning("reply_retry", error=str(exc), error_type=type(exc).__name__, delay=delay)
        raise self.retry(
            countdown=delay, kwargs={**(self.request.kwargs or {}), "failures": counted}
        ) from None
    except PermanentError as exc:
        raise _give_up(out, reply, exc, failures + 1) from exc
    rt.counters.incr("replies_posted")
    log.info("reply_posted", post_id=post_id)
    return {"post_id": post_id, "key": out.key}


def _transient(exc: Exception) -> Exception:
    # A Redis outage is as transient as a platform one.
    return TransientError(str(exc)) if isinstance(exc, redis.RedisError) else exc


def _give_up(
    out: Outgoing, reply: dict[str, Any], exc: Exception, attempts: int
) -> DeadLetteredError:
    rt = runtime()
    reason = f"{type(exc).__name__}: {exc}"
    _log.error("reply_dead_lettered", reply_key=out.key, group_id=out.group_id, reason=reason)
    rt.dead_letters.push(
        SOURCE,
        reason,
        reply,
        attempts=attempts,
        status=getattr(exc, "status", None),
        request={"method": "POST", "path": "/restapi/v1.0/glip/posts", "body": out.reply.body()},
    )
    rt.counters.incr("dead_letters_post_reply")
    rt.poster.done(out)  # later replies of the chat must not wait for this one
    return DeadLetteredError(reason)
