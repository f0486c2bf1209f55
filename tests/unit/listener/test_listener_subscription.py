"""Subscription lifecycle with an injected clock: reuse, create, renew, back off, re-create."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis

from glipbot.errors import LoginRefusedError, NotFoundError, RateLimitedError, ServerError
from glipbot.retry import RetryPolicy
from glipbot.state.keys import Keys
from listener.metrics import Metrics
from listener.subscription import (
    EVENT_FILTERS,
    RETRY_POLICY,
    SubscriptionInfo,
    SubscriptionKeeper,
)
from listener.subscription.keeper import NOT_LEADING_PAUSE, QUIET_CHECK

KEYS = Keys("t:")
LIFETIME = 6
#: The keeper's own policy with the jitter at its top (1.0): delays are exact.
NO_JITTER = replace(RETRY_POLICY, jitter=lambda: 1.0)


class FakeApi:
    """The subscription endpoints, in memory; ``fail`` queues errors for the next calls."""

    def __init__(self) -> None:
        self.subs: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: list[Exception] = []
        self._ids = itertools.count(1)
        self.lifetime = LIFETIME

    def _info(self, sub_id: str) -> dict[str, Any]:
        return {
            "id": sub_id,
            "status": "Active",
            "expiresIn": self.lifetime,
            "eventFilters": EVENT_FILTERS,
            "deliveryMode": {
                "address": f"ch-{sub_id}",
                "subscriberKey": "sub-key",
                "encryptionKey": "a2V5a2V5a2V5a2V5a2V5aw==",
            },
        }

    def _call(self, name: str, sub_id: str = "") -> None:
        self.calls.append((name, sub_id))
        if self.fail:
            raise self.fail.pop(0)
        if sub_id and name != "create" and sub_id not in self.subs:
            raise NotFoundError("gone", status=404)

    def create_subscription(
        self, event_filters: list[str], expires_in: int | None = None
    ) -> dict[str, Any]:
        self._call("create")
        sub_id = f"s{next(self._ids)}"
        self.subs[sub_id] = self._info(sub_id)
        return self.subs[sub_id]

    def get_subscription(self, subscription_id: str) -> dict[str, Any]:
        self._call("get", subscription_id)
        return self.subs[subscription_id]

    def list_subscriptions(self) -> list[dict[str, Any]]:
        self._call("list")
        return list(self.subs.values())

    def renew_subscription(self, subscription_id: str) -> dict[str, Any]:
        self._call("renew", subscription_id)
        return self.subs[subscription_id]

    def delete_subscription(self, subscription_id: str) -> None:
        self._call("delete", subscription_id)
        del self.subs[subscription_id]


class World:
    """A keeper with a fake clock and API, and a record of transport moves."""

    def __init__(self, client: aioredis.Redis, retry: RetryPolicy = NO_JITTER) -> None:
        self.now = 1000.0
        self.leading = True
        self.api = FakeApi()
        self.metrics = Metrics()
        self.moves: list[tuple[str, str | None]] = []
        self.last_event: float | None = None
        self.keeper = SubscriptionKeeper(
            self.api,
            client,
            KEYS,
            self.metrics,
            self._moved,
            expires_in=LIFETIME,
            renew_margin=120,
            check_interval=3600,
            clock=lambda: self.now,
            retry=retry,
            leading=self._leading,
            last_event_at=lambda: self.last_event,
        )

    async def _leading(self) -> bool:
        return self.leading

    async def _moved(self, new: SubscriptionInfo, old: SubscriptionInfo | None) -> None:
        self.moves.append((new.id, old.id if old else None))

    async def step_at(self, when: float) -> float:
        self.now = when
        return await self.keeper.step()


def run(
    redis_url: str,
    scenario: Callable[[World, aioredis.Redis], Awaitable[None]],
    retry: RetryPolicy = NO_JITTER,
) -> None:
    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            await scenario(World(client, retry), client)
        finally:
            await client.aclose()

    asyncio.run(main())


def test_creates_records_and_schedules_renewal_at_a_third_of_a_short_lifetime(
    redis_url: str,
) -> None:
    async def scenario(w: World, client: aioredis.Redis) -> None:
        delay = await w.step_at(1000)
        assert w.api.calls[0] == ("create", "")
        assert w.moves == [("s1", None)]
        assert await client.get(KEYS.subscription_id) == "s1"
        assert await client.smembers(KEYS.subscriptions_created) == {"s1"}
        assert delay == pytest.approx(4.0)  # margin = min(120, 6 / 3)
        assert w.keeper.live()
        await w.step_at(1004)
        assert w.api.calls[-1] == ("renew", "s1")
        assert w.keeper.expires_in() == pytest.approx(6.0)
        assert w.metrics.get("renewals") == 1

    run(redis_url, scenario)


def test_reuses_the_recorded_subscription_and_deletes_only_its_own_stale_ones(
    redis_url: str,
) -> None:
    async def scenario(w: World, client: aioredis.Redis) -> None:
        for _ in range(3):
            w.api.create_subscription(EVENT_FILTERS)  # s1 current, s2 ours and stale, s3 not ours
        await client.set(KEYS.subscription_id, "s1")
        await client.sadd(KEYS.subscriptions_created, "s1", "s2", "s-vanished")
        w.api.calls.clear()
        await w.step_at(1000)
        assert ("create", "") not in w.api.calls
        assert w.moves == [("s1", None)]
        assert sorted(w.api.subs) == ["s1", "s3"]
        assert await client.smembers(KEYS.subscriptions_created) == {"s1"}

    run(redis_url, scenario)


def test_a_failed_renewal_backs_off_exponentially_with_a_cap(redis_url: str) -> None:
    async def scenario(w: World, _client: aioredis.Redis) -> None:
        w.api.lifetime = 900
        await w.step_at(1000)  # renew due at 1000 + 900 - 120
        w.api.fail = [ServerError("503", status=503)] * 8
        delays = [await w.step_at(1780)]
        while w.api.fail:
            delays.append(await w.step_at(w.now + delays[-1]))
        # Doubling from 0.5 s, then capped by a third of the remaining lifetime.
        assert delays == pytest.approx([0.5, 1, 2, 4, 8, 16, 88.5 / 3, 59 / 3])
        assert w.metrics.get("renewal_failures") == 8
        assert w.keeper.live()
        await w.step_at(w.now + delays[-1])
        assert w.api.calls[-1][0] == "renew"
        assert w.metrics.get("renewals") == 1

    run(redis_url, scenario)


def test_retries_stay_well_inside_a_short_remaining_lifetime(redis_url: str) -> None:
    async def scenario(w: World, _client: aioredis.Redis) -> None:
        await w.step_at(1000)  # expires at 1006, renew due at 1004
        w.api.fail = [ServerError("503", status=503)] * 3
        delays = [await w.step_at(1004)]
        while w.api.fail:
            delays.append(await w.step_at(w.now + delays[-1]))
        delays.append(await w.step_at(w.now + delays[-1]))
        # min(back-off, remaining / 3): 0.5 (2 s left), 0.5 (1.5 s left), 1/3 (1 s left)
        assert delays == pytest.approx([0.5, 0.5, 1 / 3, 4.0])
        assert w.keeper.live()

    run(redis_url, scenario)


def test_the_jitter_spreads_retries_below_the_lifetime_cap_too(redis_url: str) -> None:
    """The third of the remaining lifetime caps the back-off before the jitter, not after."""

    async def scenario(w: World, _client: aioredis.Redis) -> None:
        await w.step_at(1000)  # expires at 1006, renew due at 1004
        w.api.fail = [ServerError("503", status=503)] * 3
        delays = [await w.step_at(1004)]
        while w.api.fail:
            delays.append(await w.step_at(w.now + delays[-1]))
        # Jitter at its bottom halves min(back-off, remaining / 3):
        # min(0.5, 2 / 3) / 2, then min(1, 1.75 / 3) / 2, then min(2, x / 3) / 2.
        second = 1.75 / 6
        assert delays == pytest.approx([0.25, second, (1.75 - second) / 6])

    run(redis_url, scenario, replace(RETRY_POLICY, jitter=lambda: 0.0))


def test_a_429_on_renewal_waits_out_the_platforms_penalty(redis_url: str) -> None:
    """Calling during the penalty restarts it, so the retry waits the whole Retry-After."""

    async def scenario(w: World, _client: aioredis.Redis) -> None:
        w.api.lifetime = 900
        await w.step_at(1000)
        w.api.fail = [RateLimitedError("429", retry_after=60.0, group="Light")]

        delay = await w.step_at(1780)

        assert delay == pytest.approx(60.0)
        assert w.keeper.live()

    run(redis_url, scenario)


def test_a_404_on_renewal_recreates_moves_the_transport_and_reports_the_gap(
    redis_url: str,
) -> None:
    async def scenario(w: World, client: aioredis.Redis) -> None:
        await w.step_at(1000)
        del w.api.subs["s1"]  # the platform lost it
        assert await w.step_at(1004) == 0.0
        assert not w.keeper.live()
        await w.step_at(1004.1)
        assert w.moves == [("s1", None), ("s2", "s1")]
        assert w.keeper.live()
        assert await client.get(KEYS.subscription_id) == "s2"
        assert w.metrics.get("recreations") == 1
        assert w.metrics.get("subscription_gaps") == 1
        assert w.metrics.get("subscription_gap_seconds") == pytest.approx(4.1)
        assert await client.llen(KEYS.subscription_gaps) == 1

    run(redis_url, scenario)


def test_an_expiry_without_renewal_is_failing_then_recreated(redis_url: str) -> None:
    async def scenario(w: World, _client: aioredis.Redis) -> None:
        await w.step_at(1000)
        w.now = 1007  # renewals never got through: past expiry
        assert not w.keeper.live()
        assert w.keeper.expires_in() == pytest.approx(-1)
        w.api.fail = [ServerError("503", status=503)]
        delay = await w.keeper.step()  # creating fails: still failing, retried
        assert delay == pytest.approx(0.5)
        assert not w.keeper.live()
        await w.step_at(1007.5)
        assert w.keeper.live()
        assert w.moves[-1] == ("s2", "s1")
        assert w.metrics.get("subscription_gap_seconds") == pytest.approx(1.5)  # from expiry

    run(redis_url, scenario)


def test_an_ops_recreate_replaces_a_live_subscription_without_a_gap(redis_url: str) -> None:
    async def scenario(w: World, client: aioredis.Redis) -> None:
        await w.step_at(1000)
        w.keeper.request("recreate")
        await w.step_at(1001)
        assert w.moves[-1] == ("s2", "s1")
        assert "s1" not in w.api.subs
        assert await client.smembers(KEYS.subscriptions_created) == {"s2"}
        assert w.metrics.get("subscription_gaps") == 0
        w.keeper.request("renew")
        await w.step_at(1001.5)
        assert w.api.calls[-1] == ("renew", "s2")

    run(redis_url, scenario)


def test_a_keeper_whose_reign_lost_the_lease_leaves_the_platform_alone(
    redis_url: str,
) -> None:
    """A leader stopped past its lease resumes with a subscription that looks expired:
    it must not re-create it, nor delete the one its successor now reads."""

    async def scenario(w: World, _client: aioredis.Redis) -> None:
        await w.step_at(1000)
        calls = list(w.api.calls)

        w.leading = False  # a successor holds the lease now
        delay = await w.step_at(1000 + LIFETIME + 30)  # "expired", in this keeper's eyes

        assert w.api.calls == calls
        assert delay == NOT_LEADING_PAUSE
        assert (w.metrics.get("recreations"), w.metrics.get("subscription_gaps")) == (0, 0)

    run(redis_url, scenario)


def test_refused_credentials_wait_for_the_token_stores_retry_not_the_back_off(
    redis_url: str,
) -> None:
    """A wrong password is not retried every few seconds: the Auth limit would be spent."""

    async def scenario(w: World, _client: aioredis.Redis) -> None:
        w.api.fail = [
            LoginRefusedError("refused: fix RINGCENTRAL_PASSWORD", setting="x", retry_after=300.0)
        ]

        delay = await w.step_at(1000)

        assert delay == pytest.approx(300.0)
        assert not w.keeper.live()

    run(redis_url, scenario)


def test_a_quiet_channel_has_its_subscription_checked_early_and_a_lost_one_found(
    redis_url: str,
) -> None:
    """The platform dropped the subscription without a word: found within QUIET_CHECK."""

    async def scenario(w: World, _client: aioredis.Redis) -> None:
        w.api.lifetime = 900
        assert await w.step_at(1000) == pytest.approx(QUIET_CHECK)
        del w.api.subs["s1"]  # deleted on the platform's side

        await w.step_at(1000 + QUIET_CHECK)
        await w.step_at(1000 + QUIET_CHECK)

        assert ("get", "s1") in w.api.calls
        assert w.moves == [("s1", None), ("s2", "s1")]
        assert w.metrics.get("subscription_checks_quiet") == 1

    run(redis_url, scenario)


def test_a_busy_channel_is_not_checked_early(redis_url: str) -> None:
    async def scenario(w: World, _client: aioredis.Redis) -> None:
        w.api.lifetime = 900
        await w.step_at(1000)
        for now in range(1005, 1200, 5):
            w.last_event = now - 1.0  # events keep arriving
            await w.step_at(now)

        assert [call for call in w.api.calls if call[0] == "get"] == []

    run(redis_url, scenario)
