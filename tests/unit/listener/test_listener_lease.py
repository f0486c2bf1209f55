"""The leader lease: acquire, extend, lose, release, and the fencing token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from listener.lease import Lease

KEY, FENCE = "t:lease", "t:fence"


def run(redis_url: str, scenario: Callable[[aioredis.Redis], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await scenario(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_one_holder_at_a_time_and_the_fence_grows_with_each_acquisition(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        a, b = Lease(client, KEY, FENCE, "a", 5), Lease(client, KEY, FENCE, "b", 5)
        assert await a.try_acquire() == 1
        assert await b.try_acquire() is None
        assert await b.try_acquire() is None  # failed tries do not burn fences
        assert await a.holder() == "a"
        assert await client.get(KEY) == "1:a"
        assert await a.release() is True
        assert await b.try_acquire() == 2
        assert await b.holder() == "b"

    run(redis_url, scenario)


def test_extend_pushes_the_expiry_back_only_for_the_holder(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        a = Lease(client, KEY, FENCE, "a", 0.3)
        await a.try_acquire()
        await asyncio.sleep(0.2)
        assert await a.extend() is True
        assert 200 < await client.pttl(KEY) <= 300
        await client.set(KEY, "99:intruder")
        assert await a.extend() is False
        assert a.held is False
        assert await a.release() is False
        assert await client.get(KEY) == "99:intruder"  # not ours: left alone

    run(redis_url, scenario)


def test_a_lease_that_expired_is_taken_by_another_and_lost_by_the_first(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        a, b = Lease(client, KEY, FENCE, "a", 0.1), Lease(client, KEY, FENCE, "b", 5)
        await a.try_acquire()
        await asyncio.sleep(0.15)
        assert await b.try_acquire() == 2
        assert await a.extend() is False

    run(redis_url, scenario)


def test_keep_returns_as_soon_as_the_lease_is_lost(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        a = Lease(client, KEY, FENCE, "a", 0.3)
        await a.try_acquire()
        keeper = asyncio.create_task(a.keep())
        await asyncio.sleep(0.5)
        assert not keeper.done()  # kept alive past its TTL
        await client.delete(KEY)
        await asyncio.wait_for(keeper, 0.5)
        assert a.held is False

    run(redis_url, scenario)


def test_keep_gives_up_when_redis_stays_unreachable_for_two_thirds_of_the_ttl() -> None:
    now = [0.0]

    class Down:
        def register_script(self, _src: str) -> Callable[..., Awaitable[Any]]:
            async def call(**_kw: Any) -> Any:
                raise RedisConnectionError("down")

            return call

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    async def scenario() -> None:
        lease = Lease(Down(), KEY, FENCE, "a", 9, clock=lambda: now[0])  # type: ignore[arg-type]
        lease.fence = 1
        errors: list[Exception] = []
        await lease.keep(sleep=fake_sleep, on_error=errors.append)
        assert lease.held is False
        assert now[0] == 6.0  # two failed extensions, 3 s apart
        assert len(errors) == 2

    asyncio.run(scenario())


def test_confirm_reads_in_redis_whether_this_reign_still_holds_the_lease(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        a = Lease(client, KEY, FENCE, "a", 5)
        assert await a.confirm() is False  # never held
        await a.try_acquire()
        assert await a.confirm() is True
        await client.set(KEY, "2:b")  # a successor, while this process believes it leads
        assert a.held is True
        assert await a.confirm() is False

    run(redis_url, scenario)
