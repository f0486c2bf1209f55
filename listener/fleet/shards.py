"""Installed bots divided among the running listeners: shards, each with its own lease.

An installed bot belongs to shard ``crc32(bot id) mod LISTENER_SHARDS``
(:func:`shard_of`; every listener computes the same). Each shard has a lease
and a fencing token of its own (:class:`~listener.lease.Lease` on
``listener:lease:<shard>``): its holder receives that shard's bots' events
and is the only one whose writes the enqueue script accepts for them.

Every listener runs one loop per shard (:class:`Shards`). A listener leads at
most its **fair share**, ``ceil(shards / live listeners)``, and stands by for
the rest: it tries a free shard's lease every ``ttl/5`` while under its
share. The live listeners are those that said so within the lease TTL
(:class:`Membership`, a sorted set stamped with Redis's own clock, so
machines' clocks do not matter). When a listener joins, the others are over
their share: each gives up its highest-numbered shard, one at a time
(handing it over: buffer enqueued, lease released), until the shares are
even. When one dies, its leases expire within the TTL and the others take
its shards. So no bot is held by two leaders (the fence), nor by none for
longer than the TTL plus a poll.
"""

from __future__ import annotations

import asyncio
import math
import random
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from glipbot import log_events as ev
from glipbot.logging import bound_context, get_logger
from glipbot.state.keys import Keys
from listener.cancellation import StepTimeoutError, cancel_and_wait, run_bounded, wait_or_stop
from listener.lease import Lease
from listener.metrics import Metrics

log = get_logger(__name__)

#: Seconds a shard's reign gets to hand over (enqueue buffers, stop clients).
HAND_OVER_TIMEOUT = 10.0

# KEYS: 1 members zset. ARGV: 1 instance, 2 ttl in ms. Returns the live count.
_STAMP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1])
"""


def shard_of(bot_id: str, shards: int) -> int:
    """The shard installed bot ``bot_id`` belongs to (the same on every listener)."""
    return zlib.crc32(bot_id.encode()) % shards


def fair_share(shards: int, live: int) -> int:
    """How many shards one of ``live`` listeners leads at most."""
    return math.ceil(shards / max(1, live))


class Membership:
    """The listeners alive now: each stamps itself every ``ttl/3``; stamps expire after ``ttl``."""

    def __init__(self, client: aioredis.Redis, keys: Keys, instance: str, ttl: float) -> None:
        self._redis = client
        self._key = keys.listener_members
        self._instance = instance
        self._ttl = ttl
        self._stamp = client.register_script(_STAMP)
        #: Live listeners as last counted (this one included).
        self.live = 1

    async def stamp(self) -> int:
        """Say this listener is alive; return how many are."""
        self.live = max(
            1,
            int(await self._stamp(keys=[self._key], args=[self._instance, int(self._ttl * 1000)])),
        )
        return self.live

    async def leave(self) -> None:
        """Say this listener is gone (at shutdown), so the others take its share at once."""
        await self._redis.zrem(self._key, self._instance)


class ShardReign(Protocol):
    """What leading one shard runs (:class:`listener.fleet.reign.FleetReign`)."""

    async def run(self) -> None:
        """Serve the shard's bots until cancelled."""

    async def stop(self, *, handing_over: bool) -> None:
        """Stop serving; ``handing_over``: enqueue what is buffered first."""

    def describe(self) -> dict[str, Any]:
        """What health shows of the shard."""

    def served(self) -> int:
        """How many bots it serves now."""


#: Builds the reign of shard ``shard`` under ``lease``.
ReignFactory = Callable[[int, Lease], ShardReign]


