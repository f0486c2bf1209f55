"""listener.resume.deaf_since and listener.recovery: when to backfill, and where it goes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from glipbot.state.keys import Keys
from listener.backfill import Found
from listener.metrics import Metrics
from listener.recovery import Recovery
from listener.resume import PUBNUB_RETENTION, TIMETOKENS_PER_SECOND, deaf_since
from listener.subscription import SubscriptionInfo

KEYS = Keys("t:")
NOW = 1_700_000_000.0


def _info(*, created: bool) -> SubscriptionInfo:
    return SubscriptionInfo("s1", "ch", "sub-key", "key", NOW + 900, 900, created=created)


def _deaf_since(redis_url: str, info: SubscriptionInfo, last_event: float | None) -> float | None:
    async def main() -> float | None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            if last_event is not None:
                await client.set(KEYS.timetoken, int(last_event * TIMETOKENS_PER_SECOND))
            return await deaf_since(info, client, KEYS, clock=lambda: NOW)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_a_recreated_subscription_follows_a_window_that_began_at_the_last_event(
    redis_url: str,
) -> None:
    assert _deaf_since(redis_url, _info(created=True), NOW - 30) == pytest.approx(NOW - 30)


def test_a_reused_subscription_read_recently_lost_nothing(redis_url: str) -> None:
    assert _deaf_since(redis_url, _info(created=False), NOW - 30) is None


def test_a_reused_subscription_past_pubnubs_retention_may_have_lost_events(
    redis_url: str,
) -> None:
    last = NOW - PUBNUB_RETENTION - 1
    assert _deaf_since(redis_url, _info(created=False), last) == pytest.approx(last)


def test_nothing_is_recovered_when_nothing_was_ever_consumed(redis_url: str) -> None:
    assert _deaf_since(redis_url, _info(created=True), None) is None


class _Backfill:
    def __init__(self, found: Found, error: Exception | None = None) -> None:
        self.found, self.error = found, error
        self.asked: list[tuple[dict[str, float], float]] = []

    def missed(self, seen: dict[str, float], since: float, now: float) -> Found:
        self.asked.append((seen, since))
        if self.error is not None:
            raise self.error
        return self.found


class _Ingest:
    def __init__(self) -> None:
        self.recovered: list[dict[str, Any]] = []

    def submit_recovered(self, envelopes: list[dict[str, Any]]) -> None:
        self.recovered += envelopes


def _recover(redis_url: str, backfill: _Backfill, ingest: _Ingest, metrics: Metrics) -> None:
    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.zadd(KEYS.listener_chats, {"g1": NOW - 100})
            recovery = Recovery(backfill, client, KEYS, metrics, ingest)  # type: ignore[arg-type]
            recovery.after(NOW - 60)
            assert recovery.task is not None
            await recovery.task
        finally:
            await client.aclose()

    asyncio.run(main())


def test_recovered_notifications_go_to_ingest_and_are_counted(redis_url: str) -> None:
    envelope = {"uuid": "backfill-post-p1"}
    backfill = _Backfill(Found(envelopes=[envelope], chats=1, pages=1, posts=1))
    ingest, metrics = _Ingest(), Metrics()

    _recover(redis_url, backfill, ingest, metrics)

    assert backfill.asked == [({"g1": NOW - 100}, NOW - 60)]
    assert ingest.recovered == [envelope]
    assert (metrics.get("backfill_runs"), metrics.get("backfill_recovered", kind="post")) == (1, 1)


def test_a_failed_backfill_is_counted_and_ends_quietly(redis_url: str) -> None:
    backfill = _Backfill(Found(), error=ConnectionError("platform unreachable"))
    ingest, metrics = _Ingest(), Metrics()

    _recover(redis_url, backfill, ingest, metrics)

    assert ingest.recovered == []
    assert (metrics.get("backfill_failures"), metrics.get("backfill_runs")) == (1, 0)
