"""glipbot.contracts.identity: a post is one event, however it arrives."""

from __future__ import annotations

from glipbot.contracts.identity import event_id


def test_a_post_added_is_known_by_its_post_whatever_its_notification() -> None:
    pushed = {"uuid": "u-1", "body": {"eventType": "PostAdded", "id": "p7"}}
    recovered = {"uuid": "backfill-post-p7", "body": {"eventType": "PostAdded", "id": "p7"}}

    assert event_id(pushed) == event_id(recovered) == "post:p7"


def test_other_notifications_are_known_by_their_uuid() -> None:
    assert event_id({"uuid": "u-2", "body": {"eventType": "PostChanged", "id": "p7"}}) == "u-2"
    assert event_id({"uuid": "u-3", "body": {"eventType": "GroupJoined", "id": "g1"}}) == "u-3"
