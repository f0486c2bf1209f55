"""The subscription is kept alive by renewals, and re-created when the platform loses it."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from typing import Any

import pytest
import redis

from devtools.sandbox_process import SandboxProcess
from tests.integration.listener.listener_support import (
    SUBSCRIPTION_LIFETIME,
    posts_in_queue,
    wait_for,
)

pytestmark = pytest.mark.integration


def _seconds(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


def test_30s_of_steady_posting_with_6s_subscriptions_lose_nothing_and_renew_on_time(
    sandbox: SandboxProcess,
    start_listener: Any,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    """Given 6-second subscriptions, when John posts every 0.25 s for 30 s, then every
    post is queued exactly once, and the one subscription was renewed before each expiry."""
    john, group_id = john_chat
    listener = start_listener("a")
    subscription_id = listener.wait_leader()["subscription_id"]

    texts: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = f"steady {len(texts)}"
        john.post("/glip/posts", json={"groupId": group_id, "text": text}).raise_for_status()
        texts.append(text)
        time.sleep(0.25)
    wait_for(lambda: all(t in posts_in_queue(redis_client) for t in texts), timeout=5)

    queued = posts_in_queue(redis_client)
    assert {t: queued.get(t) for t in texts} == dict.fromkeys(texts, 1)
    renewals = sandbox.control.requests(path="/restapi/v1.0/subscription/*/renew", method="POST")
    assert {r["status"] for r in renewals} == {200}
    assert {r["path"].split("/")[-2] for r in renewals} == {subscription_id}
    times = [_seconds(r["time"]) for r in renewals]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    lifetime = float(SUBSCRIPTION_LIFETIME)
    assert len(renewals) >= 30 / lifetime
    assert max(gaps) < lifetime  # renewed before every expiry
    assert listener.health()[1]["metrics"]["recreations"] == 0


def test_a_deleted_subscription_is_recreated_and_the_gap_is_reported(
    sandbox: SandboxProcess,
    start_listener: Any,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    """When the platform deletes the subscription, the listener re-creates it and
    moves to the new channel; posts made after that are delivered, and so is
    the post made in the gap.

    While no subscription exists the platform publishes nothing, so PubNub's
    catch-up has nothing to replay: the post made in the gap comes back by
    backfill (``GET /glip/posts`` after the chat's last seen event). The gap
    is still reported: ``subscription_gaps_total``,
    ``subscription_gap_seconds_total``, an error log event ``subscription_gap``
    and a window record in ``glipbot:listener:gaps`` (an upper bound: from the
    last time the platform confirmed the old subscription to the creation of
    the new one).
    """
    john, group_id = john_chat
    listener = start_listener("a")
    old_id = listener.wait_leader()["subscription_id"]
    john.post("/glip/posts", json={"groupId": group_id, "text": "before"}).raise_for_status()
    wait_for(lambda: posts_in_queue(redis_client).get("before"), timeout=5)

    deleted_at = time.time()
    sandbox.control.delete_subscription(old_id)
    john.post("/glip/posts", json={"groupId": group_id, "text": "in the gap"}).raise_for_status()

    def recreated() -> bool:
        _, body = listener.health()
        return bool(body["subscription_id"] not in (None, old_id) and body["status"] == "ok")

    wait_for(recreated, timeout=10, interval=0.1)
    john.post("/glip/posts", json={"groupId": group_id, "text": "after"}).raise_for_status()
    wait_for(lambda: posts_in_queue(redis_client).get("after"), timeout=5)
    wait_for(lambda: posts_in_queue(redis_client).get("in the gap"), timeout=10)

    queued = posts_in_queue(redis_client)
    assert (queued.get("before"), queued.get("in the gap"), queued.get("after")) == (1, 1, 1)
    metrics = listener.health()[1]["metrics"]
    assert (metrics["recreations"], metrics["subscription_gaps"]) == (1, 1)
    gap = json.loads(redis_client.lindex("glipbot:listener:gaps", 0) or "{}")
    assert gap["old"] == old_id
    assert gap["start"] <= deleted_at <= gap["end"]
    assert '"subscription_gap"' in listener.output()


def _renewed_after_command(listener: Any) -> bool:
    """The listener took the ``renew`` command and renewed after it (its log, in order).

    The sandbox's renew requests alone cannot tell: the 6-second subscriptions are
    renewed every few seconds anyway.
    """
    events = [(e["event"], e.get("command")) for e in listener.json_lines()]
    taken = events.index(("ops_command", "renew")) if ("ops_command", "renew") in events else None
    return taken is not None and ("subscription_renewed", None) in events[taken:]


def test_ops_commands_renew_and_recreate(
    sandbox: SandboxProcess, start_listener: Any, redis_client: redis.Redis
) -> None:
    """``renew`` renews the subscription at once; ``recreate`` moves to a new one, then
    deletes the old one (after adopting the new: each step is waited for, not raced)."""
    listener = start_listener("a")
    old_id = listener.wait_leader()["subscription_id"]

    redis_client.rpush("glipbot:listener:commands", json.dumps({"command": "renew"}))
    wait_for(lambda: _renewed_after_command(listener), timeout=10)
    assert listener.health()[1]["subscription_id"] == old_id  # renewed, not replaced

    redis_client.rpush("glipbot:listener:commands", json.dumps({"command": "recreate"}))
    wait_for(lambda: listener.health()[1]["subscription_id"] not in (None, old_id), timeout=10)

    # The keeper adopts the new subscription (what /healthz shows) before deleting the old one.
    deletes = wait_for(
        lambda: sandbox.control.requests(
            path=f"/restapi/v1.0/subscription/{old_id}", method="DELETE"
        ),
        timeout=10,
    )
    assert [d["status"] for d in deletes] == [204]
    assert listener.health()[1]["metrics"]["subscription_gaps"] == 0
