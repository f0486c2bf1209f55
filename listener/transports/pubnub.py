"""The PubNub transport, with the real SDK and its known defects worked around.

First step of an event's path: the SDK long-polls the subscription's
channel, and each message it yields goes to ``on_message`` (the ingest's
``submit``) unless it is a re-delivery.

See ``PUBNUB.md``: ``PubNubAsyncio`` created inside the running loop; int
timeouts; unlimited reconnection with a capped exponential policy; resume
with ``subscribe().with_timetoken(tt)`` (``reconnect()`` raises in 10.8);
a guarded ``message()`` callback (an exception there silently ends delivery);
re-delivered batches dropped by publish timetoken per channel (the first
batch after a reconnect arrives twice); status callbacks only logged and
counted, since a drop fixed by the first retry emits none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from pubnub.callbacks import SubscribeCallback
from pubnub.enums import PNReconnectionPolicy, PNStatusCategory
from pubnub.pnconfiguration import PNConfiguration
from pubnub.pubnub_asyncio import PubNubAsyncio

from glipbot import log_events as ev
from glipbot.logging import get_logger
from glipbot.settings import Settings
from listener.metrics import Metrics
from listener.transports import OnMessage, TransportStats

log = get_logger(__name__)

#: The most messages one long-poll answer carries, and the most PubNub keeps of a
#: channel (or of a multiplexed subscribe, all channels together).
PUBNUB_BUFFER = 100
#: PubNub timetokens count tenths of microseconds since the epoch.
TIMETOKENS_PER_SECOND = 10_000_000
#: Seconds: above any server hold (PubNub holds ~280 s), or a quiet channel
#: would look like a failure and trigger back-off plus duplicates.
SUBSCRIBE_TIMEOUT = 310
CONNECT_TIMEOUT = 10
#: Reconnection back-off: 1 s doubling, capped at 16 s, never giving up.
RECONNECT_INTERVAL = 1
RECONNECT_MAX_INTERVAL = 16

_QUIET = {
    PNStatusCategory.PNConnectedCategory,
    PNStatusCategory.PNSubscriptionChangedCategory,
    PNStatusCategory.PNAcknowledgmentCategory,
    PNStatusCategory.PNCancelledCategory,
    PNStatusCategory.PNDisconnectedCategory,  # after our own unsubscribe
}


class FullPolls:
    """Tells when one long-poll answer came full: PubNub may have dropped older messages.

    The SDK hands the messages of one answer to the callback one after the
    other within one turn of the event loop; the count ends at the next
    turn. A full answer (:data:`PUBNUB_BUFFER`) means the subscriber was that
    far behind, and PubNub keeps no more than that: whatever was published
    between the cursor before the answer and its first message may be gone.
    ``on_full(since)`` gets that cursor in epoch seconds (None before the
    first answer).
    """

    def __init__(self, on_full: Callable[[float | None], None]) -> None:
        self._on_full = on_full
        self._count = 0
        self._cursor: int | None = None  # the newest timetoken of the answers before
        self._newest = 0

    def start(self, timetoken: int | None) -> None:
        """The subscription resumes from ``timetoken``: the cursor before the first answer."""
        if timetoken:
            self._cursor = max(self._cursor or 0, timetoken)

    def seen(self, timetoken: int) -> None:
        """One message of the current answer (call before any filtering)."""
        if self._count == 0:
            asyncio.get_running_loop().call_soon(self._end)
        self._count += 1
        self._newest = max(self._newest, timetoken)

    def _end(self) -> None:
        count, self._count = self._count, 0
        since = self._cursor / TIMETOKENS_PER_SECOND if self._cursor else None
        self._cursor = self._newest
        if count >= PUBNUB_BUFFER:
            self._on_full(since)


class Sink(Protocol):
    """What a :class:`Callback` hands the SDK's callbacks to."""

    stats: TransportStats

    def _on_message(self, channel: str, timetoken: int, payload: Any) -> None: ...
    def _on_status(self, status: Any) -> None: ...


class Callback(SubscribeCallback):
    """The SDK's listener: guarded, so the SDK never sees an exception from us."""

    def __init__(self, sink: Sink) -> None:
        self._t = sink

    def status(self, pubnub: Any, status: Any) -> None:
        try:
            self._t._on_status(status)
        except Exception:  # the SDK must never see an exception from us
            log.exception(ev.PUBNUB_STATUS_CALLBACK_FAILED)

    def message(self, pubnub: Any, message: Any) -> None:
        try:
            self._t._on_message(message.channel, int(message.timetoken), message.message)
        except Exception:
            self._t.stats.callback_errors += 1
            log.exception(ev.PUBNUB_MESSAGE_CALLBACK_FAILED)

    def presence(self, pubnub: Any, presence: Any) -> None:
        return None


