"""Stand by, lead, step down: one listener consumes, never deaf, never two, never stuck.

:class:`Leadership` loops until shutdown. As a standby it tries the lease
(:mod:`listener.lease`) every ``ttl/5``. As the leader it runs one *reign*:
the parts of an event's path (transport → ingest → ``events`` queue), the
subscription keeper that feeds the transport its channel, the lease keeper
and the ops inbox, until

* the lease is lost: stop consuming at once and drop the buffer (the next
  leader replays it from the stored timetoken), then stand by again, ready
  to take the lease as soon as it is free; or
* shutdown is asked: stop consuming, enqueue what is buffered, release the
  lease, and leave the subscription in place for the successor.

Every step of the loop is bounded (:class:`Bounds`) and announced on the
loop's :class:`~listener.watchdog.Heartbeat` with its bound: ``acquiring``,
``standby``, ``leading`` (a beat a second), then, stepping down,
``stopping_transport``, ``cancelling``, ``draining``, ``releasing_lease``.
Each step runs under its own timeout (:mod:`listener.cancellation`): a task
of the reign that will not stop after being cancelled is abandoned, logged
and counted, and the loop goes on. A step that overruns its bound anyway
turns ``/healthz`` to ``failing`` and, past the watchdog's grace, ends the
process (:mod:`listener.watchdog`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from celery import Celery
from redis.exceptions import RedisError

from glipbot import log_events as ev
from glipbot.logging import bound_context, get_logger
from glipbot.settings import Settings
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from listener.backfill import Backfill
from listener.cancellation import StepTimeoutError, cancel_and_wait, run_bounded, wait_or_stop
from listener.commands import CommandInbox
from listener.enqueue import CeleryMessages
from listener.ingest import Ingest
from listener.lease import Lease
from listener.metrics import Metrics
from listener.recovery import Recovery
from listener.resume import deaf_since, resume_timetoken
from listener.subscription import (
    GapLog,
    SubscriptionApi,
    SubscriptionHolder,
    SubscriptionInfo,
    SubscriptionKeeper,
)
from listener.transports import OnMessage, Receiver, Transport
from listener.transports.websocket import WebSocketApi, WebSocketSession
from listener.transports.websocket.checkpoint import CheckpointStore
from listener.watchdog import Heartbeat

log = get_logger(__name__)

#: Builds a reign's transport around the ingest's ``submit``.
TransportFactory = Callable[[OnMessage], Transport]
#: Seconds a shutdown waits for the buffer to be enqueued before releasing the lease.
DRAIN_TIMEOUT = 3.0
#: Seconds the transport gets to stop (PubNub's own stop is bounded at 3 s).
TRANSPORT_STOP_TIMEOUT = 5.0
#: Seconds the reign's tasks get to stop once cancelled; then they are abandoned.
CANCEL_TIMEOUT = 5.0
#: Seconds between two beats of the loop while it leads.
LEAD_BEAT = 1.0
#: What a step's heartbeat allows beyond the step's own timeout, which fires first.
STEP_SLACK = 5.0

# The steps of the loop, as the heartbeat, /healthz and the watchdog name them.
ACQUIRING = "acquiring"
STANDBY = "standby"
LEADING = "leading"
STOPPING_TRANSPORT = "stopping_transport"
CANCELLING = "cancelling"
DRAINING = "draining"
RELEASING_LEASE = "releasing_lease"


@dataclass(frozen=True)
class Bounds:
    """Seconds each step of the loop may take; the heartbeat adds :data:`STEP_SLACK`."""

    #: One Redis command: connect, write and read, each under ``REDIS_SOCKET_TIMEOUT``.
    redis: float
    #: A standby's pause between two tries of the lease.
    standby_poll: float
    lead_beat: float = LEAD_BEAT
    transport_stop: float = TRANSPORT_STOP_TIMEOUT
    cancel: float = CANCEL_TIMEOUT
    drain: float = DRAIN_TIMEOUT

    @classmethod
    def from_settings(cls, settings: Settings) -> Bounds:
        """The bounds for ``settings`` (Redis timeout, lease TTL) and the module's constants."""
        return cls(redis=3 * settings.redis_socket_timeout + 1, standby_poll=settings.lease_ttl / 5)


class ListenerApi(SubscriptionApi, WebSocketApi, Protocol):
    """The REST calls of both transports (:class:`glipbot.platform.rest.RestClient`)."""


