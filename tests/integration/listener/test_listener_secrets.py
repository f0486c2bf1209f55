"""Secrets never appear in the listener's logs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from devtools.sandbox_process import SandboxProcess
from sandbox.testing import DEFAULT_CLIENT_SECRET
from tests.integration.listener.listener_support import (
    bot_subscription,
    posts_in_queue,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_secrets_never_appear_in_captured_logs(
    sandbox: SandboxProcess,
    start_listener: Any,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    """Run with JSON logs through login, delivery, a renewal, a bad message and shutdown."""
    john, group_id = john_chat
    listener = start_listener("a", LOG_LEVEL="DEBUG")
    subscription = bot_subscription(sandbox, listener.wait_leader()["subscription_id"])
    mode = subscription["deliveryMode"]
    john.post("/glip/posts", json={"groupId": group_id, "text": "hi"}).raise_for_status()
    sandbox.control.publish_raw(mode["subscriberKey"], mode["address"], "garbage!")
    wait_for(lambda: posts_in_queue(redis_client).get("hi"), timeout=5)
    time.sleep(5)  # at least one renewal with a 6-second lifetime
    token = json.loads(redis_client.get("glipbot:token") or "{}")
    assert listener.stop() == 0
    output = listener.output()

    assert '"subscription_renewed"' in output  # the run covered a renewal
    secrets = {
        "password": "smartfriend",
        "client secret": DEFAULT_CLIENT_SECRET,
        "access token": token["access_token"],
        "encryption key": mode["encryptionKey"],
    }
    leaked = [name for name, value in secrets.items() if value in output]
    assert leaked == []
