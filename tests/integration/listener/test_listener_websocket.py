"""The listener over RingCentral's WebSocket gateway (the sandbox's), end to end.

Every test runs the real listener (``python -m listener`` with
``NOTIFICATION_TRANSPORT=websocket``) against the sandbox and a real
redis-server, and reads what reached the ``events`` queue.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from devtools.sandbox_process import SandboxProcess
from tests.integration.listener.listener_support import (
    LEASE_TTL,
    ListenerProcess,
    posts_in_queue,
    queued_events,
    wait_for,
)

pytestmark = pytest.mark.integration

#: Generous wstoken budgets: these tests reconnect on purpose, many times a minute.
AUTH_LIMIT = "60"


@pytest.fixture
def sandbox() -> Iterator[SandboxProcess]:
    """A sandbox whose Auth group allows the tests' many reconnections."""
    with SandboxProcess("--rate-window", "10", "--rate-limit", f"Auth={AUTH_LIMIT}") as sb:
        yield sb


@pytest.fixture
def ws_listener(
    start_listener: Callable[..., ListenerProcess],
) -> Callable[..., ListenerProcess]:
    """Start a listener over WebSocket (same fixtures as the PubNub tests)."""

    def start(name: str = "a", **env: str) -> ListenerProcess:
        return start_listener(
            name,
            NOTIFICATION_TRANSPORT="websocket",
            RATE_LIMITS=f"Light=50/10,Medium=40/10,Heavy=10/10,Auth={AUTH_LIMIT}/10",
            **env,
        )

    return start


def _post(john: Any, group_id: str, text: str) -> None:
    john.post("/glip/posts", json={"groupId": group_id, "text": text}).raise_for_status()


def _counts(client: redis.Redis, texts: list[str]) -> dict[str, int | None]:
    queued = posts_in_queue(client)
    return {t: queued.get(t) for t in texts}


def _assert_each_once(client: redis.Redis, texts: list[str]) -> None:
    assert _counts(client, texts) == dict.fromkeys(texts, 1)
    uuids = [e["uuid"] for e in queued_events(client)]
    assert len(uuids) == len(set(uuids))


def _wait_all(client: redis.Redis, texts: list[str], timeout: float) -> None:
    wait_for(lambda: all(_counts(client, texts).values()), timeout=timeout)


def _session(sandbox: SandboxProcess) -> dict[str, Any]:
    sessions = [s for s in sandbox.control.websocket_state()["sessions"] if s["subscription_id"]]
    assert len(sessions) == 1, sessions
    return sessions[0]


