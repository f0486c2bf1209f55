"""The listener process, wired: every part built once from :class:`Settings`.

An event's path through the parts built here: the transport
(:mod:`listener.transports`) reads the subscription's channel that the keeper
(:mod:`listener.subscription`) keeps alive, hands each message to ingest
(:mod:`listener.ingest`: decrypt, validate, de-duplicate), which enqueues a
Celery message (:mod:`listener.enqueue`), but only while this process holds
the lease. :mod:`listener.leadership` runs those per reign;
:mod:`listener.status` reports on them over HTTP (:mod:`listener.health`)
and in Redis; :mod:`listener.commands` takes ops requests.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import redis.asyncio as aioredis

from glipbot import log_events as ev
from glipbot.logging import get_logger
from glipbot.settings import Settings
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from listener.commands import CommandInbox
from listener.enqueue import make_celery_app
from listener.health import HealthServer
from listener.leadership import Leadership, Reign, TransportFactory
from listener.lease import Lease
from listener.metrics import Metrics
from listener.status import Status
from listener.subscription import SubscriptionApi
from listener.transports.pubnub import PubNubTransport

log = get_logger(__name__)


def default_instance() -> str:
    """``hostname-pid``: unique per process, readable in the status keys."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ListenerService:
    """Builds the parts; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        api: SubscriptionApi,
        sync_redis: Any,
        *,
        transport_factory: TransportFactory | None = None,
    ) -> None:
        self.instance = instance = settings.listener_instance or default_instance()
        keys = Keys(settings.key_prefix)
        self.metrics = metrics = Metrics()
        self.redis = client = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_socket_timeout,
            socket_connect_timeout=settings.redis_socket_timeout,
        )
        self.lease = lease = Lease(
            client, keys.listener_lease, keys.listener_fence, instance, settings.lease_ttl
        )
        reign = Reign()
        self.status = status = Status(
            instance,
            client=client,
            keys=keys,
            lease=lease,
            metrics=metrics,
            reign=reign,
            mirror_ttl=settings.lease_ttl * 2,
        )
        self.leadership = Leadership(
            settings,
            client=client,
            keys=keys,
            lease=lease,
            metrics=metrics,
            api=api,
            dead_letters=DeadLetters(
                sync_redis, keys.dead_letters, max_len=settings.dead_letters_max
            ),
            celery_app=make_celery_app(settings.redis_url),
            transport_factory=transport_factory
            or (lambda deliver: PubNubTransport(settings, instance, deliver, metrics)),
            inbox=CommandInbox(client, keys, metrics, lambda: reign.keeper),
            reign=reign,
            on_redis=status.redis_seen,
        )
        self.health = HealthServer(
            status.snapshot, metrics, host="0.0.0.0", port=settings.health_port
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Serve health, then alternate standby and leadership until ``stop`` is set."""
        port = await self.health.start()
        print(f"listener health on port {port}", flush=True)  # the issue asks for it on stdout
        log.info(ev.LISTENER_STARTED, instance=self.instance, health_port=port)
        mirror = asyncio.create_task(self.status.run())
        try:
            await self.leadership.run(stop)
        finally:
            mirror.cancel()
            await self.health.stop()
            await self.status.clear()
            await self.redis.aclose()
            self.leadership.close()
            log.info(ev.LISTENER_STOPPED, instance=self.instance)
