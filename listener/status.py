"""What this listener reports about itself: the ``/healthz`` body and its Redis mirror.

:meth:`Status.snapshot` reads the state of every step of an event's path
(the subscription the transport reads, when the last event arrived, what
ingest has buffered, the last timetoken enqueued) and the leadership loop's
heartbeat (the step it is in, and whether it is stuck there), and judges it
with :func:`listener.health.judge`. :meth:`Status.run` mirrors it into Redis
every second under ``listener:status:<instance>`` (read by ``tasks.ops``
status) and logs each change of the status word. The gauges derived from it
(leader, fence, Redis, last event, expiry) are registered here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from glipbot import log_events as ev
from glipbot.errors import LoginRefusedError
from glipbot.logging import get_logger
from glipbot.state.keys import Keys
from listener.health import judge
from listener.leadership import Reign
from listener.lease import Lease
from listener.metrics import Metrics
from listener.watchdog import Heartbeat

log = get_logger(__name__)

#: Seconds between two refreshes of the Redis mirror.
STATUS_INTERVAL = 1.0


class Describes(Protocol):
    """Anything that reports on itself for ``/healthz`` (the installed bots' shards)."""

    def describe(self) -> dict[str, Any]: ...


class Status:
    """Owns ``redis_ok`` and the lease holder as last seen; builds the health body."""

    def __init__(
        self,
        instance: str,
        *,
        client: aioredis.Redis,
        keys: Keys,
        lease: Lease,
        metrics: Metrics,
        reign: Reign,
        mirror_ttl: float,
        heartbeat: Heartbeat,
        transport_name: str = "pubnub",
    ) -> None:
        self.instance = instance
        self._redis = client
        self._key = keys.listener_status_of(instance)
        self._lease = lease
        self._metrics = metrics
        self._reign = reign
        self._heartbeat = heartbeat
        self._transport_name = transport_name
        #: The installed bots' shards, when this listener serves them (set by the service).
        self.fleet: Describes | None = None
        self._mirror_ttl = max(5, int(mirror_ttl))
        self.redis_ok = False
        #: The instance holding the lease, as last read from Redis.
        self.leader: str | None = None
        metrics.set_gauge("is_leader", lambda: 1.0 if lease.held else 0.0)
        metrics.set_gauge("fence", lambda: float(lease.fence or 0))
        metrics.set_gauge("redis_up", lambda: 1.0 if self.redis_ok else 0.0)
        metrics.set_gauge("seconds_since_last_event", self._since_last_event)
        metrics.set_gauge("subscription_expires_in_seconds", self._expires_in)

    def redis_seen(self, ok: bool) -> None:
        """Record whether the last Redis command of the lead loop succeeded."""
        self.redis_ok = ok

    def _since_last_event(self) -> float:
        ingest = self._reign.ingest
        last = ingest.last_event_at if ingest else None
        return float("nan") if last is None else time.time() - last

    def _expires_in(self) -> float:
        keeper = self._reign.keeper
        remaining = keeper.expires_in() if keeper else None
        return float("nan") if remaining is None else remaining

    def snapshot(self) -> dict[str, Any]:
        """The ``/healthz`` body (also mirrored in Redis)."""
        role = "leader" if self._lease.held else "standby"
        keeper, ingest, transport = self._reign.keeper, self._reign.ingest, self._reign.transport
        live = bool(keeper and keeper.live())
        since = self._since_last_event()
        remaining = self._expires_in()
        stuck = self._heartbeat.overrun()
        status, reason = judge(
            role=role,
            redis_ok=self.redis_ok,
            subscription_live=live,
            renewal_failures=keeper.failures if keeper else 0,
            transport_errors=bool(transport and transport.stats.callback_errors),
            stuck=stuck.describe() if stuck else None,
            login_refused=_refused_setting(keeper.last_error if keeper else None),
        )
        body = {
            "status": status,
            "reason": reason,
            "step": self._heartbeat.step,
            "role": role,
            "instance": self.instance,
            "leader": self.leader,
            "fence": self._lease.fence,
            "transport": self._transport_name,
            "subscription_id": keeper.subscription_id if keeper else None,
            "expires_in_seconds": _rounded(remaining),
            "seconds_since_last_event": _rounded(since),
            "last_timetoken": str(ingest.last_timetoken)
            if ingest and ingest.last_timetoken
            else None,
            "pending": ingest.pending() if ingest else 0,
            "redis": "ok" if self.redis_ok else "down",
            "time": time.time(),
            "metrics": {k: _finite(v) for k, v in self._metrics.snapshot().items()},
        }
        if self._reign.websocket is not None:
            body["websocket"] = self._reign.websocket.describe()
        if self.fleet is not None:
            body["installed"] = self.fleet.describe()
        return body

    async def run(self) -> None:
        """Mirror :meth:`snapshot` into Redis every second and log status changes."""
        previous = None
        while True:
            try:
                self.leader = await self._lease.holder()
                self.redis_ok = True
                body = self.snapshot()
                await self._redis.set(self._key, json.dumps(body, default=str), ex=self._mirror_ttl)
            except (RedisError, OSError) as exc:
                self.redis_ok = False
                self._metrics.inc("redis_errors")
                log.error(ev.REDIS_UNREACHABLE, error=str(exc))
                body = self.snapshot()
            if body["status"] != previous:
                (log.error if body["status"] == "failing" else log.info)(
                    ev.HEALTH_CHANGED,
                    status=body["status"],
                    reason=body["reason"],
                    role=body["role"],
                    subscription_id=body["subscription_id"],
                )
                previous = body["status"]
            await asyncio.sleep(STATUS_INTERVAL)

    async def clear(self) -> None:
        """Delete the mirror (at shutdown), if Redis answers."""
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._key)


def _finite(value: float) -> float | None:
    """``value``, or None where JSON has no number (NaN, ±inf).

    ``/healthz`` is strict JSON: a gauge that has no value yet (no event, no
    subscription) is ``null``, never ``NaN``.
    """
    return value if math.isfinite(value) else None


def _rounded(value: float) -> float | None:
    """:func:`_finite`, rounded to the millisecond."""
    return round(value, 3) if math.isfinite(value) else None


def _refused_setting(error: Exception | None) -> str | None:
    """The setting to fix when the platform refused the credentials, else None."""
    return error.setting if isinstance(error, LoginRefusedError) else None
