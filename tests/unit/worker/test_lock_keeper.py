"""The lock keeper: one thread extends every lock held, and stops at the end of each block."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis
from structlog.testing import capture_logs

from glipbot import log_events as ev
from worker.lock_keeper import LockKeeper

TTL = 0.3


def _keepers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lock-keeper" and t.is_alive()]


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _lock(client: redis.Redis, name: str) -> redis.lock.Lock:
    lock = client.lock(name, timeout=TTL, thread_local=False)
    assert lock.acquire(blocking=False)
    return lock


def test_a_kept_lock_outlives_its_ttl_and_lapses_after_the_block(
    redis_client: redis.Redis,
) -> None:
    keeper = LockKeeper()
    lock = _lock(redis_client, "r:1:lock")

    with keeper.kept(lock, TTL):
        time.sleep(4 * TTL)
        assert lock.owned()

    assert _wait_for(lambda: not redis_client.exists("r:1:lock"), timeout=4 * TTL)


def test_one_thread_keeps_the_locks_of_every_caller(redis_client: redis.Redis) -> None:
    keeper = LockKeeper()
    before = set(_keepers())
    locks = [_lock(redis_client, f"r:{n}:lock") for n in range(5)]
    inside = threading.Barrier(len(locks) + 1)
    leave = threading.Event()

    def hold(lock: redis.lock.Lock) -> None:
        with keeper.kept(lock, TTL):
            inside.wait()
            leave.wait()

    callers = [threading.Thread(target=hold, args=(lock,)) for lock in locks]
    for caller in callers:
        caller.start()
    inside.wait()
    time.sleep(4 * TTL)
    try:
        assert all(lock.owned() for lock in locks)
        assert len(set(_keepers()) - before) == 1
    finally:
        leave.set()
        for caller in callers:
            caller.join()


def test_a_lock_released_after_its_block_is_never_extended_again(
    redis_client: redis.Redis,
) -> None:
    keeper = LockKeeper()
    with capture_logs() as logs:
        for n in range(20):  # some blocks end while an extension is due
            lock = _lock(redis_client, f"r:{n}:lock")
            with keeper.kept(lock, TTL):
                time.sleep(TTL / 3)
            lock.release()
        time.sleep(TTL)

    assert [entry for entry in logs if entry["event"] == ev.REPLY_LOCK_LOST] == []


def test_a_lost_lock_is_logged_and_the_block_goes_on(redis_client: redis.Redis) -> None:
    keeper = LockKeeper()
    lock = _lock(redis_client, "r:lost:lock")

    with capture_logs() as logs, keeper.kept(lock, TTL):
        redis_client.set("r:lost:lock", "another worker")
        assert _wait_for(lambda: any(e["event"] == ev.REPLY_LOCK_LOST for e in logs))
        time.sleep(TTL)

    lost = [entry for entry in logs if entry["event"] == ev.REPLY_LOCK_LOST]
    assert lost == [
        {
            "event": ev.REPLY_LOCK_LOST,
            "lock": "r:lost:lock",
            "error": "LockNotOwnedError",
            "log_level": "warning",
        }
    ]
    assert redis_client.get("r:lost:lock") == "another worker"


def test_an_unexpected_failure_to_extend_is_logged_and_the_other_locks_kept(
    redis_client: redis.Redis,
) -> None:
    keeper = LockKeeper()
    kept = _lock(redis_client, "r:kept:lock")
    broken = _lock(redis_client, "r:broken:lock")

    def fail(*_args: object, **_kwargs: object) -> bool:
        raise ValueError("not a Redis error")

    broken.extend = fail  # type: ignore[method-assign]
    with capture_logs() as logs, keeper.kept(kept, TTL), keeper.kept(broken, TTL):
        time.sleep(4 * TTL)
        assert kept.owned()

    lost = [(e["lock"], e["error"]) for e in logs if e["event"] == ev.REPLY_LOCK_LOST]
    assert lost == [("r:broken:lock", "ValueError")]


def test_the_thread_ends_when_idle_and_starts_again_when_needed(
    redis_client: redis.Redis,
) -> None:
    keeper = LockKeeper(idle_exit=0.1)
    with keeper.kept(_lock(redis_client, "r:a:lock"), TTL):
        pass
    assert _wait_for(lambda: keeper._thread is None)

    lock = _lock(redis_client, "r:b:lock")
    with keeper.kept(lock, TTL):
        time.sleep(4 * TTL)
        assert lock.owned()
