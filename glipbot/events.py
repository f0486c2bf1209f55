"""Typed notifications: what the platform sends, validated once.

The listener calls :func:`parse_event` to reject malformed notifications
before they reach the queue; ``handle_event`` calls it again to get a typed
event for the bot. Both see the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from glipbot.errors import InvalidEventError

POSTS_FILTER = "/restapi/v1.0/glip/posts"
GROUPS_FILTER = "/restapi/v1.0/glip/groups"
EXTENSION_FILTER = "/restapi/v1.0/account/~/extension/~"

POST_EVENT_TYPES = frozenset({"PostAdded", "PostChanged", "PostRemoved"})
GROUP_EVENT_TYPES = frozenset({"GroupJoined", "GroupLeft", "GroupChanged", "GroupRenamed"})

_EXTENSION_EVENT = re.compile(r"^/restapi/v1\.0/account/[^/]+/extension/[^/?]+")
_ENVELOPE_FIELDS = ("uuid", "event", "timestamp", "subscriptionId", "ownerId", "body")


@dataclass(frozen=True)
class Envelope:
    """The platform's notification envelope, with the body's ``eventType`` lifted out."""

    uuid: str
    event: str
    timestamp: str
    subscription_id: str
    owner_id: str
    event_type: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Mention:
    id: str
    type: str
    name: str = ""


@dataclass(frozen=True)
class Post:
    """A Glip post (message) as carried by ``PostAdded``/``PostChanged``."""

    id: str
    group_id: str
    type: str
    text: str
    creator_id: str
    mentions: tuple[Mention, ...] = ()
    added_person_ids: tuple[str, ...] = ()
    attachments: tuple[dict[str, Any], ...] = ()
    creation_time: str = ""
    last_modified_time: str = ""


@dataclass(frozen=True)
class Group:
    """A Glip chat: ``PrivateChat``, ``Group``, ``Team`` or ``PersonalChat``."""

    id: str
    type: str
    members: tuple[str, ...] = ()
    name: str = ""
    description: str = ""
    is_public: bool = False


@dataclass(frozen=True)
class PostEvent:
    """``PostAdded`` or ``PostChanged``."""

    envelope: Envelope
    post: Post


@dataclass(frozen=True)
class PostRemovedEvent:
    envelope: Envelope
    post_id: str
    group_id: str = ""


@dataclass(frozen=True)
class GroupEvent:
    """``GroupJoined``, ``GroupLeft``, ``GroupChanged`` or ``GroupRenamed``."""

    envelope: Envelope
    group: Group


@dataclass(frozen=True)
class ExtensionEvent:
    """A change to the bot's own extension; ``Delete`` means the bot was uninstalled."""

    envelope: Envelope
    extension_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)


Event = PostEvent | PostRemovedEvent | GroupEvent | ExtensionEvent


def parse_envelope(data: Any) -> Envelope:
    """Check the envelope's shape; raise :class:`InvalidEventError` saying what is wrong."""
    if not isinstance(data, dict):
        raise InvalidEventError(f"notification is a {type(data).__name__}, not an object")
    missing = [name for name in _ENVELOPE_FIELDS if name not in data]
    if missing:
        raise InvalidEventError(f"notification lacks {', '.join(missing)}")
    for name in _ENVELOPE_FIELDS[:-1]:
        if not isinstance(data[name], str) or not data[name]:
            raise InvalidEventError(f"notification field {name} must be a non-empty string")
    body = data["body"]
    if not isinstance(body, dict):
        raise InvalidEventError("notification body is not an object")
    event_type = body.get("eventType")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidEventError("notification body lacks eventType")
    return Envelope(
        uuid=data["uuid"],
        event=data["event"],
        timestamp=data["timestamp"],
        subscription_id=data["subscriptionId"],
        owner_id=data["ownerId"],
        event_type=event_type,
        body=body,
    )


def parse_event(data: Any) -> Event:
    """Validate a decrypted notification fully and return its typed event.

    Raises :class:`InvalidEventError` for a malformed envelope, an unknown
    event path or type, or a body that lacks what its type needs.
    """
    env = parse_envelope(data)
    path = env.event.split("?", 1)[0]
    if path.startswith(POSTS_FILTER):
        return _post_event(env)
    if path.startswith(GROUPS_FILTER):
        if env.event_type not in GROUP_EVENT_TYPES:
            raise InvalidEventError(f"unknown group event type {env.event_type!r}")
        return GroupEvent(env, parse_group(env.body))
    if path == EXTENSION_FILTER or _EXTENSION_EVENT.match(path):
        ext_id = env.body.get("extensionId", "")
        return ExtensionEvent(env, str(ext_id), dict(env.body))
    raise InvalidEventError(f"unknown event path {env.event!r}")


def _post_event(env: Envelope) -> PostEvent | PostRemovedEvent:
    if env.event_type not in POST_EVENT_TYPES:
        raise InvalidEventError(f"unknown post event type {env.event_type!r}")
    body = env.body
    if env.event_type == "PostRemoved":
        return PostRemovedEvent(env, _text(body, "id"), _opt_text(body, "groupId"))
    return PostEvent(env, _post(body))


def _post(body: dict[str, Any]) -> Post:
    mentions = tuple(
        Mention(_text(m, "id"), _opt_text(m, "type") or "Person", _opt_text(m, "name"))
        for m in _list(body, "mentions")
        if isinstance(m, dict)
    )
    return Post(
        id=_text(body, "id"),
        group_id=_text(body, "groupId"),
        type=_opt_text(body, "type") or "TextMessage",
        text=_opt_text(body, "text"),
        creator_id=_text(body, "creatorId"),
        mentions=mentions,
        added_person_ids=tuple(str(p) for p in _list(body, "addedPersonIds")),
        attachments=tuple(a for a in _list(body, "attachments") if isinstance(a, dict)),
        creation_time=_opt_text(body, "creationTime"),
        last_modified_time=_opt_text(body, "lastModifiedTime"),
    )


def parse_group(body: dict[str, Any]) -> Group:
    """A :class:`Group` from the platform's Group JSON (an event body or a REST answer)."""
    return Group(
        id=_text(body, "id"),
        type=_opt_text(body, "type"),
        members=tuple(str(m) for m in _list(body, "members")),
        name=_opt_text(body, "name"),
        description=_opt_text(body, "description"),
        is_public=bool(body.get("isPublic", False)),
    )


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value):
        return str(value)
    raise InvalidEventError(f"body lacks {key}")


def _opt_text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidEventError(f"body field {key} is not a string")
    return value


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidEventError(f"body field {key} is not a list")
    return value


def epoch_seconds(iso: Any) -> float:
    """Seconds since the epoch of one of the platform's ISO 8601 times; 0.0 when unreadable."""
    if not isinstance(iso, str):
        return 0.0
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def chat_id(event: Event) -> str:
    """The chat an event belongs to ("" for events outside any chat).

    The listener numbers each chat's events by it, and the workers keep the
    replies of one chat in that order.
    """
    if isinstance(event, PostEvent):
        return event.post.group_id
    if isinstance(event, GroupEvent):
        return event.group.id
    if isinstance(event, PostRemovedEvent):
        return event.group_id
    return ""
