"""The leader lease: exactly one listener consumes, the others stand by.

The lease is one Redis key holding ``"{fence}:{instance}"`` with a TTL. The
fence is a counter incremented at every acquisition (never on a failed try),
so each reign has a token larger than every earlier one; the listener stamps
it on every event and the enqueue script refuses to write unless the lease
key still holds this reign's value (see :mod:`listener.enqueue`).

Timing: the holder extends every ``ttl/3``; standbys try every ``ttl/5``, so
a dead leader is replaced within the TTL plus one poll. A holder that cannot
extend (the key is gone or holds someone else) stops at once; one that
cannot reach Redis gives up after ``2/3`` of the TTL, before a standby can
take over, so two leaders never consume together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from glipbot import log_events as ev
from glipbot.logging import get_logger

log = get_logger(__name__)

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], fence .. ':' .. ARGV[1], 'PX', ARGV[2])
return fence
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """One process's view of the lease key; ``fence`` is set while it holds it."""

    def __init__(
        self,
        client: aioredis.Redis,
        key: str,
        fence_key: str,
        instance: str,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.fence_key = fence_key
        self.instance = instance
        self.ttl = ttl
        self.fence: int | None = None
        self._clock = clock
        self._acquire = client.register_script(_ACQUIRE)
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)
        self._client = client

    @property
    def value(self) -> str | None:
        """What the lease key holds while this process is the leader."""
        return None if self.fence is None else f"{self.fence}:{self.instance}"

    @property
    def held(self) -> bool:
        """Whether this process believes it holds the lease."""
        return self.fence is not None

    async def try_acquire(self) -> int | None:
        """Take the lease if it is free; return the new fencing token, or ``None``."""
        fence = await self._acquire(
            keys=[self.key, self.fence_key], args=[self.instance, int(self.ttl * 1000)]
        )
        if fence is None:
            return None
        self.fence = int(fence)
        return self.fence

    async def extend(self) -> bool:
        """Push the expiry back by ``ttl`` if this process still holds the lease."""
        if self.value is None:
            return False
        ok = await self._extend(keys=[self.key], args=[self.value, int(self.ttl * 1000)])
        if not ok:
            self.fence = None
        return bool(ok)

    async def release(self) -> bool:
        """Delete the lease key if this process holds it, so a standby takes over at once."""
        value, self.fence = self.value, None
        if value is None:
            return False
        return bool(await self._release(keys=[self.key], args=[value]))

    async def confirm(self) -> bool:
        """Whether the lease key still holds this reign's value (one ``GET``)."""
        value = self.value
        if value is None:
            return False
        raw = await self._client.get(self.key)
        text = raw.decode() if isinstance(raw, bytes) else raw
        return text == value

    async def holder(self) -> str | None:
        """The instance currently holding the lease (any process), if any."""
        raw = await self._client.get(self.key)
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return text.split(":", 1)[1] if ":" in text else text

    async def keep(
        self,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Extend every ``ttl/3`` until the lease is lost; return when it is.

        Returns (never raises on Redis errors) when the key no longer holds
        this reign's value, or when Redis stayed unreachable for ``2/3`` of
        the TTL, after which this process must consider itself deposed.
        """
        last_ok = self._clock()
        while self.held:
            await sleep(self.ttl / 3)
            try:
                if not await self.extend():
                    log.error(ev.LEASE_LOST, instance=self.instance, reason="not_holder")
                    return
                last_ok = self._clock()
            except (RedisError, OSError) as exc:
                if on_error is not None:
                    on_error(exc)
                if self._clock() - last_ok >= self.ttl * 2 / 3:
                    self.fence = None
                    log.error(ev.LEASE_LOST, instance=self.instance, reason="redis_unreachable")
                    return
                log.warning(ev.LEASE_EXTEND_FAILED, instance=self.instance, error=str(exc))
