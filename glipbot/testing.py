"""Test helpers for bot authors: fake events, an in-memory directory, one-line runs.

::

    from glipbot.testing import simulate_post

    def test_help_lists_flights() -> None:
        assert "flight" in simulate_post(bot, "help")[0].text

By default the conversation is the seed's: John Smith (``JOHN_ID``) in a
private chat (``GROUP_ID``) with the bot (``BOT_ID``).
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterable, Mapping
from typing import Any

from glipbot.bot.app import Bot
from glipbot.bot.context import Reply
from glipbot.errors import NotFoundError
from glipbot.events import GROUPS_FILTER, POSTS_FILTER, GroupEvent, PostEvent, parse_event

BOT_ID = "9001"
JOHN_ID = "1001"
GROUP_ID = "1234"
_TIMESTAMP = "2017-05-01T12:00:00.000Z"


class FakeDirectory:
    """An in-memory :class:`~glipbot.bot.directory.Directory` that records every call.

    Unknown ids raise :class:`~glipbot.errors.NotFoundError`, as the platform's 404 would.
    """

    def __init__(
        self, persons: Iterable[Mapping[str, Any]] = (), groups: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        self.persons: dict[str, dict[str, Any]] = {str(p["id"]): dict(p) for p in persons}
        self.groups: dict[str, dict[str, Any]] = {str(g["id"]): dict(g) for g in groups}
        #: ``("person" | "group", id)`` for each look-up, in order.
        self.calls: list[tuple[str, str]] = []

    @classmethod
    def seed(cls) -> FakeDirectory:
        """John Smith and the bot, with their private chat ``GROUP_ID``."""
        return (
            cls()
            .add_person(JOHN_ID, "John", "Smith", "john.smith@example.com")
            .add_person(BOT_ID, "SmartFriend", "", "smartfriend@example.com")
            .add_group(GROUP_ID, [JOHN_ID, BOT_ID])
        )

    def add_person(
        self, person_id: str, first_name: str = "", last_name: str = "", email: str = ""
    ) -> FakeDirectory:
        """Add (or replace) a person; returns ``self`` for chaining."""
        self.persons[person_id] = {
            "id": person_id,
            "firstName": first_name,
            "lastName": last_name,
            "email": email,
        }
        return self

    def add_group(
        self, group_id: str, members: Iterable[str], group_type: str | None = None, name: str = ""
    ) -> FakeDirectory:
        """Add (or replace) a chat; the type defaults to PrivateChat for two members, else Group."""
        member_list = list(members)
        kind = group_type or ("PrivateChat" if len(member_list) == 2 else "Group")
        self.groups[group_id] = {"id": group_id, "type": kind, "members": member_list, "name": name}
        return self

    def get_person(self, person_id: str) -> Mapping[str, Any]:
        """The person, or ``NotFoundError``."""
        self.calls.append(("person", person_id))
        if person_id not in self.persons:
            raise NotFoundError(f"person {person_id} not found", status=404)
        return self.persons[person_id]

    def get_group(self, group_id: str) -> Mapping[str, Any]:
        """The chat, or ``NotFoundError``."""
        self.calls.append(("group", group_id))
        if group_id not in self.groups:
            raise NotFoundError(f"group {group_id} not found", status=404)
        return self.groups[group_id]


def mention(person_id: str) -> str:
    """The markup that mentions ``person_id`` in a post's text."""
    return f"![:Person]({person_id})"


def make_post_event(
    text: str,
    *,
    creator_id: str = JOHN_ID,
    group_id: str = GROUP_ID,
    bot_id: str = BOT_ID,
    mentions: Iterable[str] = (),
    post_type: str = "TextMessage",
    event_type: str = "PostAdded",
    uuid: str | None = None,
) -> PostEvent:
    """A ``PostAdded`` (or ``PostChanged``) notification, parsed like a real one.

    ``mentions`` are person ids listed in the post's ``mentions`` field; to
    mention through markup, put :func:`mention` into ``text``.
    """
    body = {
        "eventType": event_type,
        "id": f"post-{uuid_module.uuid4().hex[:8]}",
        "groupId": group_id,
        "type": post_type,
        "text": text,
        "creatorId": creator_id,
        "mentions": [{"id": m, "type": "Person", "name": ""} for m in mentions],
        "creationTime": _TIMESTAMP,
        "lastModifiedTime": _TIMESTAMP,
    }
    event = parse_event(_envelope(POSTS_FILTER, bot_id, body, uuid))
    if not isinstance(event, PostEvent):
        raise TypeError(f"{event_type} is not a PostAdded/PostChanged event type")
    return event


def make_join_event(
    *,
    members: Iterable[str] = (JOHN_ID, BOT_ID),
    group_id: str = GROUP_ID,
    group_type: str | None = None,
    bot_id: str = BOT_ID,
    uuid: str | None = None,
) -> GroupEvent:
    """A ``GroupJoined`` notification: the bot was added to the chat ``group_id``."""
    member_list = list(members)
    body = {
        "eventType": "GroupJoined",
        "id": group_id,
        "type": group_type or ("PrivateChat" if len(member_list) == 2 else "Group"),
        "members": member_list,
        "isPublic": False,
        "creationTime": _TIMESTAMP,
        "lastModifiedTime": _TIMESTAMP,
    }
    event = parse_event(_envelope(GROUPS_FILTER, bot_id, body, uuid))
    if not isinstance(event, GroupEvent):  # pragma: no cover - parse_event's contract
        raise TypeError("a groups notification did not parse as a GroupEvent")
    return event


def simulate_post(
    bot: Bot,
    text: str,
    *,
    members: Iterable[str] = (JOHN_ID, BOT_ID),
    creator_id: str = JOHN_ID,
    group_id: str = GROUP_ID,
    bot_id: str = BOT_ID,
    mentions: Iterable[str] = (),
    directory: FakeDirectory | None = None,
) -> list[Reply]:
    """Post ``text`` into a chat of ``members`` and return the bot's replies.

    The chat is added to ``directory`` (default :meth:`FakeDirectory.seed`) unless it knows it.
    """
    if directory is None:
        directory = FakeDirectory.seed().add_group(group_id, members)
    elif group_id not in directory.groups:
        directory.add_group(group_id, members)
    event = make_post_event(
        text, creator_id=creator_id, group_id=group_id, bot_id=bot_id, mentions=mentions
    )
    return bot.handle(event, directory, bot_id=bot_id)


def simulate_join(
    bot: Bot,
    *,
    members: Iterable[str] = (JOHN_ID, BOT_ID),
    group_id: str = GROUP_ID,
    group_type: str | None = None,
    bot_id: str = BOT_ID,
    directory: FakeDirectory | None = None,
) -> list[Reply]:
    """Add the bot to a chat of ``members`` and return its replies."""
    directory = directory if directory is not None else FakeDirectory.seed()
    event = make_join_event(
        members=members, group_id=group_id, group_type=group_type, bot_id=bot_id
    )
    return bot.handle(event, directory, bot_id=bot_id)


def _envelope(path: str, bot_id: str, body: dict[str, Any], uuid: str | None) -> dict[str, Any]:
    return {
        "uuid": uuid or str(uuid_module.uuid4()),
        "event": path,
        "timestamp": _TIMESTAMP,
        "subscriptionId": "sub-test",
        "ownerId": bot_id,
        "body": body,
    }
