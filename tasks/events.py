"""``handle_event``: one notification through the bot; its replies onto ``replies``."""

from __future__ import annotations

import functools
from typing import Any

from glipbot import log_events as ev
from glipbot.contracts import HANDLE_EVENT
from glipbot.contracts.ledger import event_entry
from glipbot.errors import DeadLetteredError
from tasks.replies import hold_reply, send_replies
from worker.dispatch import Dispatcher
from worker.runtime import runtime
from worker.task import retried_task


@functools.cache
def dispatcher() -> Dispatcher:
    """This process's dispatcher (built on first use, after the pool forked)."""
    rt = runtime()
    return Dispatcher(
        bot=rt.bot,
        installations=rt.installations,
        turns=rt.poster.turns,
        dead_letters=rt.dead_letters,
        counters=rt.counters,
        enqueue=hold_reply,
        send=send_replies,
    )


def give_up_event(error: Exception, attempts: int, arguments: dict[str, Any]) -> DeadLetteredError:
    """Keep the event as a dead letter, free its chat's turn, and forget it as in flight."""
    envelope = arguments.get("envelope")
    failed = dispatcher().give_up(envelope, arguments.get("seq"), error, attempts)
    _done(envelope)
    return failed


def _uuid(envelope: Any) -> str | None:
    uuid = envelope.get("uuid") if isinstance(envelope, dict) else None
    return str(uuid) if uuid else None


def _entry(envelope: Any) -> str | None:
    """The event's entry in the ledger, by the identity the listener enqueued it under."""
    return event_entry(dispatcher().event_key(envelope)) if isinstance(envelope, dict) else None


def _done(envelope: Any) -> None:
    entry = _entry(envelope)
    if entry:
        runtime().poster.ledger.done(entry)


def _context(arguments: dict[str, Any]) -> dict[str, Any]:
    envelope = arguments.get("envelope")
    owner = envelope.get("ownerId") if isinstance(envelope, dict) else None
    return {"event_uuid": _uuid(envelope), "bot_id": owner}


def _keep_alive(arguments: dict[str, Any], seconds: float) -> None:
    entry = _entry(arguments.get("envelope"))
    if entry:
        runtime().poster.ledger.touch(entry, seconds)


@retried_task(
    name=HANDLE_EVENT,
    give_up=give_up_event,
    retry_event=ev.EVENT_RETRY,
    log_context=_context,
    keep_alive=_keep_alive,
    # Nobody reads it (Flower shows it from the task events): no result backend writes.
    ignore_result=True,
)
def handle_event(envelope: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
    """Run the bot on one notification, as the listener enqueued it, as the bot installation
    it belongs to (its ``ownerId``).

    ``seq`` is the event's place in its chat when known (a replay); else the
    dispatcher reads it from what the listener stored. A transient failure is
    retried with back-off; past the last attempt, or on a permanent failure,
    the event is dead-lettered and the task fails with
    :class:`~glipbot.errors.DeadLetteredError`. Either way the event leaves
    the ledger of work in flight once it is handled or kept.
    """
    try:
        with runtime().counters.batched():  # what the event counts, in one round trip
            sent = dispatcher().handle(envelope, seq)
    except DeadLetteredError:
        _done(envelope)
        raise
    _done(envelope)
    return {"replies": [out.key for out in sent]}
