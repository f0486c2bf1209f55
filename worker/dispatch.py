"""From one notification to the replies on the queue: what ``handle_event`` does.

Plain code over plain collaborators, so tests run it without Celery. The
dispatcher validates the envelope, runs the bot, hands each reply to
``enqueue`` and tells the chat's turn how many replies event ``seq``
produced (none included), so that later replies in the chat do not wait
for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glipbot import log_events as ev
from glipbot.bot import Bot, Directory
from glipbot.contracts.chat_order import ChatTurns
from glipbot.contracts.identity import event_id
from glipbot.errors import DeadLetteredError, InvalidEventError, PermanentError, TransientError
from glipbot.events import Event, chat_id, parse_event
from glipbot.logging import get_logger
from glipbot.retry import classify
from glipbot.state.counters import Counters
from glipbot.state.deadletters import DeadLetters
from worker.replies import Outgoing

SOURCE = "handle_event"

_log = get_logger(__name__)


@dataclass
class Dispatcher:
    """Runs the bot on events; one per worker process."""

    bot: Bot
    directory: Directory
    turns: ChatTurns
    dead_letters: DeadLetters
    counters: Counters
    enqueue: Callable[[Outgoing], None]

    def handle(self, envelope: dict[str, Any], seq: int | None = None) -> list[Outgoing]:
        """Handle one notification; return the replies it enqueued.

        A malformed notification or a handler's permanent failure is logged,
        counted and dead-lettered, then raised as
        :class:`~glipbot.errors.DeadLetteredError`. A transient failure (the
        platform was unreachable during a lookup) is raised for the task to
        retry; when it gives up it calls :meth:`give_up`.
        """
        log = _log.bind(event_uuid=envelope.get("uuid") if isinstance(envelope, dict) else None)
        try:
            event = parse_event(envelope)
        except InvalidEventError as exc:
            log.warning(ev.EVENT_INVALID, reason=exc.reason)
            raise self._dead_letter(envelope, f"invalid event: {exc.reason}", seq=seq) from exc
        chat = chat_id(event)
        if seq is None and chat:
            seq = self.turns.seq_of(event_id(envelope))
        log = log.bind(group_id=chat or None, event_type=event.envelope.event_type, seq=seq)
        try:
            replies = self.bot.handle(event, self.directory)
        except PermanentError as exc:
            handler = getattr(exc, "handler", None)  # set when a bot handler raised
            log.error(ev.HANDLER_FAILED, handler=handler, error=str(exc), exc_info=exc)
            self._handled(event, seq, 0)
            reason = f"handler failed: {exc}"
            raise self._dead_letter(envelope, reason, seq=seq, handler=handler) from exc
        ordered = seq if chat else None
        outgoing = [
            Outgoing(reply, ordered if reply.group_id == chat else None) for reply in replies
        ]
        for out in outgoing:
            self.enqueue(out)
        self._handled(event, seq, sum(1 for out in outgoing if out.seq is not None))
        self.counters.incr("events_handled")
        self.counters.incr("replies_enqueued", len(outgoing))
        log.info(ev.EVENT_HANDLED, replies=len(outgoing))
        return outgoing

    def give_up(
        self, envelope: Any, seq: int | None, error: Exception, attempts: int = 0
    ) -> DeadLetteredError:
        """The task gave up on the event: dead-letter it and free its chat.

        Returns the error for the task to raise.
        """
        judged = classify(error)
        if isinstance(judged, TransientError):
            reason = f"retries exhausted: {error}"
        else:
            reason = f"failed: {type(judged).__name__}: {judged}"
        event_uuid = envelope.get("uuid") if isinstance(envelope, dict) else None
        _log.error(ev.EVENT_GIVEN_UP, event_uuid=event_uuid, error=str(error), attempts=attempts)
        with contextlib.suppress(InvalidEventError):  # already dead-lettered as such
            event = parse_event(envelope)
            if seq is None and chat_id(event):  # as handle() does: the listener's number
                seq = self.turns.seq_of(event_id(envelope))
            self._handled(event, seq, 0)
        return self._dead_letter(envelope, reason, seq=seq, attempts=attempts)

    def _handled(self, event: Event, seq: int | None, replies: int) -> None:
        chat = chat_id(event)
        if seq is not None and chat:
            self.turns.handled(chat, seq, replies)

    def _dead_letter(self, envelope: Any, reason: str, **context: Any) -> DeadLetteredError:
        self.counters.incr("dead_letters_handle_event")
        self.dead_letters.push(SOURCE, reason, envelope, **context)
        return DeadLetteredError(reason)