def _cut_off_after_one_post(
    listener: ListenerProcess,
    sandbox: SandboxProcess,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> tuple[ListenerProcess, str]:
    """``before`` is queued, then the leader's socket is cut and reconnecting refused.

    Returns the listener and the subscription id it had; ``refuse_websockets(0)`` ends it.
    """
    john, group_id = john_chat
    listener.wait_leader()
    _post(john, group_id, "before")
    _wait_all(redis_client, ["before"], timeout=10)
    subscription = str(_session(sandbox)["subscription_id"])
    sandbox.control.refuse_websockets(60)
    assert sandbox.control.drop_websockets() == 1
    wait_for(lambda: not listener.health()[1]["websocket"]["connected"], timeout=10)
    return listener, subscription


def test_a_post_reaches_the_events_queue_over_websocket(
    ws_listener: Any,
    sandbox: SandboxProcess,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    listener = ws_listener()
    health = listener.wait_leader()
    assert health["transport"] == "websocket"
    wait_for(lambda: listener.health()[1]["websocket"]["connected"], timeout=10)
    started = time.monotonic()
    _post(john, group_id, "hello over websocket")
    _wait_all(redis_client, ["hello over websocket"], timeout=10)
    # Reported, not asserted (no test asserts on speed): `make bench` measures it.
    print(f"post → events queue over WebSocket: {time.monotonic() - started:.3f}s")
    _assert_each_once(redis_client, ["hello over websocket"])
    health = listener.health()[1]
    assert health["websocket"]["subscription_id"] == _session(sandbox)["subscription_id"]
    assert health["metrics"]["websocket_connections"] == 1
    assert "glipbot_listener_websocket_session_age_seconds" in listener.metrics()


def test_heartbeats_keep_a_three_second_idle_timeout_from_closing_the_session(
    ws_listener: Any,
    sandbox: SandboxProcess,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    sandbox.control.websocket_config(idleTimeout=3)
    listener = ws_listener()
    listener.wait_leader()
    wait_for(lambda: listener.health()[1]["websocket"]["connected"], timeout=10)
    time.sleep(15)  # the duration under test: five idle timeouts with nothing to deliver
    _post(john, group_id, "still here")
    _wait_all(redis_client, ["still here"], timeout=10)
    health = listener.health()[1]
    assert health["metrics"]["websocket_connections"] == 1  # never reconnected
    assert health["metrics"]["reconnects"] == 0
    assert health["metrics"]["websocket_heartbeats"] >= 10
    assert _session(sandbox)["heartbeats"] >= 10


def test_a_dropped_socket_recovers_the_session_with_every_missed_event_once(
    ws_listener: Any,
    sandbox: SandboxProcess,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    listener, subscription = _cut_off_after_one_post(
        ws_listener(), sandbox, john_chat, redis_client
    )
    away = [f"away {i}" for i in range(5)]
    for text in away:
        _post(john, group_id, text)
    sandbox.control.refuse_websockets(0)
    _post(john, group_id, "after")
    expected = ["before", *away, "after"]
    _wait_all(redis_client, expected, timeout=30)

    _assert_each_once(redis_client, expected)
    health = listener.health()[1]
    assert health["websocket"]["subscription_id"] == subscription  # the same session
    assert health["metrics"]["websocket_recoveries"] >= 1
    assert 'result="successful"' in listener.metrics()
    assert health["metrics"]["websocket_subscriptions"] == 1  # never re-subscribed
    assert health["metrics"]["backfill_runs"] == 0


def test_a_failed_recovery_subscribes_again_and_backfills_the_gap(
    ws_listener: Any,
    sandbox: SandboxProcess,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    listener, old = _cut_off_after_one_post(ws_listener(), sandbox, john_chat, redis_client)
    lost = [f"lost {i}" for i in range(4)]
    for text in lost:
        _post(john, group_id, text)
    sandbox.control.expire_websocket_sessions()  # the session and its buffer are gone
    sandbox.control.refuse_websockets(0)
    expected = ["before", *lost]
    _wait_all(redis_client, expected, timeout=40)
    _post(john, group_id, "after")
    _wait_all(redis_client, [*expected, "after"], timeout=10)

    _assert_each_once(redis_client, [*expected, "after"])
    health = listener.health()[1]
    assert health["websocket"]["subscription_id"] not in (None, old)
    assert 'result="failed"' in listener.metrics()
    assert health["metrics"]["websocket_subscriptions"] == 2
    assert health["metrics"]["subscription_gaps"] >= 1
    assert health["metrics"]["backfill_recovered"] >= len(lost)


def test_the_absolute_timeout_is_crossed_without_loss(
    ws_listener: Any,
    sandbox: SandboxProcess,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    sandbox.control.websocket_config(absoluteTimeout=3)
    listener = ws_listener()
    listener.wait_leader()
    texts = [f"steady {i}" for i in range(40)]
    for text in texts:  # about 10 s: three sockets or more
        _post(john, group_id, text)
        time.sleep(0.25)
    _wait_all(redis_client, texts, timeout=20)

    _assert_each_once(redis_client, texts)
    health = listener.health()[1]
    assert health["metrics"]["websocket_connections"] >= 3
    assert health["metrics"]["websocket_subscriptions"] == 1  # every replacement recovered
    assert 'result="failed"' not in listener.metrics()
    assert health["metrics"]["backfill_runs"] == 0


def test_a_standby_recovers_the_killed_leaders_session_nothing_lost_or_doubled(
    ws_listener: Any,
    sandbox: SandboxProcess,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    leader = ws_listener("a")
    first = leader.wait_leader()
    standby = ws_listener("b")
    wait_for(lambda: standby.health()[1]["role"] == "standby", timeout=10)
    wait_for(lambda: leader.health()[1]["websocket"]["connected"], timeout=10)
    subscription = leader.health()[1]["websocket"]["subscription_id"]

    texts = [f"event {i}" for i in range(41)]
    errors: list[BaseException] = []

    def post_all() -> None:
        try:
            for text in texts:
                _post(john, group_id, text)
                time.sleep(0.1)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    poster = threading.Thread(target=post_all)
    poster.start()
    wait_for(lambda: posts_in_queue(redis_client).get("event 10"), timeout=10)
    leader.signal(signal.SIGKILL)  # no lease release, no close frame
    poster.join(timeout=30)
    assert not errors
    second = standby.wait_leader(timeout=float(LEASE_TTL) + 10)
    _wait_all(redis_client, texts, timeout=30)

    _assert_each_once(redis_client, texts)
    assert second["fence"] > first["fence"]
    health = standby.health()[1]
    assert health["transport"] == "websocket"
    assert health["websocket"]["subscription_id"] == subscription  # the session recovered
    assert 'result="successful"' in standby.metrics()
    assert health["metrics"]["websocket_subscriptions"] == 0


def test_a_subscription_deleted_behind_the_sockets_back_is_made_again_and_backfilled(
    ws_listener: Any,
    sandbox: SandboxProcess,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    listener = ws_listener()  # SUBSCRIPTION_CHECK_INTERVAL=1 (conftest)
    listener.wait_leader()
    _post(john, group_id, "before")
    _wait_all(redis_client, ["before"], timeout=10)
    old = _session(sandbox)["subscription_id"]

    sandbox.control.delete_subscription(old)  # the socket stays up, and silent
    unheard = [f"unheard {i}" for i in range(3)]
    for text in unheard:
        _post(john, group_id, text)
    _wait_all(redis_client, ["before", *unheard], timeout=30)
    _post(john, group_id, "after")
    _wait_all(redis_client, ["before", *unheard, "after"], timeout=10)

    _assert_each_once(redis_client, ["before", *unheard, "after"])
    health = listener.health()[1]
    assert health["websocket"]["subscription_id"] not in (None, old)
    assert health["metrics"]["websocket_connections"] == 1  # the same socket
    assert health["metrics"]["websocket_subscriptions"] == 2
    assert health["metrics"]["backfill_recovered"] >= len(unheard)


def test_a_recovery_buffer_that_overflowed_is_made_good_by_backfill(
    ws_listener: Any,
    sandbox: SandboxProcess,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    sandbox.control.websocket_config(recoveryBufferSize=3)
    listener, subscription = _cut_off_after_one_post(
        ws_listener(), sandbox, john_chat, redis_client
    )
    away = [f"away {i}" for i in range(7)]  # the gateway keeps the newest 3
    for text in away:
        _post(john, group_id, text)
    sandbox.control.refuse_websockets(0)
    expected = ["before", *away]
    _wait_all(redis_client, expected, timeout=40)

    _assert_each_once(redis_client, expected)
    health = listener.health()[1]
    assert health["websocket"]["subscription_id"] == subscription  # recovered, not re-made
    assert health["metrics"]["websocket_replay_overflows"] == 1
    assert health["metrics"]["backfill_recovered"] >= len(away) - 3
