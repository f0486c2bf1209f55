"""glipbot.contracts.identity: a post is one event, however it arrives."""

from __future__ import annotations

from glipbot.contracts.identity import event_id, installation_of


def test_a_post_added_is_known_by_its_post_whatever_its_notification() -> None:
    pushed = {"uuid": "u-1", "body": {"eventType": "PostAdded", "id": "p7"}}
    recovered = {"uuid": "backfill-post-p7", "body": {"eventType": "PostAdded", "id": "p7"}}

    assert event_id(pushed) == event_id(recovered) == "post:p7"


def test_other_notifications_are_known_by_their_uuid() -> None:
    assert event_id({"uuid": "u-2", "body": {"eventType": "PostChanged", "id": "p7"}}) == "u-2"
    assert event_id({"uuid": "u-3", "body": {"eventType": "GroupJoined", "id": "g1"}}) == "u-3"


def test_a_post_seen_by_two_bots_is_two_events_and_the_configured_bots_keeps_its_form() -> None:
    """A private and a public bot in one chat: each gets its notification of the post."""
    configured = {"uuid": "u-1", "ownerId": "b1", "body": {"eventType": "PostAdded", "id": "p7"}}
    installed = {"uuid": "u-2", "ownerId": "b2", "body": {"eventType": "PostAdded", "id": "p7"}}

    assert event_id(configured) == "post:p7"
    assert event_id(installed, installed=True) == "bot:b2:post:p7"
    assert event_id({**installed, "uuid": "u-9"}, installed=True) == "bot:b2:post:p7"


def test_an_installed_bots_other_notifications_carry_its_id_before_their_uuid() -> None:
    joined = {"uuid": "u-4", "ownerId": "b2", "body": {"eventType": "GroupJoined", "id": "g1"}}

    assert event_id(joined, installed=True) == "bot:b2:u-4"
    assert event_id(joined) == "u-4"


def test_the_installation_is_read_back_from_the_id() -> None:
    assert installation_of("bot:b2:post:p7") == "b2"
    assert installation_of("bot:b2:u-4") == "b2"
    assert installation_of("post:p7") is None
    assert installation_of("u-4") is None
