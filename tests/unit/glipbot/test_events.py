"""glipbot.events: the one validation of notifications that listener and workers share."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from glipbot.errors import InvalidEventError
from glipbot.events import (
    ExtensionEvent,
    GroupEvent,
    PostEvent,
    PostRemovedEvent,
    parse_envelope,
    parse_event,
)

# The seed's canonical fixtures (PLATFORM.md §6).
POST_ADDED: dict[str, Any] = {
    "uuid": "5678-uuid",
    "event": "/restapi/v1.0/glip/posts",
    "timestamp": "2017-03-21T18:29:27.408Z",
    "subscriptionId": "sub-1",
    "ownerId": "7777",
    "body": {
        "id": "1001",
        "groupId": "1234",
        "type": "TextMessage",
        "text": "Hi ![:Person](7777) how are you?",
        "creatorId": "4321",
        "addedPersonIds": None,
        "mentions": [{"id": "7777", "type": "Person", "name": "SmartFriend"}],
        "attachments": None,
        "creationTime": "2017-03-21T18:29:20.000Z",
        "lastModifiedTime": "2017-03-21T18:29:20.000Z",
        "eventType": "PostAdded",
    },
}
GROUP_JOINED: dict[str, Any] = {
    "uuid": "9999-uuid",
    "event": "/restapi/v1.0/glip/groups",
    "timestamp": "2017-03-21T18:29:27.408Z",
    "subscriptionId": "sub-1",
    "ownerId": "7777",
    "body": {
        "id": "1234",
        "type": "PrivateChat",
        "members": ["7777", "4321"],
        "isPublic": False,
        "creationTime": "2017-03-21T18:29:20.000Z",
        "lastModifiedTime": "2017-03-21T18:29:20.000Z",
        "eventType": "GroupJoined",
    },
}


def _without(data: dict[str, Any], *path: str) -> dict[str, Any]:
    out = copy.deepcopy(data)
    target = out
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return out


def test_post_added_becomes_a_typed_post_event() -> None:
    event = parse_event(POST_ADDED)

    assert isinstance(event, PostEvent)
    assert event.envelope.uuid == "5678-uuid"
    assert event.envelope.event_type == "PostAdded"
    assert event.post.group_id == "1234"
    assert event.post.creator_id == "4321"
    assert [m.id for m in event.post.mentions] == ["7777"]
    assert event.post.added_person_ids == ()  # null in the payload


def test_group_joined_becomes_a_typed_group_event() -> None:
    event = parse_event(GROUP_JOINED)

    assert isinstance(event, GroupEvent)
    assert event.group.type == "PrivateChat"
    assert event.group.members == ("7777", "4321")


def test_post_removed_needs_only_the_post_id() -> None:
    data = copy.deepcopy(POST_ADDED)
    data["body"] = {"id": "1001", "eventType": "PostRemoved"}

    event = parse_event(data)

    assert isinstance(event, PostRemovedEvent)
    assert (event.post_id, event.group_id) == ("1001", "")


def test_extension_event_with_the_account_ids_filled_in() -> None:
    data = copy.deepcopy(POST_ADDED)
    data["event"] = "/restapi/v1.0/account/37439510/extension/7777"
    data["body"] = {"extensionId": 7777, "eventType": "Delete"}

    event = parse_event(data)

    assert isinstance(event, ExtensionEvent)
    assert event.extension_id == "7777"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("not a dict", "notification is a str, not an object"),
        (_without(POST_ADDED, "uuid"), "notification lacks uuid"),
        (_without(POST_ADDED, "body"), "notification lacks body"),
        ({**POST_ADDED, "ownerId": ""}, "notification field ownerId must be a non-empty string"),
        ({**POST_ADDED, "body": []}, "notification body is not an object"),
        (_without(POST_ADDED, "body", "eventType"), "notification body lacks eventType"),
        (_without(POST_ADDED, "body", "groupId"), "body lacks groupId"),
        (_without(POST_ADDED, "body", "creatorId"), "body lacks creatorId"),
        (_without(GROUP_JOINED, "body", "id"), "body lacks id"),
        ({**POST_ADDED, "event": "/restapi/v1.0/glip/teams"}, "unknown event path"),
        (
            {**POST_ADDED, "body": {**POST_ADDED["body"], "eventType": "PostExploded"}},
            "unknown post event type 'PostExploded'",
        ),
        (
            {**GROUP_JOINED, "body": {**GROUP_JOINED["body"], "members": "7777"}},
            "body field members is not a list",
        ),
        (
            {**POST_ADDED, "body": {**POST_ADDED["body"], "text": 42}},
            "body field text is not a string",
        ),
    ],
)
def test_malformed_notifications_are_rejected_with_a_reason(data: Any, reason: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_event(data)

    assert reason in caught.value.reason


def test_parse_envelope_accepts_any_known_shape_without_judging_the_body() -> None:
    data = copy.deepcopy(POST_ADDED)
    data["body"] = {"eventType": "Whatever"}

    assert parse_envelope(data).event_type == "Whatever"
