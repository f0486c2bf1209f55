"""kill -9 of the leader: a standby takes over within the lease TTL, nothing lost or doubled."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
import redis

from tests.integration.listener.listener_support import (
    LEASE_TTL,
    posts_in_queue,
    queued_events,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_a_standby_takes_over_from_a_killed_leader_and_resumes_from_the_stored_timetoken(
    start_listener: Any, john_chat: tuple[Any, str], redis_client: redis.Redis
) -> None:
    john, group_id = john_chat
    leader = start_listener("a")
    first = leader.wait_leader()
    standby = start_listener("b")
    wait_for(lambda: standby.health()[1]["role"] == "standby", timeout=10)
    for i in range(3):
        john.post("/glip/posts", json={"groupId": group_id, "text": f"pre {i}"})
    wait_for(lambda: posts_in_queue(redis_client).get("pre 2"), timeout=5)

    leader.signal(signal.SIGKILL)  # no lease release, no shutdown hook
    killed_at = time.monotonic()
    during = [f"during {i}" for i in range(10)]
    for text in during:
        john.post("/glip/posts", json={"groupId": group_id, "text": text}).raise_for_status()
        time.sleep(0.1)
    second = standby.wait_leader(timeout=float(LEASE_TTL) + 5)
    took_over_after = time.monotonic() - killed_at
    john.post("/glip/posts", json={"groupId": group_id, "text": "post"}).raise_for_status()
    wait_for(lambda: posts_in_queue(redis_client).get("post"), timeout=5)

    # The lease TTL plus one standby poll (ttl/5) plus the time to answer /healthz.
    assert took_over_after < float(LEASE_TTL) * 1.2 + 1.0
    assert second["subscription_id"] == first["subscription_id"]  # reused, not re-created
    assert second["fence"] > first["fence"]
    queued = posts_in_queue(redis_client)
    expected = [f"pre {i}" for i in range(3)] + during + ["post"]
    assert {t: queued.get(t) for t in expected} == dict.fromkeys(expected, 1)
    uuids = [e["uuid"] for e in queued_events(redis_client)]
    assert len(uuids) == len(set(uuids))
