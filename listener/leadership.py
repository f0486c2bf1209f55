"""Stand by, lead, step down: one listener consumes, never deaf and never two.

:class:`Leadership` loops until shutdown. As a standby it tries the lease
(:mod:`listener.lease`) every ``ttl/5``. As the leader it runs one *reign*:
the parts of an event's path (transport → ingest → ``events`` queue), the
subscription keeper that feeds the transport its channel, the lease keeper
and the ops inbox, until

* the lease is lost: stop consuming at once and drop the buffer (the next
  leader replays it from the stored timetoken); or
* shutdown is asked: stop consuming, enqueue what is buffered, release the
  lease, and leave the subscription in place for the successor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from celery import Celery
from redis.exceptions import RedisError

from glipbot import log_events as ev
from glipbot.logging import bound_context, get_logger
from glipbot.settings import Settings
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from listener.commands import CommandInbox
from listener.enqueue import CeleryMessages
from listener.ingest import Ingest
from listener.lease import Lease
from listener.metrics import Metrics
from listener.resume import resume_timetoken
from listener.subscription import SubscriptionApi, SubscriptionInfo, SubscriptionKeeper
from listener.transports import OnMessage, Transport

log = get_logger(__name__)

#: Builds a reign's transport around the ingest's ``submit``.
TransportFactory = Callable[[OnMessage], Transport]
#: Seconds a shutdown waits for the buffer to be enqueued before releasing the lease.
DRAIN_TIMEOUT = 3


@dataclass
class Reign:
    """The parts of the current reign, read by :mod:`listener.status`.

    After stepping down the keeper is cleared; the ingest and the transport
    of the last reign stay until the next one replaces them.
    """

    keeper: SubscriptionKeeper | None = None
    ingest: Ingest | None = None
    transport: Transport | None = None


class Leadership:
    """The standby/lead loop; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: aioredis.Redis,
        keys: Keys,
        lease: Lease,
        metrics: Metrics,
        api: SubscriptionApi,
        dead_letters: DeadLetters,
        celery_app: Celery,
        transport_factory: TransportFactory,
        inbox: CommandInbox,
        reign: Reign,
        on_redis: Callable[[bool], None],
    ) -> None:
        self._settings = settings
        self._redis = client
        self._keys = keys
        self._lease = lease
        self._metrics = metrics
        self._api = api
        self._dead = dead_letters
        self._celery = celery_app
        self._messages: CeleryMessages | None = None
        self._transport_factory = transport_factory
        self._inbox = inbox
        self.reign = reign
        self._on_redis = on_redis

    async def run(self, stop: asyncio.Event) -> None:
        """Alternate standby and leadership until ``stop`` is set."""
        while not stop.is_set():
            fence = await self._try_acquire()
            if fence is None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._settings.lease_ttl / 5)
                continue
            await self._lead(stop)

    def close(self) -> None:
        """Close the Celery connection (after :meth:`run` returned)."""
        if self._messages is not None:
            self._messages.close()

    async def _try_acquire(self) -> int | None:
        try:
            fence = await self._lease.try_acquire()
            self._on_redis(True)
            return fence
        except (RedisError, OSError) as exc:
            self._on_redis(False)
            log.error(ev.REDIS_UNREACHABLE, error=str(exc))
            return None

    def _message_builder(self) -> CeleryMessages:
        if self._messages is None:
            self._messages = CeleryMessages(self._celery)
            self._messages.declare_queue()
        return self._messages

    async def _lead(self, stop: asyncio.Event) -> None:
        self._metrics.inc("lease_acquired")
        settings, reign = self._settings, self.reign
        with bound_context(fence=self._lease.fence, instance=self._lease.instance):
            log.info(ev.LEASE_ACQUIRED)
            reign.ingest = ingest = Ingest(
                self._redis,
                self._keys,
                self._lease,
                self._message_builder,
                self._dead,
                self._metrics,
                dedup_ttl=settings.dedup_ttl,
            )
            reign.transport = transport = self._transport_factory(ingest.submit)
            reign.keeper = keeper = SubscriptionKeeper(
                self._api,
                self._redis,
                self._keys,
                self._metrics,
                self._follow,
                expires_in=settings.subscription_expires_in,
                renew_margin=settings.subscription_renew_margin,
                check_interval=settings.subscription_check_interval,
            )
            tasks = {
                asyncio.create_task(keeper.run(), name="keeper"),
                asyncio.create_task(ingest.run(), name="ingest"),
                asyncio.create_task(self._inbox.run(), name="commands"),
            }
            keep = asyncio.create_task(
                self._lease.keep(on_error=lambda _e: self._metrics.inc("redis_errors")),
                name="lease",
            )
            stopping = asyncio.create_task(stop.wait(), name="stop")
            done, _ = await asyncio.wait(
                {keep, stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done - {keep, stopping}:
                if task.exception() is not None:
                    log.error(
                        ev.LISTENER_TASK_CRASHED, task=task.get_name(), error=repr(task.exception())
                    )
            # Stop consuming at once, whatever the reason.
            await transport.stop()
            for task in (*tasks, keep, stopping):
                task.cancel()
            await asyncio.gather(*tasks, keep, stopping, return_exceptions=True)
            if self._lease.held and stop.is_set():
                await self._hand_over(ingest)
            else:
                dropped = ingest.discard_pending()
                self._metrics.inc("lease_lost")
                log.error(ev.LEASE_LOST_STOPPED_CONSUMING, dropped=dropped)
                with contextlib.suppress(RedisError, OSError):
                    await self._lease.release()
            reign.keeper = None

    async def _hand_over(self, ingest: Ingest) -> None:
        try:
            await asyncio.wait_for(ingest.drain(), timeout=DRAIN_TIMEOUT)
        except Exception as exc:
            log.error(ev.SHUTDOWN_DRAIN_FAILED, error=repr(exc), dropped=ingest.pending())
        with contextlib.suppress(RedisError, OSError):
            await self._lease.release()
        log.info(ev.LEASE_RELEASED)

    async def _follow(self, new: SubscriptionInfo, old: SubscriptionInfo | None) -> None:
        """The keeper adopted ``new``: decrypt its channel and point the transport at it."""
        ingest, transport = self.reign.ingest, self.reign.transport
        assert ingest is not None
        assert transport is not None
        ingest.add_channel(new.address, new.encryption_key)
        tt = await resume_timetoken(new, self._redis, self._keys)
        with bound_context(subscription_id=new.id):
            if old is None:
                await transport.start(new.address, new.subscriber_key, tt)
            else:
                await transport.move(new.address, new.subscriber_key, tt)
            log.info(ev.TRANSPORT_ON_SUBSCRIPTION, channel=new.address, resume_timetoken=tt)
