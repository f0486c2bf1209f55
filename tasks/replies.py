"""``post_reply``: one reply, posted exactly once, in its chat's order, as the bot it names."""

from __future__ import annotations

import functools
from typing import Any

from glipbot import log_events as ev
from glipbot.contracts import POST_REPLY, REPLIES_QUEUE
from glipbot.contracts.ledger import reply_entry
from glipbot.contracts.messages import Built, TaskMessages
from glipbot.contracts.queues import REPLY_BOT_ID
from glipbot.errors import DeadLetteredError
from glipbot.logging import get_logger
from glipbot.platform.installed import token_refused
from worker.celery import app
from worker.errors import UnknownInstallationError
from worker.installations import TOKEN_REFUSED, UNKNOWN_INSTALLATION
from worker.replies import Outgoing
from worker.runtime import runtime
from worker.task import retried_task

SOURCE = "post_reply"

_log = get_logger(__name__)


@functools.cache
def messages() -> TaskMessages:
    """This process's message builder (built on first use, after the pool forked)."""
    return TaskMessages(app)


def enqueue_reply(out: Outgoing) -> bool:
    """Record ``out`` in the ledger and put it on the ``replies`` queue, in one step."""
    return runtime().poster.enqueue(out, _message(out))


def hold_reply(out: Outgoing) -> bool:
    """Record ``out`` in the ledger (with its ``post_reply`` message) without queueing it:
    :func:`send_replies` posts it, or queues it. False when it is in flight already."""
    return runtime().poster.enqueue(out, _message(out), push=False)


def _message(out: Outgoing) -> Built:
    # A short ``argsrepr`` (Flower's and the worker log's view of the arguments): the
    # reply's key, not a repr of its whole text, which costs more than the rest of the message.
    argsrepr = repr((f"<reply {out.key}>",))
    return messages().build(POST_REPLY, (out.to_json(),), {}, REPLIES_QUEUE, argsrepr=argsrepr)


def send_replies(outs: list[Outgoing]) -> None:
    """Post the held replies that can go now, from ``handle_event`` itself; queue the rest.

    A reply posted here costs no ``post_reply`` task: the common case (the
    chat's turn and a rate-limit slot are free) takes one task per event.
    """
    rt = runtime()
    for out, post_id in rt.poster.send(outs, rt.limiter.without_waiting):
        _posted(out, post_id, inline=True)


def _posted(out: Outgoing, post_id: str, *, inline: bool = False) -> None:
    """Count and log one reply posted (by ``handle_event`` itself when ``inline``)."""
    runtime().counters.incr("replies_posted", bot=out.bot_id)
    _log.info(
        ev.REPLY_POSTED,
        reply_key=out.key,
        group_id=out.group_id,
        post_id=post_id,
        bot_id=out.bot_id,
        **({"inline": True} if inline else {}),
    )


def give_up_reply(error: Exception, attempts: int, arguments: dict[str, Any]) -> DeadLetteredError:
    """Keep the reply as a dead letter and let the chat's later replies go."""
    rt = runtime()
    reply = arguments.get("reply")
    reason = _reason(error, arguments)
    try:
        out: Outgoing | None = Outgoing.from_json(reply)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, AttributeError):
        out = None  # malformed: kept as it came
    context = _context(arguments)
    _log.error(ev.REPLY_DEAD_LETTERED, reason=reason, error=str(error), **context)
    request = None
    if out is not None:
        request = {"method": "POST", "path": "/restapi/v1.0/glip/posts", "body": out.reply.body()}
    rt.dead_letters.push(
        SOURCE,
        reason,
        reply,
        attempts=attempts,
        status=getattr(error, "status", None),
        request=request,
        bot_id=context.get("bot_id"),
    )
    rt.counters.incr("dead_letters_post_reply", bot=out.bot_id if out is not None else None)
    if out is not None:
        rt.poster.done(out)
    elif context.get("reply_key"):
        entry = reply_entry(str(context["reply_key"]), context.get("bot_id"))
        rt.poster.ledger.done(entry)
    return DeadLetteredError(reason)


def _reason(error: Exception, arguments: dict[str, Any]) -> str:
    """Why the reply is kept: its bot is no installation, or its token was refused, or ``error``."""
    if isinstance(error, UnknownInstallationError):
        return UNKNOWN_INSTALLATION
    if token_refused(error, _context(arguments).get("bot_id")):
        return TOKEN_REFUSED
    return f"{type(error).__name__}: {error}"


def _context(arguments: dict[str, Any]) -> dict[str, Any]:
    reply = arguments.get("reply")
    if not isinstance(reply, dict):
        return {}
    bot_id = reply.get(REPLY_BOT_ID)
    return {
        "reply_key": reply.get("key"),
        "group_id": reply.get("group_id"),
        "bot_id": str(bot_id) if bot_id else None,
    }


def _keep_alive(arguments: dict[str, Any], seconds: float) -> None:
    context = _context(arguments)
    if context.get("reply_key"):
        entry = reply_entry(str(context["reply_key"]), context.get("bot_id"))
        runtime().poster.ledger.touch(entry, seconds)


@retried_task(
    name=POST_REPLY,
    give_up=give_up_reply,
    retry_event=ev.REPLY_RETRY,
    retry_counter="reply_retries",
    log_context=_context,
    keep_alive=_keep_alive,
    # Nobody reads it (Flower shows it from the task events): no result backend writes.
    ignore_result=True,
)
def post_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """Post ``reply`` (an :class:`~worker.replies.Outgoing` as JSON) when its turn comes,
    as the installed bot it names (``bot_id``; none: the configured bot).

    Before its turn it parks in its chat and the task ends (``{"parked": true}``);
    the reply before it sends it again when done. Once posted, the chat's
    next reply, parked until now, is posted here too while it can go at once
    (:func:`send_replies`). A reply of a bot that is no
    installation (any more), or whose token the platform refuses, is kept as
    a dead letter at once.
    """
    rt = runtime()
    out = Outgoing.from_json(reply)
    handed: list[Outgoing] = []
    with rt.counters.batched():  # what the task counts, in one round trip
        post_id = rt.poster.deliver(out, handover=handed)
        if post_id is None:
            return {"parked": True, "key": out.key}
        _posted(out, post_id)
        if handed:  # the chat's next reply, whose turn this post made come
            send_replies(handed)
    return {"post_id": post_id, "key": out.key}
