"""Helpers of the listener's integration tests (the fixtures are in conftest.py).

The process helpers (``ListenerProcess`` in :mod:`tests.support.programs`, ``wait_for`` in
:mod:`devtools.processes`) are shared with the stack tests; they are re-exported here for the
listener suite.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import redis

from devtools.processes import wait_for
from devtools.sandbox_process import SandboxProcess
from tests.support.programs import ROOT, ListenerProcess

__all__ = [
    "BOT_ID",
    "LEASE_TTL",
    "ROOT",
    "SUBSCRIPTION_LIFETIME",
    "ListenerProcess",
    "bot_subscription",
    "posts_in_queue",
    "queued_events",
    "wait_for",
]

BOT_ID = "400000001"
#: The short lifetimes the issue asks for; the lease TTL is short so takeover tests are quick.
SUBSCRIPTION_LIFETIME = "6"
LEASE_TTL = "3"


def queued_events(client: redis.Redis, queue: str = "events") -> list[dict[str, Any]]:
    """Every Celery message in ``queue``, oldest first, as ``{uuid, envelope, message}``."""
    out = []
    for raw in reversed(client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        env = kwargs["envelope"]
        out.append({"uuid": env["uuid"], "envelope": env, "message": message})
    return out


def posts_in_queue(client: redis.Redis) -> dict[str, int]:
    """``text → count`` of the ``PostAdded`` events in the queue."""
    counts: dict[str, int] = {}
    for item in queued_events(client):
        body = item["envelope"]["body"]
        if body.get("eventType") == "PostAdded":
            counts[body["text"]] = counts.get(body["text"], 0) + 1
    return counts


def bot_subscription(sandbox: SandboxProcess, subscription_id: str) -> dict[str, Any]:
    """The platform's SubscriptionInfo (with address, subscriberKey, encryptionKey)."""
    answer = sandbox.control.act(BOT_ID, "GET", f"/restapi/v1.0/subscription/{subscription_id}")
    assert answer["status"] == 200, answer
    return dict(answer["body"])