@dataclass
class Reign:
    """The parts of the current reign, read by :mod:`listener.status`.

    After stepping down the keeper is cleared; the ingest and the transport
    of the last reign stay until the next one replaces them. Over WebSocket
    one :class:`WebSocketSession` is the keeper and the transport.
    """

    keeper: SubscriptionHolder | None = None
    ingest: Ingest | None = None
    transport: Receiver | None = None
    recovery: Recovery | None = None
    websocket: WebSocketSession | None = None


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
        api: ListenerApi,
        dead_letters: DeadLetters,
        celery_app: Celery,
        transport_factory: TransportFactory,
        inbox: CommandInbox,
        reign: Reign,
        on_redis: Callable[[bool], None],
        heartbeat: Heartbeat,
        bounds: Bounds | None = None,
        backfill: Backfill | None = None,
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
        self.heartbeat = heartbeat
        self.bounds = bounds or Bounds.from_settings(settings)
        self._backfill = backfill

    async def run(self, stop: asyncio.Event) -> None:
        """Alternate standby and leadership until ``stop`` is set."""
        while not stop.is_set():
            fence = await self._try_acquire()
            if fence is None:
                self._beat(STANDBY, self.bounds.standby_poll)
                await wait_or_stop(stop, self.bounds.standby_poll)
                continue
            await self._lead(stop)

    def close(self) -> None:
        """Close the Celery connection (after :meth:`run` returned)."""
        if self._messages is not None:
            self._messages.close()

    def _beat(self, step: str, timeout: float) -> None:
        self.heartbeat.beat(step, timeout + STEP_SLACK)

    async def _step(self, step: str, coro: Coroutine[Any, Any, Any], timeout: float) -> bool:
        """Run one step of stepping down within ``timeout``; False (logged, counted) if not."""
        self._beat(step, timeout)
        try:
            await run_bounded(coro, step=step, timeout=timeout)
        except StepTimeoutError as exc:
            self._metrics.inc("step_timeouts", step=step)
            log.error(
                ev.LISTENER_STEP_TIMED_OUT, step=step, timeout=timeout, abandoned=exc.abandoned
            )
            return False
        except (RedisError, OSError) as exc:
            self._on_redis(False)
            self._metrics.inc("redis_errors")
            log.error(ev.REDIS_UNREACHABLE, step=step, error=str(exc))
            return False
        except Exception as exc:  # stepping down goes on: the next steps matter more
            self._metrics.inc("step_failures", step=step)
            log.error(ev.LISTENER_STEP_FAILED, step=step, error=repr(exc))
            return False
        return True

    async def _try_acquire(self) -> int | None:
        self._beat(ACQUIRING, self.bounds.redis)
        try:
            fence = await run_bounded(
                self._lease.try_acquire(), step=ACQUIRING, timeout=self.bounds.redis
            )
        except (RedisError, OSError, StepTimeoutError) as exc:
            self._on_redis(False)
            log.error(ev.REDIS_UNREACHABLE, error=str(exc))
            return None
        self._on_redis(True)
        return fence

    def message_builder(self) -> CeleryMessages:
        """The Celery message builder, made (and its queue declared) at first use."""
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
                self.message_builder,
                self._dead,
                self._metrics,
                dedup_ttl=settings.dedup_ttl,
                save_timetoken=settings.notification_transport == "pubnub",
            )
            reign.recovery = (
                Recovery(self._backfill, self._redis, self._keys, self._metrics, ingest)
                if self._backfill is not None
                else None
            )
            keeper_run, transport = self._subscription_keeping(ingest)
            consuming = asyncio.create_task(ingest.run(), name="ingest")
            tasks = {
                asyncio.create_task(keeper_run, name="keeper"),
                consuming,
                asyncio.create_task(self._inbox.run(), name="commands"),
                asyncio.create_task(
                    self._lease.keep(on_error=lambda _e: self._metrics.inc("redis_errors")),
                    name="lease",
                ),
                asyncio.create_task(stop.wait(), name="stop"),
            }
            done: set[asyncio.Task[Any]] = set()
            while not done:
                self._beat(LEADING, self.bounds.lead_beat)
                done, _ = await asyncio.wait(
                    tasks, timeout=self.bounds.lead_beat, return_when=asyncio.FIRST_COMPLETED
                )
            for task in done:
                if task.get_name() in ("lease", "stop") or task.cancelled():
                    continue
                log.error(
                    ev.LISTENER_TASK_CRASHED, task=task.get_name(), error=repr(task.exception())
                )
            await self._step_down(stop, tasks, consuming, ingest, transport)
            reign.keeper = None

    def _subscription_keeping(self, ingest: Ingest) -> tuple[Coroutine[Any, Any, None], Receiver]:
        """The reign's subscription holder and transport (set on the reign); its loop to run."""
        reign = self.reign
        if self._settings.notification_transport == "websocket":
            reign.keeper = reign.transport = reign.websocket = session = WebSocketSession(
                self._api,
                ingest,
                CheckpointStore(
                    self._redis, self._keys.listener_lease, self._keys.websocket_session
                ),
                GapLog(self._redis, self._keys, self._metrics),
                self._metrics,
                instance=self._lease.instance,
                heartbeat_interval=self._settings.websocket_heartbeat_interval,
                check_interval=self._settings.subscription_check_interval,
                lease_value=lambda: self._lease.value,
                leading=self._lease.confirm,
                on_gap=self.recover_after,
            )
            return session.run(), session
        reign.transport = transport = self._transport_factory(ingest.submit)

        async def follow(new: SubscriptionInfo, old: SubscriptionInfo | None) -> None:
            await self._follow(transport, ingest, new, old)

        reign.keeper = keeper = SubscriptionKeeper(
            self._api,
            self._redis,
            self._keys,
            self._metrics,
            follow,
            expires_in=self._settings.subscription_expires_in,
            renew_margin=self._settings.subscription_renew_margin,
            check_interval=self._settings.subscription_check_interval,
            leading=self._lease.confirm,
            last_event_at=lambda: ingest.last_event_at,
        )
        return keeper.run(), transport

    def recover_after(self, since: float) -> None:
        """Backfill what the platform published since ``since`` (epoch seconds), if configured."""
        if self.reign.recovery is not None:
            self.reign.recovery.after(since)

    async def _step_down(
        self,
        stop: asyncio.Event,
        tasks: set[asyncio.Task[Any]],
        consuming: asyncio.Task[Any],
        ingest: Ingest,
        transport: Receiver,
    ) -> None:
        """Stop consuming at once, whatever the reason; then hand over, or drop the buffer."""
        handing_over = self._lease.held and stop.is_set()
        if not handing_over:
            ingest.close()  # deposed: not one more write, even from a task that ignores its cancel
        recovering = self.reign.recovery.task if self.reign.recovery else None
        if recovering is not None:
            tasks = {*tasks, recovering}
        # Cancelled before anything is awaited: no part of a finished reign acts on the platform.
        for task in tasks:
            task.cancel()
        await self._step(STOPPING_TRANSPORT, transport.stop(), self.bounds.transport_stop)
        self._beat(CANCELLING, self.bounds.cancel)
        stuck = await cancel_and_wait(tasks, timeout=self.bounds.cancel)
        for task in sorted(stuck, key=lambda t: t.get_name()):
            self._metrics.inc("tasks_abandoned", task=task.get_name())
            log.error(ev.LISTENER_TASK_ABANDONED, task=task.get_name(), timeout=self.bounds.cancel)
        if handing_over:
            await self._hand_over(ingest, drain=consuming not in stuck)
            return
        dropped = ingest.discard_pending()
        self._metrics.inc("lease_lost")
        log.error(ev.LEASE_LOST_STOPPED_CONSUMING, dropped=dropped)
        await self._step(RELEASING_LEASE, self._lease.release(), self.bounds.redis)

    async def _hand_over(self, ingest: Ingest, *, drain: bool) -> None:
        """Enqueue the buffer (unless the ingest task is still running), then release."""
        self._beat(DRAINING, self.bounds.drain)
        if not drain:
            log.error(
                ev.SHUTDOWN_DRAIN_FAILED, error="ingest task abandoned", dropped=ingest.pending()
            )
        else:
            try:
                await run_bounded(ingest.drain(), step=DRAINING, timeout=self.bounds.drain)
            except Exception as exc:
                log.error(ev.SHUTDOWN_DRAIN_FAILED, error=repr(exc), dropped=ingest.pending())
        ingest.close()
        if await self._step(RELEASING_LEASE, self._lease.release(), self.bounds.redis):
            log.info(ev.LEASE_RELEASED)

    async def _follow(
        self,
        transport: Transport,
        ingest: Ingest,
        new: SubscriptionInfo,
        old: SubscriptionInfo | None,
    ) -> None:
        """The keeper adopted ``new``: decrypt its channel and point the transport at it."""
        ingest.add_channel(new.address, new.encryption_key)
        # Before the resume point, which a new channel stores: a gap is judged on what was.
        since = await deaf_since(new, self._redis, self._keys)
        tt = await resume_timetoken(new, self._redis, self._keys)
        with bound_context(subscription_id=new.id):
            if old is None:
                await transport.start(new.address, new.subscriber_key, tt)
            else:
                await transport.move(new.address, new.subscriber_key, tt)
            log.info(ev.TRANSPORT_ON_SUBSCRIPTION, channel=new.address, resume_timetoken=tt)
        if since is not None:
            self.recover_after(since)