def new_client(settings: Settings, user_id: str, subscriber_key: str, sink: Sink) -> PubNubAsyncio:
    """A client configured as ``PUBNUB.md`` says, in the running loop, listening to ``sink``."""
    config = PNConfiguration()
    config.subscribe_key = subscriber_key
    config.user_id = user_id
    config.origin = settings.pubnub_origin
    config.ssl = settings.pubnub_ssl
    config.subscribe_request_timeout = SUBSCRIBE_TIMEOUT
    config.connect_timeout = CONNECT_TIMEOUT
    config.reconnect_policy = PNReconnectionPolicy.EXPONENTIAL
    config.reconnection_interval = RECONNECT_INTERVAL
    config.maximum_reconnection_interval = RECONNECT_MAX_INTERVAL
    config.maximum_reconnection_retries = -1
    config.disable_config_locking = False
    pn = PubNubAsyncio(config, custom_event_loop=asyncio.get_running_loop())
    pn.add_listener(Callback(sink))
    return pn


def subscribe(pn: PubNubAsyncio, channels: list[str], timetoken: int | None) -> None:
    """Subscribe ``pn`` to ``channels``, from ``timetoken`` when given (else from now)."""
    builder = pn.subscribe().channels(channels)
    if timetoken:
        builder = builder.with_timetoken(timetoken)
    builder.execute()


async def close_client(pn: PubNubAsyncio) -> None:
    """Unsubscribe ``pn`` and close its sessions (bounded: 3 s)."""
    with contextlib.suppress(Exception):
        pn.unsubscribe_all()
    try:
        await asyncio.wait_for(pn.stop(), timeout=3)
    except Exception as exc:
        log.warning(ev.PUBNUB_STOP_FAILED, error=str(exc))
    # The event-engine manager creates an event loop it never uses; close it.
    loop = getattr(getattr(pn, "_subscription_manager", None), "loop", None)
    if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_running():
        loop.close()


def log_status(status: Any, metrics: Metrics) -> None:
    """Log a status callback; count those that are not routine as reconnects."""
    category = getattr(status, "category", None)
    name = getattr(category, "name", str(category))
    if category in _QUIET:
        log.info(ev.PUBNUB_STATUS, category=name)
        return
    metrics.inc("reconnects")
    log.warning(ev.PUBNUB_STATUS, category=name, error=bool(getattr(status, "error", False)))


class PubNubTransport:
    """One :class:`PubNubAsyncio` client at a time, subscribed to one channel."""

    def __init__(
        self,
        settings: Settings,
        instance: str,
        on_message: OnMessage,
        metrics: Metrics,
        *,
        on_overflow: Callable[[float], None] = lambda _since: None,
    ) -> None:
        """``on_overflow(since)``: a full answer may have dropped what was published
        since ``since`` (epoch seconds): recover it (backfill)."""
        self._settings = settings
        self._user_id = f"glipbot-listener-{instance}"
        self._deliver = on_message
        self._metrics = metrics
        self._on_overflow = on_overflow
        self._pn: PubNubAsyncio | None = None
        self._seen: dict[str, int] = {}
        self._polls = FullPolls(self._full)
        self.stats = TransportStats()

    async def start(self, address: str, subscriber_key: str, resume_timetoken: int | None) -> None:
        """Subscribe to ``address`` (resuming after ``resume_timetoken`` when given)."""
        await self.stop()
        self._pn = self._subscribe(address, subscriber_key, resume_timetoken)

    async def move(self, address: str, subscriber_key: str, resume_timetoken: int | None) -> None:
        """Subscribe to the new channel first, then drop the old client."""
        old, self._pn = self._pn, self._subscribe(address, subscriber_key, resume_timetoken)
        if old is not None:
            await self._close(old)

    async def stop(self) -> None:
        """Unsubscribe and close the client's sessions."""
        pn, self._pn = self._pn, None
        if pn is not None:
            await self._close(pn)

    def _subscribe(self, address: str, subscriber_key: str, tt: int | None) -> PubNubAsyncio:
        pn = new_client(self._settings, self._user_id, subscriber_key, self)
        self._polls.start(tt)
        if tt:
            # Anything at or before the cursor was handled by whoever saved it.
            self._seen[address] = max(self._seen.get(address, 0), tt)
        subscribe(pn, [address], tt)
        log.info(ev.PUBNUB_SUBSCRIBED, channel=address, resume_timetoken=tt)
        return pn

    async def _close(self, pn: PubNubAsyncio) -> None:
        await close_client(pn)

    def _on_message(self, channel: str, timetoken: int, payload: Any) -> None:
        self._polls.seen(timetoken)
        if timetoken <= self._seen.get(channel, 0):
            self._metrics.inc("redelivered")
            return
        self._seen[channel] = timetoken
        self._deliver(channel, timetoken, payload)

    def _full(self, since: float | None) -> None:
        self._metrics.inc("pubnub_full_polls")
        log.warning(ev.PUBNUB_BUFFER_FULL, since=since, buffer=PUBNUB_BUFFER)
        if since is not None:
            self._on_overflow(since)

    def _on_status(self, status: Any) -> None:
        log_status(status, self._metrics)
