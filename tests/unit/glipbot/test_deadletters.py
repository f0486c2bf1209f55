"""glipbot.state.deadletters: records, the cap that counts what it trims, replay order."""

from __future__ import annotations

import redis

from glipbot.state.deadletters import DeadLetters


def test_push_list_and_pop_oldest(redis_client: redis.Redis) -> None:
    dead = DeadLetters(redis_client, "t:dead")
    first = dead.push("listener", "bad_padding", "Zm9v", channel="c", timetoken=1)
    dead.push("worker", "boom", {"a": 1})

    assert dead.count() == 2
    assert [r["reason"] for r in dead.list()] == ["boom", "bad_padding"]
    assert first["context"] == {"channel": "c", "timetoken": 1}
    assert dead.pop_oldest() == first
    assert dead.count() == 1


def test_the_cap_trims_the_oldest_and_counts_them(redis_client: redis.Redis) -> None:
    dead = DeadLetters(redis_client, "t:dead", max_len=3)
    for i in range(5):
        dead.push("listener", "r", i)

    assert [r["payload"] for r in dead.list()] == [4, 3, 2]
    assert dead.trimmed() == 2


def test_a_payload_that_is_not_json_is_kept_as_text(redis_client: redis.Redis) -> None:
    dead = DeadLetters(redis_client, "t:dead")
    dead.push("listener", "r", b"\x00raw")
    assert dead.list()[0]["payload"] == "b'\\x00raw'"
    assert DeadLetters(redis_client, "t:dead").pop_oldest() is not None
    assert dead.pop_oldest() is None
