"""What makes two notifications the same event, for the listener and the workers alike.

A post has one ``PostAdded``, whichever way it arrives: over the transport
(maybe twice), or recovered by backfill from ``GET /glip/posts`` under a
notification ``uuid`` of its own. So a ``PostAdded`` is known by its post's
id, and every other notification by its ``uuid``. The listener
de-duplicates and numbers events by this id (the enqueue script's
de-duplication key); the workers find an event's place in its chat and its
entry among the work in flight by the same id.

**Installations.** A post seen by two bots (a private and a public bot in
one chat) is two events, one for each bot. So the event of an *installed*
bot (a ``private`` or ``public`` installation, see
:mod:`glipbot.state.installations`) carries its bot id, the notification's
``ownerId``: ``bot:<ownerId>:post:<post id>`` or ``bot:<ownerId>:<uuid>``.
The configured bot's events keep the form they always had, so its
de-duplication keys, ledger entries and chat numbering are what they were.
Both sides pass the same ``installed`` for one notification: it is installed
when the installation store holds a ``private`` or ``public`` record of its
``ownerId`` (active or removed), never otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: How an installed bot's event id starts: ``bot:<bot id>:``.
INSTALLED_PREFIX = "bot:"


def event_id(envelope: Mapping[str, Any], *, installed: bool = False) -> str:
    """``post:<post id>`` for a ``PostAdded``, else the notification's ``uuid``.

    ``installed``: the notification was received for an installed bot (not
    the configured one); its ``ownerId`` then leads the id (see the module
    docstring).
    """
    body = envelope.get("body")
    if isinstance(body, Mapping) and body.get("eventType") == "PostAdded" and body.get("id"):
        base = f"post:{body['id']}"
    else:
        base = str(envelope.get("uuid"))
    owner = envelope.get("ownerId")
    if installed and isinstance(owner, str) and owner:
        return f"{INSTALLED_PREFIX}{owner}:{base}"
    return base


def installation_of(event: str) -> str | None:
    """The installed bot an :func:`event_id` belongs to; None for the configured bot's."""
    if not event.startswith(INSTALLED_PREFIX):
        return None
    bot, separator, _ = event[len(INSTALLED_PREFIX) :].partition(":")
    return bot if separator and bot else None
