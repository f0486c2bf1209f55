"""A leader deposed while it was stopped steps down, stands by, and leads again.

The fault run's hang: the leader SIGSTOPped past its lease, a standby takes over, the
old leader resumes (SIGCONT). It must notice at once that it lost the lease, stop its
reign within bounded steps, report ``standby`` (over HTTP and in its Redis mirror),
and take the lease again when the new leader dies; and SIGTERM must still stop it.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
import redis

from tests.integration.listener.listener_support import LEASE_TTL, ListenerProcess, wait_for

pytestmark = pytest.mark.integration

TTL = float(LEASE_TTL)
#: Generous bounds on each wait (a loaded machine), far below "for ever".
TAKEOVER = TTL * 2 + 10


def mirrored_status(client: redis.Redis, instance: str) -> dict[str, Any] | None:
    """What ``instance`` last copied of its ``/healthz`` into Redis."""
    raw = client.get(f"glipbot:listener:status:{instance}")
    return json.loads(raw) if raw else None


def stood_down(listener: ListenerProcess, client: redis.Redis, leader: str) -> bool:
    code, body = listener.health()
    mirror = mirrored_status(client, listener.name.removeprefix("listener-")) or {}
    return (
        (code, body["role"], body["status"]) == (200, "standby", "ok")
        and body["metrics"]["lease_lost"] == 1
        and (mirror.get("role"), mirror.get("status"), mirror.get("leader"))
        == ("standby", "ok", leader)
    )


def test_a_leader_stopped_past_its_lease_stands_by_then_takes_over_when_the_new_leader_dies(
    start_listener: Any, redis_client: redis.Redis
) -> None:
    a = start_listener("a")
    first = a.wait_leader()
    b = start_listener("b")
    wait_for(lambda: b.health()[1]["role"] == "standby", timeout=10)

    a.signal(signal.SIGSTOP)
    try:
        second = b.wait_leader(timeout=TAKEOVER)  # a's lease expired while it was stopped
    finally:
        a.signal(signal.SIGCONT)
    assert second["fence"] > first["fence"]

    wait_for(lambda: stood_down(a, redis_client, leader="b"), timeout=TAKEOVER)
    assert b.health()[1]["role"] == "leader"  # the resumed leader left b alone
    lines = list(a.json_lines())
    assert [e["event"] for e in lines].count("lease_lost_stopped_consuming") == 1
    assert not [e for e in lines if e["event"] in ("watchdog_exit", "listener_task_abandoned")]

    b.signal(signal.SIGKILL)  # no release: a takes over when the lease expires
    third = a.wait_leader(timeout=TAKEOVER)
    assert third["fence"] > second["fence"]
    assert third["metrics"]["lease_acquired"] == 2

    assert a.stop() == 0  # SIGTERM: a clean, bounded shutdown
    assert redis_client.get("glipbot:listener:lease") is None  # released for a successor
