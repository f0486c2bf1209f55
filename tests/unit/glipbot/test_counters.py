"""Counters: the cluster's hash and each bot's share; a task's counts in one round trip."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

from glipbot import log_events as ev
from glipbot.state.counters import Counters
from tests.support.redis_calls import record_calls


def _counters(client: redis.Redis) -> Counters:
    return Counters(client, "counters", bot_key=lambda bot: f"counters:bot:{bot}")


def _round_trips(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every command and every pipeline ``client`` sends from now on (a pipeline once)."""
    calls = record_calls(client, monkeypatch)
    pipeline = client.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("PIPELINE")
        return pipeline(*args, **kwargs)

    monkeypatch.setattr(client, "pipeline", counted)
    return calls


def test_outside_a_batch_each_count_is_written_at_once(redis_client: redis.Redis) -> None:
    counters = _counters(redis_client)

    counters.incr("events_handled", bot="b1")
    counters.incr("replies_posted", 2)

    assert counters.all() == {"events_handled": 1, "replies_posted": 2}
    assert counters.of_bot("b1") == {"events_handled": 1}


def test_a_batch_writes_its_sums_in_one_round_trip_when_it_ends(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    counters = _counters(redis_client)
    calls = _round_trips(redis_client, monkeypatch)

    with counters.batched():
        counters.incr("events_handled", bot="b1")
        counters.incr("replies_enqueued", 2, bot="b1")
        counters.incr("replies_posted", bot="b1")
        counters.incr("replies_posted", bot="b1")
        assert calls == []
        assert counters.all() == {}
        calls.clear()

    assert calls == ["PIPELINE"]
    assert counters.all() == {"events_handled": 1, "replies_enqueued": 2, "replies_posted": 2}
    assert counters.of_bot("b1") == counters.all()


def test_a_nested_batch_leaves_the_write_to_the_outer_one(redis_client: redis.Redis) -> None:
    counters = _counters(redis_client)

    with counters.batched():
        with counters.batched():
            counters.incr("events_handled")
        assert counters.all() == {}

    assert counters.all() == {"events_handled": 1}


def test_a_batch_that_raised_still_writes_its_counts(redis_client: redis.Redis) -> None:
    counters = _counters(redis_client)

    def handler() -> None:
        with counters.batched():
            counters.incr("dead_letters_handle_event")
            raise ValueError("handler")

    with pytest.raises(ValueError, match="handler"):
        handler()

    assert counters.all() == {"dead_letters_handle_event": 1}


def test_counts_that_cannot_be_written_are_logged_not_raised() -> None:
    counters = _counters(redis.Redis(port=1, socket_connect_timeout=0.2))

    with capture_logs() as logs, counters.batched():
        counters.incr("events_handled", bot="b1")

    assert [(e["event"], e["counters"]) for e in logs] == [(ev.COUNTERS_LOST, 2)]


def test_another_threads_counts_are_not_held_by_this_threads_batch(
    redis_client: redis.Redis,
) -> None:
    counters = _counters(redis_client)

    with counters.batched():
        other = threading.Thread(target=counters.incr, args=("canaries",))
        other.start()
        other.join()
        assert counters.all() == {"canaries": 1}
        counters.incr("events_handled")

    assert counters.all() == {"canaries": 1, "events_handled": 1}
