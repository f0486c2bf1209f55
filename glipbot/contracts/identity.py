"""What makes two notifications the same event, for the listener and the workers alike.

A post has one ``PostAdded``, whichever way it arrives: over the transport
(maybe twice), or recovered by backfill from ``GET /glip/posts`` under a
notification ``uuid`` of its own. So a ``PostAdded`` is known by its post's
id, and every other notification by its ``uuid``. The listener
de-duplicates and numbers events by this id (the enqueue script's
de-duplication key); the workers find an event's place in its chat and its
entry among the work in flight by the same id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def event_id(envelope: Mapping[str, Any]) -> str:
    """``post:<post id>`` for a ``PostAdded``, else the notification's ``uuid``."""
    body = envelope.get("body")
    if isinstance(body, Mapping) and body.get("eventType") == "PostAdded" and body.get("id"):
        return f"post:{body['id']}"
    return str(envelope.get("uuid"))
