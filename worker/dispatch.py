"""From one notification to the replies on the queue: what ``handle_event`` does.

Plain code over plain collaborators, so tests run it without Celery. The
dispatcher validates the envelope, finds the installation it belongs to
(its ``ownerId``, :mod:`worker.installations`), runs the bot as that
installation (its directory, ``ctx.installation``), hands each reply to
``enqueue`` (carrying the installed bot's id), tells the chat's turn of
that installation how many replies event ``seq`` produced (none included),
so that later replies in the chat do not wait for it, and then hands the
replies to ``send``, which posts at once those that can go (their turn has
come, their bot has a free rate-limit slot) and queues the others.

An event of a bot this deployment does not serve, or whose installed bot's
token the platform refuses, is kept as a dead letter
(:data:`~worker.installations.UNKNOWN_INSTALLATION`,
:data:`~worker.installations.TOKEN_REFUSED`) and never answered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from glipbot import log_events as ev
from glipbot.bot import Bot
from glipbot.contracts.chat_order import ChatTurns
from glipbot.contracts.identity import event_id
from glipbot.errors import DeadLetteredError, InvalidEventError, PermanentError, TransientError
from glipbot.events import Event, chat_id, parse_event
from glipbot.logging import get_logger
from glipbot.platform.installed import token_refused
from glipbot.retry import classify
from glipbot.state.counters import Counters
from glipbot.state.deadletters import DeadLetters
from worker.errors import UnknownInstallationError
from worker.installations import TOKEN_REFUSED, UNKNOWN_INSTALLATION, Route
from worker.replies import Outgoing

SOURCE = "handle_event"

_log = get_logger(__name__)


class Router(Protocol):
    """Finds an event's installation (:class:`worker.installations.Installations` does)."""

    def scope_of(self, bot_id: str | None) -> str | None:
        """The installed bot ``bot_id``'s id, or None for the configured bot (or an unknown one)."""
        ...

    def route(self, bot_id: str | None) -> Route:
        """The installation's route; raises :class:`~worker.errors.UnknownInstallationError`."""
        ...