class Shards:
    """One loop per shard: stand by, lead while within the fair share, hand over."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        metrics: Metrics,
        *,
        instance: str,
        shards: int,
        ttl: float,
        reign: ReignFactory,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._metrics = metrics
        self._instance = instance
        self.count = shards
        self._ttl = ttl
        self._reign = reign
        self._sleep = sleep
        self.membership = Membership(client, keys, instance, ttl)
        #: The shards this listener leads now.
        self.led: set[int] = set()
        #: Their reigns, by shard.
        self.reigns: dict[int, ShardReign] = {}
        metrics.set_gauge("installed_bots", self.served)

    def describe(self) -> dict[str, Any]:
        """What health shows: the shards led, the share, each led shard's bots."""
        return {
            "shards": self.count,
            "led": sorted(self.led),
            "fair_share": self.share(),
            "listeners_live": self.membership.live,
            "bots": self.served(),
            "reigns": [self.reigns[k].describe() for k in sorted(self.reigns)],
        }

    def served(self) -> int:
        """How many installed bots this listener serves now."""
        return sum(reign.served() for reign in self.reigns.values())

    def share(self) -> int:
        """This listener's fair share now."""
        return fair_share(self.count, self.membership.live)

    async def run(self, stop: asyncio.Event) -> None:
        """Run every shard's loop and the membership stamp until ``stop`` is set."""
        tasks = [asyncio.create_task(self._stamping(stop), name="members")]
        tasks += [
            asyncio.create_task(self._shard(shard, stop), name=f"shard-{shard}")
            for shard in range(self.count)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await cancel_and_wait(set(tasks), timeout=HAND_OVER_TIMEOUT)
            try:
                await self.membership.leave()
            except (RedisError, OSError) as exc:
                log.warning(ev.REDIS_UNREACHABLE, step="members_leave", error=str(exc))

    async def _stamping(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.membership.stamp()
            except (RedisError, OSError) as exc:
                self._metrics.inc("redis_errors")
                log.warning(ev.REDIS_UNREACHABLE, step="members_stamp", error=str(exc))
            self._metrics.set_gauge("listeners_live", self.membership.live)
            await wait_or_stop(stop, self._ttl / 3)

    async def _shard(self, shard: int, stop: asyncio.Event) -> None:
        lease = Lease(
            self._redis,
            self._keys.listener_shard_lease(shard),
            self._keys.listener_shard_fence(shard),
            self._instance,
            self._ttl,
        )
        poll = self._ttl / 5
        await wait_or_stop(stop, random.uniform(0, poll))  # listeners starting together take turns
        while not stop.is_set():
            if len(self.led) < self.share():
                try:
                    fence = await lease.try_acquire()
                except (RedisError, OSError) as exc:
                    self._metrics.inc("redis_errors")
                    log.warning(ev.REDIS_UNREACHABLE, step="shard_acquire", error=str(exc))
                    fence = None
                if fence is not None:
                    await self._lead(shard, lease, stop)
                    continue
            await wait_or_stop(stop, poll * random.uniform(0.8, 1.2))

    async def _lead(self, shard: int, lease: Lease, stop: asyncio.Event) -> None:
        self.led.add(shard)
        self._metrics.set_gauge("shards_led", len(self.led))
        with bound_context(shard=shard, fence=lease.fence):
            log.info(ev.SHARD_ACQUIRED)
            self.reigns[shard] = reign = self._reign(shard, lease)
            tasks = {
                asyncio.create_task(reign.run(), name=f"shard-{shard}-reign"),
                asyncio.create_task(lease.keep(), name="lease"),
                asyncio.create_task(stop.wait(), name="stop"),
                asyncio.create_task(self._over_share(shard, stop), name="rebalance"),
            }
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # Not a way to stop (``stop`` is): the process is going. Stop the reign's
                # parts, hand nothing over, and go on being cancelled.
                for task in tasks:
                    task.cancel()
                await cancel_and_wait(tasks, timeout=HAND_OVER_TIMEOUT)
                await _bounded(reign.stop(handing_over=False), "shard_stop")
                self.led.discard(shard)
                self.reigns.pop(shard, None)
                raise
            names = {task.get_name() for task in done}
            handing_over = lease.held and ("stop" in names or "rebalance" in names)
            for task in tasks:
                task.cancel()
            await cancel_and_wait(tasks, timeout=HAND_OVER_TIMEOUT)
            await _bounded(reign.stop(handing_over=handing_over), "shard_stop")
            if handing_over:
                await _bounded(lease.release(), "shard_release")
                reason = "rebalance" if "rebalance" in names else "shutdown"
                log.info(ev.SHARD_RELEASED, reason=reason)
            else:
                self._metrics.inc("shards_lost")
                log.error(ev.SHARD_LOST)
        self.led.discard(shard)
        self.reigns.pop(shard, None)
        self._metrics.set_gauge("shards_led", len(self.led))

    async def _over_share(self, shard: int, stop: asyncio.Event) -> None:
        """Return when this listener leads more than its share and ``shard`` is its highest."""
        while True:
            await wait_or_stop(stop, self._ttl / 3)
            if stop.is_set():
                await asyncio.Event().wait()  # the stop task ends the reign
            if len(self.led) > self.share() and shard == max(self.led):
                return


async def _bounded(coro: Coroutine[Any, Any, Any], step: str) -> None:
    """One step of giving up a shard, within :data:`HAND_OVER_TIMEOUT`; failures logged."""
    try:
        await run_bounded(coro, step=step, timeout=HAND_OVER_TIMEOUT)
    except StepTimeoutError as exc:
        log.error(
            ev.LISTENER_STEP_TIMED_OUT,
            step=step,
            timeout=HAND_OVER_TIMEOUT,
            abandoned=exc.abandoned,
        )
    except Exception as exc:  # stepping down goes on
        log.error(ev.LISTENER_STEP_FAILED, step=step, error=repr(exc))
