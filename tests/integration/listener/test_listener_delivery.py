"""A post reaches the events queue once, in Celery's format; bad input is dead-lettered."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import redis
from Crypto.Cipher import AES

from devtools.sandbox_process import SandboxProcess
from sandbox.crypto import encrypt, encrypt_notification, new_key
from tests.integration.listener.listener_support import (
    bot_subscription,
    posts_in_queue,
    queued_events,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_a_post_by_john_reaches_the_events_queue_as_one_celery_message_within_1s(
    start_listener: Any, john_chat: tuple[Any, str], redis_client: redis.Redis
) -> None:
    """Given a leading listener, when John posts, one Celery message is queued within 1 s."""
    john, group_id = john_chat
    start_listener("a").wait_leader()

    posted_at = time.monotonic()
    john.post("/glip/posts", json={"groupId": group_id, "text": "hello bot"}).raise_for_status()
    wait_for(lambda: posts_in_queue(redis_client).get("hello bot"), timeout=1.0, interval=0.01)
    elapsed = time.monotonic() - posted_at

    assert elapsed < 1.0
    (item,) = [
        e for e in queued_events(redis_client) if e["envelope"]["body"].get("text") == "hello bot"
    ]
    message = item["message"]
    assert message["headers"]["task"] == "tasks.events.handle_event"
    assert message["properties"]["delivery_info"] == {"exchange": "", "routing_key": "events"}
    assert message["properties"]["body_encoding"] == "base64"
    assert item["envelope"]["body"]["groupId"] == group_id


def test_the_same_notification_delivered_twice_is_enqueued_once(
    sandbox: SandboxProcess,
    start_listener: Any,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    listener = start_listener("a")
    listener.wait_leader()

    sandbox.control.duplicate_next(1)
    john.post("/glip/posts", json={"groupId": group_id, "text": "twice"}).raise_for_status()
    john.post("/glip/posts", json={"groupId": group_id, "text": "after"}).raise_for_status()
    wait_for(lambda: posts_in_queue(redis_client).get("after"), timeout=5)

    # The second copy may come in a later batch than "after": wait for its count.
    wait_for(lambda: "glipbot_listener_duplicates_total 1" in listener.metrics(), timeout=5)
    assert posts_in_queue(redis_client)["twice"] == 1


def _malformed(key: str) -> list[tuple[str, Any]]:
    """Five kinds of bad payload, 200 each: (kind, PubNub message)."""
    cipher = AES.new(base64.b64decode(key), AES.MODE_ECB)
    bad_padding = base64.b64encode(cipher.encrypt(b"x" * 32)).decode()
    kinds: list[tuple[str, Any]] = [
        ("bad_base64", "this is not base64 at all!"),
        ("wrong_key", encrypt_notification(new_key(), {"uuid": "u", "event": "e"})),
        ("bad_padding", bad_padding),
        ("not_json", encrypt(key, b"{not json")),
        ("missing_fields", encrypt_notification(key, {"uuid": "x", "event": "/x"})),
    ]
    return [kind for kind in kinds for _ in range(200)]


def test_1000_malformed_messages_leave_the_listener_healthy_with_1000_dead_letters(
    sandbox: SandboxProcess,
    start_listener: Any,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    listener = start_listener("a")
    subscription = bot_subscription(sandbox, listener.wait_leader()["subscription_id"])
    mode = subscription["deliveryMode"]

    for _kind, message in _malformed(mode["encryptionKey"]):
        sandbox.control.publish_raw(mode["subscriberKey"], mode["address"], message)
    wait_for(lambda: redis_client.llen("glipbot:deadletters") >= 1000, timeout=30, interval=0.2)
    john.post("/glip/posts", json={"groupId": group_id, "text": "still here"}).raise_for_status()
    wait_for(lambda: posts_in_queue(redis_client).get("still here"), timeout=5)

    code, health = listener.health()
    assert (code, health["status"]) == (200, "ok")
    assert redis_client.llen("glipbot:deadletters") == 1000
    reasons = health["metrics"]
    assert reasons["dead_letters"] == 1000
    text = listener.metrics()
    for reason in ("bad_base64", "bad_padding", "not_json", "invalid_event"):
        assert f'glipbot_listener_dead_letters_total{{reason="{reason}"}}' in text
