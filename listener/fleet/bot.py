"""One installed bot's part of a shard's reign: its subscription, its ingest, its checks.

What the configured bot's reign does with one subscription
(:mod:`listener.leadership`), :class:`InstalledBot` does for one installed
bot, with the bot's own token (:class:`~glipbot.platform.installed.InstallationToken`)
and its own keys (``<prefix>bot:<bot id>:``: subscription id, timetoken,
WebSocket session, gaps, chat watermarks), under the shard's lease:

* **PubNub**: a :class:`~listener.subscription.SubscriptionKeeper` keeps
  the subscription (SUB-406, "not ready yet" just after an install, is
  retried with its back-off like any failure), renewing at a point spread
  over the margin; its channel is one of the shard's multiplexed channels
  (:class:`~listener.transports.multiplex.PubNubMux`);
* **WebSocket**: a :class:`~listener.transports.websocket.WebSocketSession`
  of its own (one socket per bot: one subscription per socket).

A window without a subscription (lost, expired, not recovered, a full
PubNub answer) is backfilled from the bot's own chats with its token
(:class:`~listener.recovery.Recovery`), as the configured bot's is.

Its :class:`~listener.ingest.Ingest` numbers its events as the bot's own and
takes one event out of the flow: the ``Delete`` of the bot's own extension,
which is the platform saying the bot was uninstalled. So does a periodic
``GET extension/~`` with the bot's token that the platform refuses
(OAU-232, CMN-405, 401), which catches a missed event. Either way
``on_removed`` is told; the fleet forgets the token and stops the bot.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from glipbot import log_events as ev
from glipbot.errors import PlatformError, TransientError
from glipbot.events import Event, ExtensionEvent
from glipbot.logging import get_logger
from glipbot.platform.installed import InstallationToken, token_refused
from glipbot.platform.rest import RestClient
from glipbot.settings import Settings
from glipbot.state.deadletters import DeadLetters
from glipbot.state.installations import Installation
from glipbot.state.keys import Keys
from listener.backfill import Backfill
from listener.cancellation import cancel_and_wait
from listener.enqueue import CeleryMessages
from listener.ingest import Ingest
from listener.lease import Lease
from listener.metrics import Metrics
from listener.recovery import Recovery
from listener.resume import deaf_since, resume_timetoken
from listener.subscription import GapLog, SubscriptionHolder, SubscriptionInfo, SubscriptionKeeper
from listener.transports.multiplex import PubNubMux
from listener.transports.websocket import WebSocketSession
from listener.transports.websocket.checkpoint import CheckpointStore

log = get_logger(__name__)

#: Seconds the bot's tasks get to stop once cancelled.
STOP_TIMEOUT = 5.0
#: Seconds between looks at a failing subscription whose token may be refused.
REFUSED_LOOK = 5.0
#: Part of the margin over which renewals are spread (see the keeper's ``renew_spread``).
RENEW_SPREAD = 0.5


#: ``connect(bot_id, token_source)``: a REST client for an installed bot.
Connect = Callable[[str, InstallationToken], RestClient]


@dataclass(frozen=True)
class FleetParts:
    """What every installed bot of a listener shares."""

    settings: Settings
    redis: aioredis.Redis
    keys: Keys
    metrics: Metrics
    dead_letters: DeadLetters
    messages: Callable[[], CeleryMessages]
    #: ``connect(bot_id, token_source)``: a REST client on the process's transport.
    connect: Connect
    #: ``whoami(token, bot)``: the platform's answer to the token (raises when refused).
    whoami: Callable[[str, str | None], Any]
    #: ``reload(bot_id)``: the bot's token as stored now, or None.
    reload: Callable[[str], str | None]
    instance: str


class InstalledBot:
    """One installed bot served by this listener; :meth:`run`, then :meth:`stop`."""

    def __init__(
        self,
        installation: Installation,
        parts: FleetParts,
        lease: Lease,
        mux: PubNubMux | None,
        on_removed: Callable[[str, str], Coroutine[Any, Any, None]],
    ) -> None:
        assert installation.token, "an installed bot is served with its token"
        self.bot_id = bot_id = installation.bot_id
        self.installation = installation
        self._parts = parts
        self._lease = lease
        self._mux = mux
        self._on_removed = on_removed
        self._removal: asyncio.Task[None] | None = None
        settings = parts.settings
        self.keys = keys = Keys(parts.keys.installation_prefix(bot_id))
        self.token = InstallationToken(bot_id, installation.token, parts.reload)
        self.rest = parts.connect(bot_id, self.token)
        self.ingest = Ingest(
            parts.redis,
            parts.keys,
            lease,
            parts.messages,
            parts.dead_letters,
            parts.metrics,
            dedup_ttl=settings.dedup_ttl,
            save_timetoken=mux is not None,
            installation=keys,
            intercept=self._intercept,
        )
        # Backfill of the bot's own chats (its token, its watermarks) after a gap.
        self.recovery = Recovery(
            Backfill(self.rest, lambda: bot_id), parts.redis, keys, parts.metrics, self.ingest
        )
        self._address: str | None = None
        self.holder: SubscriptionHolder
        self._keeping: Callable[[], Coroutine[Any, Any, None]]
        if mux is None:
            session = WebSocketSession(
                self.rest,
                self.ingest,
                CheckpointStore(parts.redis, lease.key, keys.websocket_session),
                GapLog(parts.redis, keys, parts.metrics),
                parts.metrics,
                instance=parts.instance,
                heartbeat_interval=settings.websocket_heartbeat_interval,
                check_interval=settings.subscription_check_interval,
                lease_value=lambda: lease.value,
                leading=lease.confirm,
                on_gap=self.recovery.after,
            )
            self.session: WebSocketSession | None = session
            self.holder, self._keeping = session, session.run
        else:
            self.session = None
            keeper = SubscriptionKeeper(
                self.rest,
                parts.redis,
                keys,
                parts.metrics,
                self._follow,
                expires_in=settings.subscription_expires_in,
                renew_margin=settings.subscription_renew_margin,
                check_interval=settings.subscription_check_interval,
                leading=lease.confirm,
                last_event_at=lambda: self.ingest.last_event_at,
                renew_spread=RENEW_SPREAD,
            )
            self.holder, self._keeping = keeper, keeper.run
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, delay: float = 0.0) -> None:
        """Start its tasks (the subscription after ``delay`` seconds: starts are spread)."""
        self._tasks = {
            asyncio.create_task(self.ingest.run(), name=f"bot-{self.bot_id}-ingest"),
            asyncio.create_task(self._keep_after(delay), name=f"bot-{self.bot_id}-keeper"),
            asyncio.create_task(self._checking(), name=f"bot-{self.bot_id}-check"),
        }

    def replace_token(self, token: str) -> None:
        """A reinstall replaced the bot's token: use it from the next call."""
        self.token.replace(token)

    async def stop(self, *, handing_over: bool) -> None:
        """Stop receiving; enqueue what is buffered (``handing_over``) or drop it."""
        if not handing_over:
            self.ingest.close()
        tasks = set(self._tasks)
        if self.recovery.task is not None:
            tasks.add(self.recovery.task)
        for task in tasks:
            task.cancel()
        if self.session is not None:
            await self.session.stop()
        elif self._mux is not None and self._address is not None:
            await self._mux.remove(self._address)
        stuck = await cancel_and_wait(tasks, timeout=STOP_TIMEOUT)
        for task in stuck:
            self._parts.metrics.inc("tasks_abandoned", task="installed_bot")
            log.error(ev.LISTENER_TASK_ABANDONED, task=task.get_name(), timeout=STOP_TIMEOUT)
        if handing_over:
            await self.ingest.drain()
            self.ingest.close()
        else:
            self.ingest.discard_pending()

    async def retire(self) -> None:
        """The bot was removed: delete its subscription while its token may still work."""
        subscription = self.holder.subscription_id
        if subscription is None or self.session is not None:
            return  # a WebSocket subscription ends with its socket
        try:
            await asyncio.to_thread(self.rest.delete_subscription, subscription)
        except Exception as exc:  # uninstalled: the platform deleted it already
            log.info(
                ev.SUBSCRIPTION_DELETE_FAILED,
                subscription_id=subscription,
                error=type(exc).__name__,
            )

    # -- the parts -------------------------------------------------------------

    async def _keep_after(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        await self._keeping()

    async def _follow(self, new: SubscriptionInfo, old: SubscriptionInfo | None) -> None:
        """The keeper adopted ``new``: decrypt its channel and receive it among the shard's."""
        assert self._mux is not None
        parts = self._parts
        self.ingest.add_channel(new.address, new.encryption_key)
        # Before the resume point, which a new channel stores: a gap is judged on what was.
        since = await deaf_since(new, parts.redis, self.keys)
        tt = await resume_timetoken(new, parts.redis, self.keys)
        await self._mux.add(
            new.address, new.subscriber_key, tt, self.ingest.submit, self.recovery.after
        )
        self._address = new.address
        if old is not None and old.address != new.address:
            await self._mux.remove(old.address)
        log.info(
            ev.TRANSPORT_ON_SUBSCRIPTION,
            channel=new.address,
            resume_timetoken=tt,
            subscription_id=new.id,
        )
        if since is not None:
            log.warning(ev.INSTALLED_BOT_GAP, since=since, subscription_id=new.id)
            self.recovery.after(since)

    def _intercept(self, event: Event) -> bool:
        """Take the bot's own extension's ``Delete`` out of the flow: it was uninstalled."""
        if not isinstance(event, ExtensionEvent) or event.envelope.event_type != "Delete":
            return False
        if event.extension_id != self.bot_id:
            return False
        self._removed("uninstalled")
        return True

    def _removed(self, reason: str) -> None:
        # Not one of the bot's tasks: removing it stops the bot, and so cancels those.
        if self._removal is None:
            self._removal = asyncio.get_running_loop().create_task(
                self._on_removed(self.bot_id, reason), name=f"bot-{self.bot_id}-removal"
            )

    async def _checking(self) -> None:
        """Ask the platform now and then whether the bot still exists (a missed ``Delete``)."""
        interval = self._parts.settings.installation_check_interval
        due = random.uniform(0, interval)  # a thousand bots' checks spread over the interval
        waited = 0.0
        while True:
            look = min(REFUSED_LOOK, due - waited)
            await asyncio.sleep(max(0.0, look))
            waited += max(0.0, look)
            refused = (
                token_refused(self.holder.last_error, self.bot_id)
                if self.holder.last_error
                else False
            )
            if waited < due and not refused:
                continue
            waited, due = 0.0, interval
            await self._check()

    async def _check(self) -> None:
        try:
            await asyncio.to_thread(self._parts.whoami, self.token.access_token(), self.bot_id)
        except (PlatformError, TransientError, OSError) as exc:
            if token_refused(exc, self.bot_id):
                log.warning(ev.INSTALLATION_CHECK_REFUSED, bot_id=self.bot_id, error=str(exc))
                self._removed("token refused")
                return
            self._parts.metrics.inc("installation_check_failures")
            log.warning(ev.INSTALLATION_CHECK_FAILED, bot_id=self.bot_id, error=str(exc))
