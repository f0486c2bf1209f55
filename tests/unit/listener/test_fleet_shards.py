"""Shards of installed bots: each led by one listener at a time, shared out fairly, moved on death.

Two or three :class:`Shards` run in one event loop on a real Redis with a
short TTL; their reigns only record when they ran, so each test can check
that no shard ever had two reigns at once and that every shard had one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from glipbot.state.keys import Keys
from listener.fleet.shards import Membership, Shards, fair_share, shard_of
from listener.lease import Lease
from listener.metrics import Metrics

KEYS = Keys("t:")
TTL = 0.6
SHARDS = 4


class Journal:
    """When each reign ran: ``(shard, instance, start, end, handing_over)``."""

    def __init__(self) -> None:
        self.reigns: list[list[Any]] = []

    def factory(self, instance: str) -> Callable[[int, Lease], Any]:
        journal = self

        class Reign:
            def __init__(self, shard: int, lease: Lease) -> None:
                self.entry = [shard, instance, time.monotonic(), None, None]
                journal.reigns.append(self.entry)

            async def run(self) -> None:
                await asyncio.Event().wait()

            async def stop(self, *, handing_over: bool) -> None:
                self.entry[3], self.entry[4] = time.monotonic(), handing_over

            def describe(self) -> dict[str, Any]:
                return {"shard": self.entry[0], "bots": 0}

            def served(self) -> int:
                return 0

        return Reign

    def overlaps(self) -> list[tuple[Any, Any]]:
        """Pairs of reigns of one shard by two instances whose times overlap."""
        found = []
        now = time.monotonic()
        for i, a in enumerate(self.reigns):
            for b in self.reigns[i + 1 :]:
                if a[0] != b[0]:
                    continue
                if a[2] < (b[3] or now) and b[2] < (a[3] or now):
                    found.append((a, b))
        return found


def run(redis_url: str, scenario: Callable[[aioredis.Redis], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await asyncio.wait_for(scenario(client), 30)
        finally:
            await client.aclose()

    return asyncio.run(main())


def _shards(client: aioredis.Redis, journal: Journal, instance: str) -> Shards:
    return Shards(
        client,
        KEYS,
        Metrics(),
        instance=instance,
        shards=SHARDS,
        ttl=TTL,
        reign=journal.factory(instance),
    )


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.02)


def test_a_bot_always_belongs_to_the_same_shard_and_shares_round_up() -> None:
    assert shard_of("400000010", 8) == shard_of("400000010", 8)
    assert {shard_of(str(400000000 + n), 8) for n in range(200)} == set(range(8))
    assert [fair_share(8, live) for live in (0, 1, 2, 3, 8, 9)] == [8, 8, 4, 3, 1, 1]


def test_membership_counts_the_listeners_that_stamped_within_the_ttl(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        a = Membership(client, KEYS, "a", TTL)
        b = Membership(client, KEYS, "b", TTL)
        assert await a.stamp() == 1
        assert await b.stamp() == 2
        await asyncio.sleep(TTL + 0.1)
        assert await a.stamp() == 1  # b went silent
        await a.leave()
        assert await b.stamp() == 1

    run(redis_url, scenario)


def test_a_lone_listener_leads_every_shard_and_hands_them_over_at_shutdown(
    redis_url: str,
) -> None:
    journal = Journal()

    async def scenario(client: aioredis.Redis) -> None:
        stop = asyncio.Event()
        a = _shards(client, journal, "a")
        task = asyncio.create_task(a.run(stop))
        await _until(lambda: a.led == set(range(SHARDS)))
        stop.set()
        await task
        for shard in range(SHARDS):
            assert await client.get(KEYS.listener_shard_lease(shard)) is None  # released
        assert await client.zcard(KEYS.listener_members) == 0

    run(redis_url, scenario)
    assert sorted(r[0] for r in journal.reigns) == list(range(SHARDS))
    assert all(r[4] is True for r in journal.reigns)  # handed over, not dropped


def test_a_listener_that_joins_gets_its_share_and_a_dead_ones_shards_move(
    redis_url: str,
) -> None:
    journal = Journal()

    async def scenario(client: aioredis.Redis) -> None:
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        a, b = _shards(client, journal, "a"), _shards(client, journal, "b")
        task_a = asyncio.create_task(a.run(stop_a))
        await _until(lambda: len(a.led) == SHARDS)
        task_b = asyncio.create_task(b.run(stop_b))
        await _until(lambda: len(a.led) == 2 and len(b.led) == 2)
        assert a.led | b.led == set(range(SHARDS))
        # "a" dies without a word: its leases expire and "b" takes its shards.
        task_a.cancel()
        await asyncio.gather(task_a, return_exceptions=True)
        died = time.monotonic()
        for reign in journal.reigns:  # a dead listener's reigns end when it dies
            if reign[1] == "a" and reign[3] is None:
                reign[3] = died
        await _until(lambda: len(b.led) == SHARDS)
        # Within the lease TTL, its membership's TTL and a poll or two.
        assert time.monotonic() - died < 2 * TTL + 4 * TTL / 5 + 1.0
        stop_b.set()
        await task_b

    run(redis_url, scenario)
    assert journal.overlaps() == []


@pytest.mark.parametrize("listeners", [3])
def test_three_listeners_each_lead_at_most_their_share_and_never_one_shard_twice(
    redis_url: str, listeners: int
) -> None:
    journal = Journal()

    async def scenario(client: aioredis.Redis) -> None:
        stops = [asyncio.Event() for _ in range(listeners)]
        all_shards = [_shards(client, journal, f"l{n}") for n in range(listeners)]
        tasks = [
            asyncio.create_task(s.run(stop)) for s, stop in zip(all_shards, stops, strict=True)
        ]
        await _until(
            lambda: (
                all(len(s.led) <= fair_share(SHARDS, listeners) for s in all_shards)
                and set().union(*(s.led for s in all_shards)) == set(range(SHARDS))
            )
        )
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks)

    run(redis_url, scenario)
    assert journal.overlaps() == []
