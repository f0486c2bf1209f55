"""``handle_event``: one notification through the bot; its replies onto ``replies``."""

from __future__ import annotations

import functools
from typing import Any

from glipbot import log_events as ev
from glipbot.contracts import HANDLE_EVENT
from glipbot.contracts.chat_order import ChatTurns
from glipbot.errors import DeadLetteredError
from tasks.replies import enqueue_reply
from worker.dispatch import Dispatcher
from worker.runtime import runtime
from worker.task import retried_task


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


def give_up_event(error: Exception, attempts: int, arguments: dict[str, Any]) -> DeadLetteredError:
    """Keep the event as a dead letter and free its chat's turn."""
    return dispatcher().give_up(arguments.get("envelope"), arguments.get("seq"), error, attempts)


def _context(arguments: dict[str, Any]) -> dict[str, Any]:
    envelope = arguments.get("envelope") or {}
    return {"event_uuid": envelope.get("uuid") if isinstance(envelope, dict) else None}


@retried_task(
    name=HANDLE_EVENT, give_up=give_up_event, retry_event=ev.EVENT_RETRY, log_context=_context
)
def handle_event(envelope: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
    """Run the bot on one notification, as the listener enqueued it.

    ``seq`` is the event's place in its chat when known (a replay); else the
    dispatcher reads it from what the listener stored. A transient failure is
    retried with back-off; past the last attempt, or on a permanent failure,
    the event is dead-lettered and the task fails with
    :class:`~glipbot.errors.DeadLetteredError`.
    """
    sent = dispatcher().handle(envelope, seq)
    return {"replies": [out.key for out in sent]}
