"""Queue and task names: what the listener enqueues and the workers consume.

The listener never imports the tasks: it builds ``handle_event`` messages by
the name :data:`HANDLE_EVENT` with :func:`handle_event_kwargs`; the workers
register their tasks under these names and route them by :data:`TASK_ROUTES`.
Celery's queues are plain Redis lists of these names (not prefixed).
"""

from __future__ import annotations

from typing import Any

#: Notifications from the listener, one ``handle_event`` each.
EVENTS_QUEUE = "events"
#: Replies on their way to the platform, one ``post_reply`` each.
REPLIES_QUEUE = "replies"
#: Tasks that people and beat trigger (broadcast, renew, replay, status, ...).
OPS_QUEUE = "ops"
QUEUES = (EVENTS_QUEUE, REPLIES_QUEUE, OPS_QUEUE)

#: ``handle_event(envelope, seq=None)``: run the bot on one notification.
HANDLE_EVENT = "tasks.events.handle_event"
#: ``post_reply(reply)``: post one reply exactly once, in its chat's order. ``reply``
#: is JSON: ``{key, group_id, text, attachments, seq, created}`` and, for a reply of an
#: installed bot, :data:`REPLY_BOT_ID`.
POST_REPLY = "tasks.replies.post_reply"
#: The field of a ``post_reply`` argument naming the installed bot that posts the reply
#: (its bot extension id). Absent or null: the configured bot, as in every message
#: written before installations existed.
REPLY_BOT_ID = "bot_id"
#: Prefix of every ops task's name.
OPS_PREFIX = "tasks.ops."

TASK_ROUTES: dict[str, dict[str, str]] = {
    "tasks.events.*": {"queue": EVENTS_QUEUE},
    "tasks.replies.*": {"queue": REPLIES_QUEUE},
    f"{OPS_PREFIX}*": {"queue": OPS_QUEUE},
}


def handle_event_kwargs(envelope: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a ``handle_event`` message for one notification."""
    return {"envelope": envelope}
