"""The listener process: stand by, lead, and step down, never deaf and never two.

One :class:`ListenerService` per process. It serves health from the start,
mirrors its status into Redis every second, and loops: as a standby it tries
the lease every ``ttl/5``; as the leader it runs the subscription keeper,
the transport, the ingest pipeline, the lease keeper and the ops command
watcher until the lease is lost (stop consuming at once, drop the buffer: the
next leader replays it from the stored timetoken) or shutdown is asked
(stop consuming, enqueue what is buffered, release the lease, leave the
subscription in place for the successor).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from glipbot.logging import bound_context, get_logger
from glipbot.settings import Settings
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from listener.enqueue import CeleryMessages, make_celery_app
from listener.health import HealthServer, evaluate
from listener.lease import Lease
from listener.metrics import Metrics
from listener.pipeline import Ingest
from listener.pubnub_transport import PubNubTransport
from listener.subscription import SubscriptionApi, SubscriptionInfo, SubscriptionKeeper
from listener.transport import Transport

log = get_logger(__name__)

#: On a brand-new channel nothing predates its creation, so start this far
#: back: it absorbs clock skew and catches what was published before we subscribed.
NEW_CHANNEL_LOOKBACK = 60.0
STATUS_INTERVAL = 1.0
COMMAND_POLL = 1.0


def default_instance() -> str:
    """``hostname-pid``: unique per process, readable in the status keys."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ListenerService:
    """Wires the parts together; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        api: SubscriptionApi,
        sync_redis: Any,
        *,
        transport_factory: Callable[[Callable[[str, int, Any], None]], Transport] | None = None,
    ) -> None:
        self.settings = settings
        self.instance = settings.listener_instance or default_instance()
        self.keys = Keys(settings.key_prefix)
        self.metrics = Metrics()
        self.redis = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_socket_timeout,
            socket_connect_timeout=settings.redis_socket_timeout,
        )
        self._api = api
        self._dead = DeadLetters(
            sync_redis, self.keys.dead_letters, max_len=settings.dead_letters_max
        )
        self._transport_factory = transport_factory or (
            lambda deliver: PubNubTransport(settings, self.instance, deliver, self.metrics)
        )
        self.lease = Lease(
            self.redis,
            self.keys.listener_lease,
            self.keys.listener_fence,
            self.instance,
            settings.lease_ttl,
        )
        self._celery = make_celery_app(settings.redis_url)
        self._messages: CeleryMessages | None = None
        self.keeper: SubscriptionKeeper | None = None
        self.ingest: Ingest | None = None
        self.transport: Transport | None = None
        self.redis_ok = False
        self.leader: str | None = None
        self.health = HealthServer(
            self.snapshot, self.metrics, host="0.0.0.0", port=settings.health_port
        )
        self.metrics.set_gauge("is_leader", lambda: 1.0 if self.lease.held else 0.0)
        self.metrics.set_gauge("fence", lambda: float(self.lease.fence or 0))
        self.metrics.set_gauge("redis_up", lambda: 1.0 if self.redis_ok else 0.0)
        self.metrics.set_gauge("seconds_since_last_event", self._since_last_event)
        self.metrics.set_gauge("subscription_expires_in_seconds", self._expires_in)

    # -- status -----------------------------------------------------------------

    def _since_last_event(self) -> float:
        last = self.ingest.last_event_at if self.ingest else None
        return float("nan") if last is None else time.time() - last

    def _expires_in(self) -> float:
        remaining = self.keeper.expires_in() if self.keeper else None
        return float("nan") if remaining is None else remaining

    def snapshot(self) -> dict[str, Any]:
        """The ``/healthz`` body (also mirrored in Redis)."""
        role = "leader" if self.lease.held else "standby"
        keeper, ingest, transport = self.keeper, self.ingest, self.transport
        live = bool(keeper and keeper.live())
        since = self._since_last_event()
        remaining = self._expires_in()
        status = evaluate(
            role=role,
            redis_ok=self.redis_ok,
            subscription_live=live,
            renewal_failures=keeper._failures if keeper else 0,
            transport_errors=bool(transport and transport.stats.callback_errors),
        )
        return {
            "status": status,
            "role": role,
            "instance": self.instance,
            "leader": self.leader,
            "fence": self.lease.fence,
            "subscription_id": keeper.current.id if keeper and keeper.current else None,
            "expires_in_seconds": None if remaining != remaining else round(remaining, 3),
            "seconds_since_last_event": None if since != since else round(since, 3),
            "last_timetoken": str(ingest.last_timetoken)
            if ingest and ingest.last_timetoken
            else None,
            "pending": ingest.pending() if ingest else 0,
            "redis": "ok" if self.redis_ok else "down",
            "time": time.time(),
            "metrics": self.metrics.snapshot(),
        }

    async def _status_loop(self) -> None:
        previous = None
        while True:
            try:
                self.leader = await self.lease.holder()
                self.redis_ok = True
                body = self.snapshot()
                await self.redis.set(
                    self.keys.listener_status_of(self.instance),
                    json.dumps(body, default=str),
                    ex=max(5, int(self.settings.lease_ttl * 2)),
                )
            except (RedisError, OSError) as exc:
                self.redis_ok = False
                self.metrics.inc("redis_errors")
                log.error("redis_unreachable", error=str(exc))
                body = self.snapshot()
            if body["status"] != previous:
                (log.error if body["status"] == "failing" else log.info)(
                    "health_changed",
                    status=body["status"],
                    role=body["role"],
                    subscription_id=body["subscription_id"],
                )
                previous = body["status"]
            await asyncio.sleep(STATUS_INTERVAL)

    # -- main loop -----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve health, then alternate standby and leadership until ``stop`` is set."""
        port = await self.health.start()
        print(f"listener health on port {port}", flush=True)  # the issue asks for it on stdout
        log.info("listener_started", instance=self.instance, health_port=port)
        status = asyncio.create_task(self._status_loop())
        try:
            while not stop.is_set():
                fence = await self._try_acquire()
                if fence is None:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.lease_ttl / 5)
                    continue
                await self._lead(stop)
        finally:
            status.cancel()
            await self.health.stop()
            with contextlib.suppress(RedisError, OSError):
                await self.redis.delete(self.keys.listener_status_of(self.instance))
            await self.redis.aclose()
            if self._messages is not None:
                self._messages.close()
            log.info("listener_stopped", instance=self.instance)

    async def _try_acquire(self) -> int | None:
        try:
            fence = await self.lease.try_acquire()
            self.redis_ok = True
            return fence
        except (RedisError, OSError) as exc:
            self.redis_ok = False
            log.error("redis_unreachable", error=str(exc))
            return None

    def _message_builder(self) -> CeleryMessages:
        if self._messages is None:
            self._messages = CeleryMessages(self._celery)
            self._messages.declare_queue()
        return self._messages

    async def _lead(self, stop: asyncio.Event) -> None:
        self.metrics.inc("lease_acquired")
        with bound_context(fence=self.lease.fence, instance=self.instance):
            log.info("lease_acquired")
            self.ingest = ingest = Ingest(
                self.redis,
                self.keys,
                self.lease,
                self._message_builder,
                self._dead,
                self.metrics,
                dedup_ttl=self.settings.dedup_ttl,
            )
            self.transport = transport = self._transport_factory(ingest.submit)
            self.keeper = SubscriptionKeeper(
                self._api,
                self.redis,
                self.keys,
                self.metrics,
                self._on_change,
                expires_in=self.settings.subscription_expires_in,
                renew_margin=self.settings.subscription_renew_margin,
                check_interval=self.settings.subscription_check_interval,
            )
            tasks = {
                asyncio.create_task(self.keeper.run(), name="keeper"),
                asyncio.create_task(ingest.run(), name="ingest"),
                asyncio.create_task(self._commands(), name="commands"),
            }
            keep = asyncio.create_task(
                self.lease.keep(on_error=lambda _e: self.metrics.inc("redis_errors")), name="lease"
            )
            stopping = asyncio.create_task(stop.wait(), name="stop")
            done, _ = await asyncio.wait(
                {keep, stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done - {keep, stopping}:
                if task.exception() is not None:
                    log.error(
                        "listener_task_crashed", task=task.get_name(), error=repr(task.exception())
                    )
            # Stop consuming at once, whatever the reason.
            await transport.stop()
            for task in (*tasks, keep, stopping):
                task.cancel()
            await asyncio.gather(*tasks, keep, stopping, return_exceptions=True)
            if self.lease.held and stop.is_set():
                await self._hand_over(ingest)
            else:
                dropped = ingest.discard_pending()
                self.metrics.inc("lease_lost")
                log.error("lease_lost_stopped_consuming", dropped=dropped)
                with contextlib.suppress(RedisError, OSError):
                    await self.lease.release()
            self.keeper = None

    async def _hand_over(self, ingest: Ingest) -> None:
        try:
            await asyncio.wait_for(ingest.drain(), timeout=3)
        except Exception as exc:
            log.error("shutdown_drain_failed", error=repr(exc), dropped=ingest.pending())
        with contextlib.suppress(RedisError, OSError):
            await self.lease.release()
        log.info("lease_released")

    async def _on_change(self, new: SubscriptionInfo, old: SubscriptionInfo | None) -> None:
        assert self.ingest is not None
        assert self.transport is not None
        self.ingest.add_channel(new.address, new.encryption_key)
        if new.created:
            tt: int | None = int((time.time() - NEW_CHANNEL_LOOKBACK) * 10_000_000)
        else:
            raw = await self.redis.get(self.keys.timetoken)
            tt = int(raw) if raw else None
        with bound_context(subscription_id=new.id):
            if old is None:
                await self.transport.start(new.address, new.subscriber_key, tt)
            else:
                await self.transport.move(new.address, new.subscriber_key, tt)
            log.info("transport_on_subscription", channel=new.address, resume_timetoken=tt)

    async def _commands(self) -> None:
        while True:
            try:
                item = await self.redis.blpop([self.keys.listener_commands], timeout=COMMAND_POLL)
            except (RedisError, OSError):
                await asyncio.sleep(COMMAND_POLL)
                continue
            if item is None:
                continue
            try:
                command = json.loads(item[1]).get("command")
            except (ValueError, AttributeError):
                command = None
            if command not in ("renew", "recreate"):
                log.warning("ops_command_unknown", raw=str(item[1])[:200])
            elif self.keeper is None:
                log.warning("ops_command_dropped", command=command, reason="no subscription yet")
            else:
                self.metrics.inc("commands", command=command)
                log.info("ops_command", command=command)
                self.keeper.request(command)