@dataclass
class Dispatcher:
    """Runs the bot on events, each as its installation; one per worker process."""

    bot: Bot
    installations: Router
    turns: ChatTurns
    dead_letters: DeadLetters
    counters: Counters
    #: Records a reply (and pushes it, unless ``send`` is given).
    enqueue: Callable[[Outgoing], object]
    #: Posts the recorded replies now where it can and pushes the rest, after the
    #: event's turn knows how many it produced. None: ``enqueue`` pushed them.
    send: Callable[[list[Outgoing]], object] | None = None

    def event_key(self, envelope: Any) -> str:
        """The event's id as the listener enqueued it: its de-duplication key and ledger entry
        (:func:`glipbot.contracts.identity.event_id`, scoped by an installed bot)."""
        return event_id(envelope, installed=self._scope(envelope) is not None)

    def handle(self, envelope: dict[str, Any], seq: int | None = None) -> list[Outgoing]:
        """Handle one notification; return the replies it enqueued.

        A malformed notification, one of a bot this deployment does not serve,
        or a handler's permanent failure is logged, counted and dead-lettered,
        then raised as :class:`~glipbot.errors.DeadLetteredError`. A transient
        failure (the platform was unreachable during a lookup) is raised for
        the task to retry; when it gives up it calls :meth:`give_up`.
        """
        log = _log.bind(event_uuid=envelope.get("uuid") if isinstance(envelope, dict) else None)
        try:
            event = parse_event(envelope)
        except InvalidEventError as exc:
            log.warning(ev.EVENT_INVALID, reason=exc.reason)
            reason = f"invalid event: {exc.reason}"
            raise self._dead_letter(envelope, reason, seq=seq, bot_id=_owner(envelope)) from exc
        bot_id = event.envelope.owner_id
        scope = self.installations.scope_of(bot_id)
        chat = chat_id(event)
        if seq is None and chat:
            seq = self.turns.seq_of(event_id(envelope, installed=scope is not None))
        log = log.bind(
            group_id=chat or None, event_type=event.envelope.event_type, seq=seq, bot_id=bot_id
        )
        try:
            route = self.installations.route(bot_id)
        except UnknownInstallationError as exc:
            log.warning(ev.INSTALLATION_UNKNOWN, installation=exc.state)
            self.counters.incr("events_unknown_installation")
            self._handled(event, seq, 0, scope)
            raise self._dead_letter(
                envelope, UNKNOWN_INSTALLATION, seq=seq, bot_id=bot_id, installation=exc.state
            ) from exc
        try:
            replies = self.bot.handle(event, route.directory, installation=route.info())
        except PermanentError as exc:
            handler = getattr(exc, "handler", None)  # set when a bot handler raised
            self._handled(event, seq, 0, scope)
            if token_refused(exc, route.scope):
                log.error(ev.INSTALLATION_TOKEN_REFUSED, handler=handler, error=str(exc))
                self.counters.incr("installation_tokens_refused", bot=scope)
                raise self._dead_letter(
                    envelope, TOKEN_REFUSED, seq=seq, bot_id=bot_id, handler=handler, scope=scope
                ) from exc
            log.error(ev.HANDLER_FAILED, handler=handler, error=str(exc), exc_info=exc)
            reason = f"handler failed: {exc}"
            raise self._dead_letter(
                envelope, reason, seq=seq, handler=handler, bot_id=bot_id, scope=scope
            ) from exc
        ordered = seq if chat else None
        outgoing = [
            Outgoing(reply, ordered if reply.group_id == chat else None, bot_id=scope)
            for reply in replies
        ]
        for out in outgoing:
            self.enqueue(out)
        self._handled(event, seq, sum(1 for out in outgoing if out.seq is not None), scope)
        if self.send is not None and outgoing:
            # All of them, also those in flight already (this task runs again after its
            # worker died mid-way): posting is once per reply whoever tries.
            self.send(outgoing)
        self.counters.incr("events_handled", bot=scope)
        self.counters.incr("replies_enqueued", len(outgoing), bot=scope)
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
        bot_id = _owner(envelope)
        _log.error(
            ev.EVENT_GIVEN_UP,
            event_uuid=event_uuid,
            bot_id=bot_id,
            error=str(error),
            attempts=attempts,
        )
        scope = None
        with contextlib.suppress(InvalidEventError):  # already dead-lettered as such
            event = parse_event(envelope)
            scope = self.installations.scope_of(event.envelope.owner_id)
            if seq is None and chat_id(event):  # as handle() does: the listener's number
                seq = self.turns.seq_of(event_id(envelope, installed=scope is not None))
            self._handled(event, seq, 0, scope)
        return self._dead_letter(
            envelope, reason, seq=seq, attempts=attempts, bot_id=bot_id, scope=scope
        )

    def _scope(self, envelope: Any) -> str | None:
        return self.installations.scope_of(_owner(envelope))

    def _handled(self, event: Event, seq: int | None, replies: int, scope: str | None) -> None:
        chat = chat_id(event)
        if seq is not None and chat:
            self.turns.handled(chat, seq, replies, bot=scope)

    def _dead_letter(
        self, envelope: Any, reason: str, *, scope: str | None = None, **context: Any
    ) -> DeadLetteredError:
        """Keep ``envelope`` with ``reason``; ``context`` names the bot (``bot_id``)."""
        self.counters.incr("dead_letters_handle_event", bot=scope)
        self.dead_letters.push(SOURCE, reason, envelope, **context)
        return DeadLetteredError(reason)


def _owner(envelope: Any) -> str | None:
    """The bot a notification names (its ``ownerId``), if it names one."""
    owner = envelope.get("ownerId") if isinstance(envelope, dict) else None
    return owner if isinstance(owner, str) and owner else None
