"""The listener process, wired: every part built once from :class:`Settings`.

An event's path through the parts built here: the transport
(:mod:`listener.transports`) reads the subscription's channel that the keeper
(:mod:`listener.subscription`) keeps alive, hands each message to ingest
(:mod:`listener.ingest`: decrypt, validate, de-duplicate), which enqueues a
Celery message (:mod:`listener.enqueue`), but only while this process holds
the lease. :mod:`listener.leadership` runs those per reign;
:mod:`listener.status` reports on them over HTTP (:mod:`listener.health`)
and in Redis; :mod:`listener.commands` takes ops requests;
:mod:`listener.watchdog` ends the process if it gets stuck (the entry
point, :mod:`listener.__main__`, starts it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis.asyncio as aioredis

from glipbot import log_events as ev
from glipbot.logging import get_logger
from glipbot.settings import Settings
from glipbot.state.deadletters import DeadLetters
from glipbot.state.installations import InstallationStore
from glipbot.state.keys import Keys
from listener.backfill import Backfill
from listener.cancellation import StepTimeoutError, cancel_and_wait, run_bounded
from listener.commands import CommandInbox
from listener.enqueue import make_celery_app
from listener.fleet.bot import Connect, FleetParts
from listener.fleet.reign import FleetReign
from listener.fleet.shards import HAND_OVER_TIMEOUT, Shards
from listener.health import HealthServer
from listener.install import InstallHandler, InstallPlatform
from listener.leadership import (
    STEP_SLACK,
    Bounds,
    Leadership,
    ListenerApi,
    Reign,
    TransportFactory,
)
from listener.lease import Lease
from listener.metrics import Metrics
from listener.status import Status
from listener.transports.pubnub import PubNubTransport
from listener.watchdog import Heartbeat, Watchdog, tick

log = get_logger(__name__)

#: The leadership heartbeat's step while the process closes, after the loop ended.
CLOSING = "closing"
#: Seconds each closing step (health server, status key, Redis pool) may take.
CLOSE_STEP_TIMEOUT = 3.0
#: The most Redis connections the listener opens at once.
REDIS_CONNECTIONS = 100
#: Threads for the blocking calls (REST, the sync Redis client): every installed
#: bot's keeper calls through them.
BLOCKING_THREADS = 32


def default_instance() -> str:
    """``hostname-pid``: unique per process, readable in the status keys."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ListenerService:
    """Builds the parts; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        api: ListenerApi,
        sync_redis: Any,
        *,
        transport_factory: TransportFactory | None = None,
        backfill: Backfill | None = None,
        installs: InstallPlatform | None = None,
        connect_installed: Connect | None = None,
    ) -> None:
        """``installs``: serve ``/bot/oauth``; with ``connect_installed`` too, also
        serve the installed bots (:mod:`listener.fleet`), sharded among listeners."""
        self.instance = instance = settings.listener_instance or default_instance()
        keys = Keys(settings.key_prefix)
        self.metrics = metrics = Metrics()
        # A blocking pool: a burst (a shard of hundreds of bots taken over) waits for a
        # connection instead of failing with "Too many connections".
        self.redis = client = aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(
                settings.redis_url,
                max_connections=REDIS_CONNECTIONS,
                timeout=settings.redis_socket_timeout,
                socket_timeout=settings.redis_socket_timeout,
                socket_connect_timeout=settings.redis_socket_timeout,
            )
        )
        self.lease = lease = Lease(
            client, keys.listener_lease, keys.listener_fence, instance, settings.lease_ttl
        )
        reign = Reign()
        bounds = Bounds.from_settings(settings)
        dead_letters = DeadLetters(sync_redis, keys.dead_letters, max_len=settings.dead_letters_max)
        store = InstallationStore(sync_redis, keys)
        #: The event loop's own heartbeat, and the leadership loop's (also read by /healthz).
        self.loop_heartbeat = Heartbeat("event_loop")
        self.heartbeat = heartbeat = Heartbeat("leadership")
        #: Started by the entry point, which owns the process: it may end it.
        self.watchdog = Watchdog([self.loop_heartbeat, heartbeat])
        self.status = status = Status(
            instance,
            client=client,
            keys=keys,
            lease=lease,
            metrics=metrics,
            reign=reign,
            mirror_ttl=settings.lease_ttl * 2,
            heartbeat=heartbeat,
            transport_name=settings.notification_transport,
        )
        self.leadership = Leadership(
            settings,
            client=client,
            keys=keys,
            lease=lease,
            metrics=metrics,
            api=api,
            dead_letters=dead_letters,
            celery_app=make_celery_app(settings.redis_url),
            transport_factory=transport_factory
            or (
                lambda deliver: PubNubTransport(
                    settings,
                    instance,
                    deliver,
                    metrics,
                    on_overflow=lambda since: self.leadership.recover_after(since),
                )
            ),
            inbox=CommandInbox(client, keys, metrics, lambda: reign.keeper),
            reign=reign,
            on_redis=status.redis_seen,
            heartbeat=heartbeat,
            bounds=bounds,
            backfill=backfill,
        )
        #: The installed bots' shards (None: this listener serves the configured bot only).
        self.shards: Shards | None = None
        if installs is not None and connect_installed is not None:
            parts = FleetParts(
                settings=settings,
                redis=client,
                keys=keys,
                metrics=metrics,
                dead_letters=dead_letters,
                messages=self.leadership.message_builder,
                connect=connect_installed,
                whoami=installs.whoami,
                reload=lambda bot_id: _token_of(store, bot_id),
                instance=instance,
            )
            self.shards = Shards(
                client,
                keys,
                metrics,
                instance=instance,
                shards=settings.listener_shards,
                ttl=settings.lease_ttl,
                reign=lambda shard, lease: FleetReign(
                    shard, settings.listener_shards, lease, parts, store
                ),
            )
            status.fleet = self.shards
        # /bot/oauth on every listener, given the platform's install calls.
        install = (
            InstallHandler(settings, installs, store, metrics) if installs is not None else None
        )
        self.health = HealthServer(
            status.snapshot,
            metrics,
            host=settings.health_host,
            port=settings.health_port,
            routes=install.routes() if install else (),
        )
        self._health_host = settings.health_host

    async def run(self, stop: asyncio.Event) -> None:
        """Serve health, then alternate standby and leadership until ``stop`` is set."""
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="listener-calls")
        )
        ticker = asyncio.create_task(tick(self.loop_heartbeat), name="event_loop_tick")
        port = await self.health.start()
        # On stdout, as one write: a thread's log line must not land inside it.
        sys.stdout.write(f"listener health on port {port}\n")
        sys.stdout.flush()
        log.info(
            ev.LISTENER_STARTED,
            instance=self.instance,
            health_host=self._health_host,
            health_port=port,
        )
        mirror = asyncio.create_task(self.status.run(), name="status_mirror")
        fleet = (
            asyncio.create_task(self.shards.run(stop), name="shards")
            if self.shards is not None
            else None
        )
        try:
            await self.leadership.run(stop)
        finally:
            self.heartbeat.beat(CLOSING, CLOSE_STEP_TIMEOUT * 4 + STEP_SLACK + HAND_OVER_TIMEOUT)
            if fleet is not None:
                await self._close_step("shards_stop", _finish(fleet), HAND_OVER_TIMEOUT + 2)
            await cancel_and_wait({mirror}, timeout=CLOSE_STEP_TIMEOUT)
            await self._close_step("health_stop", self.health.stop())
            await self._close_step("status_clear", self.status.clear())
            await self._close_step("redis_close", self.redis.aclose())
            self.leadership.close()
            ticker.cancel()
            self.heartbeat.stop()
            self.loop_heartbeat.stop()
            log.info(ev.LISTENER_STOPPED, instance=self.instance)

    async def _close_step(
        self, step: str, coro: Coroutine[Any, Any, Any], timeout: float = CLOSE_STEP_TIMEOUT
    ) -> None:
        """One step of closing, bounded; an overrun is logged and counted, and closing goes on."""
        try:
            await run_bounded(coro, step=step, timeout=timeout)
        except StepTimeoutError as exc:
            self.metrics.inc("step_timeouts", step=step)
            log.error(
                ev.LISTENER_STEP_TIMED_OUT,
                step=step,
                timeout=timeout,
                abandoned=exc.abandoned,
            )
        except Exception as exc:  # closing goes on: the next steps matter more
            self.metrics.inc("step_failures", step=step)
            log.error(ev.LISTENER_STEP_FAILED, step=step, error=repr(exc))


async def _finish(task: asyncio.Task[Any]) -> None:
    """Wait for ``task`` (the shards' loops end once ``stop`` is set: they hand over)."""
    await task


def _token_of(store: InstallationStore, bot_id: str) -> str | None:
    """``bot_id``'s token as stored now (None once removed)."""
    record = store.get(bot_id)
    return record.token if record is not None and record.active else None
