"""Many subscriptions' channels over as few PubNub clients as the protocol allows.

Installed bots (:mod:`listener.fleet`) each have a subscription, and so a
channel. PubNub multiplexes channels of one subscribe key over one
long-poll; its guidance is to keep a multiplexed subscribe to about
:data:`MAX_CHANNELS` channels (beyond that it offers channel groups, which
need control of the keyset, and RingCentral's is not ours). So a
:class:`PubNubMux` keeps one client per :data:`MAX_CHANNELS` channels of a
subscribe key and routes each message by its channel to that subscription's
``deliver`` (its ingest's ``submit``).

A channel joins a client in one of two ways:

* **fresh** (no timetoken to resume from: a subscription created now, on
  which nothing predates it): into a client with room, whose cursor the SDK
  keeps when its channel list changes;
* **resuming** from a stored timetoken (a subscription taken over after a
  restart or a shard move): a new client, subscribed from the oldest
  timetoken of the channels that join it together; what that replays of
  another channel's messages is dropped by that channel's own cursor, as
  :class:`~listener.transports.pubnub.PubNubTransport` drops re-deliveries.

Changes arriving together (a shard taken over: hundreds of channels within
a second) are applied together after :data:`SETTLE` seconds. A client left
without channels is closed.

PubNub keeps the last 100 messages of a multiplexed subscribe across all its
channels together (``PUBNUB.md``): a client with many busy channels
overflows sooner than one with one. That is why :data:`MAX_CHANNELS` stays
at PubNub's recommendation rather than at what a URL can hold.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pubnub.pubnub_asyncio import PubNubAsyncio

from glipbot import log_events as ev
from glipbot.logging import get_logger
from glipbot.settings import Settings
from listener.metrics import Metrics
from listener.transports import OnMessage, TransportStats
from listener.transports.pubnub import (
    PUBNUB_BUFFER,
    FullPolls,
    close_client,
    log_status,
    new_client,
    subscribe,
)

log = get_logger(__name__)

#: Channels per client: PubNub's recommended ceiling for multiplexing.
MAX_CHANNELS = 30
#: Seconds changes wait for others to join them before they are applied.
SETTLE = 0.2


@dataclass
class _Client:
    """One PubNub client and the channels it is subscribed to."""

    pn: PubNubAsyncio
    subscriber_key: str
    router: _Router

    @property
    def channels(self) -> set[str]:
        return self.router.channels

    @property
    def room(self) -> int:
        return MAX_CHANNELS - len(self.channels)


class _Router:
    """The SDK's sink for one client of a :class:`PubNubMux`."""

    def __init__(self, mux: PubNubMux) -> None:
        self._mux = mux
        self.stats = mux.stats
        self.channels: set[str] = set()
        self.polls = FullPolls(lambda since: mux._full(self.channels, since))

    def _on_message(self, channel: str, timetoken: int, payload: Any) -> None:
        self.polls.seen(timetoken)
        self._mux._route(channel, timetoken, payload)

    def _on_status(self, status: Any) -> None:
        log_status(status, self._mux._metrics)


class PubNubMux:
    """Routes many channels' messages; :meth:`add` and :meth:`remove` channels, :meth:`stop`."""

    def __init__(self, settings: Settings, user_id: str, metrics: Metrics) -> None:
        self._settings = settings
        self._user_id = user_id
        self._metrics = metrics
        self.stats = TransportStats()
        self._clients: list[_Client] = []
        self._client_of: dict[str, _Client] = {}
        self._deliver: dict[str, OnMessage] = {}
        self._overflow: dict[str, Callable[[float], None]] = {}
        self._seen: dict[str, int] = {}
        self._adding: dict[str, tuple[str, int | None]] = {}
        self._removing: set[str] = set()
        self._applying: asyncio.Future[None] | None = None
        self._numbers = itertools.count(1)

    def clients(self) -> int:
        """PubNub clients open now."""
        return len(self._clients)

    def channels(self) -> int:
        """Channels subscribed now."""
        return len(self._client_of)

    async def add(
        self,
        address: str,
        subscriber_key: str,
        resume_timetoken: int | None,
        deliver: OnMessage,
        on_overflow: Callable[[float], None] = lambda _since: None,
    ) -> None:
        """Receive ``address`` (from ``resume_timetoken`` when given) into ``deliver``;
        ``on_overflow(since)``: a full answer of its client may have dropped what was
        published on it since ``since`` (epoch seconds)."""
        self._deliver[address] = deliver
        self._overflow[address] = on_overflow
        if resume_timetoken:
            # Anything at or before the cursor was handled by whoever saved it.
            self._seen[address] = max(self._seen.get(address, 0), resume_timetoken)
        self._removing.discard(address)
        self._adding[address] = (subscriber_key, resume_timetoken)
        await self._apply_soon()

    async def remove(self, address: str) -> None:
        """Stop receiving ``address``; its messages still in flight are dropped."""
        self._deliver.pop(address, None)
        self._overflow.pop(address, None)
        self._adding.pop(address, None)
        self._removing.add(address)
        await self._apply_soon()

    async def stop(self) -> None:
        """Close every client; safe to call twice."""
        clients, self._clients = self._clients, []
        self._client_of.clear()
        self._adding.clear()
        self._removing.clear()
        await asyncio.gather(*(close_client(c.pn) for c in clients))

    # -- applying changes ------------------------------------------------------

    async def _apply_soon(self) -> None:
        if self._applying is None or self._applying.done():
            self._applying = asyncio.ensure_future(self._apply_after(SETTLE))
        await asyncio.shield(self._applying)

    async def _apply_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        removing, self._removing = self._removing, set()
        adding, self._adding = self._adding, {}
        await self._unsubscribe(removing)
        fresh = [(a, key) for a, (key, tt) in adding.items() if not tt and a not in self._client_of]
        resuming = [(a, key, tt) for a, (key, tt) in adding.items() if tt is not None and tt > 0]
        for address, _, _ in resuming:
            await self._unsubscribe({address})  # it moves to a client that starts from its cursor
        self._join(fresh)
        self._open(resuming)

    async def _unsubscribe(self, addresses: set[str]) -> None:
        emptied: list[_Client] = []
        for address in addresses:
            client = self._client_of.pop(address, None)
            if client is None:
                continue
            client.channels.discard(address)
            if client.channels:
                client.pn.unsubscribe().channels([address]).execute()
            elif client in self._clients:
                self._clients.remove(client)
                emptied.append(client)
        await asyncio.gather(*(close_client(c.pn) for c in emptied))

    def _join(self, fresh: list[tuple[str, str]]) -> None:
        """Fresh channels into clients with room (their cursor stays), else new clients."""
        by_key: dict[str, list[str]] = {}
        for address, key in fresh:
            by_key.setdefault(key, []).append(address)
        for key, addresses in by_key.items():
            for client in self._clients:
                if not addresses:
                    break
                if client.subscriber_key != key or client.room <= 0:
                    continue
                batch, addresses = addresses[: client.room], addresses[client.room :]
                self._subscribe(client, batch, None)
            for start in range(0, len(addresses), MAX_CHANNELS):
                self._subscribe(self._new(key), addresses[start : start + MAX_CHANNELS], None)

    def _open(self, resuming: list[tuple[str, str, int]]) -> None:
        """Resuming channels into new clients, each from its channels' oldest cursor."""
        by_key: dict[str, list[tuple[str, int]]] = {}
        for address, key, tt in resuming:
            by_key.setdefault(key, []).append((address, tt))
        for key, items in by_key.items():
            items.sort(key=lambda item: item[1])
            for start in range(0, len(items), MAX_CHANNELS):
                chunk = items[start : start + MAX_CHANNELS]
                self._subscribe(self._new(key), [a for a, _ in chunk], chunk[0][1])

    def _new(self, subscriber_key: str) -> _Client:
        user_id = f"{self._user_id}-{next(self._numbers)}"
        router = _Router(self)
        pn = new_client(self._settings, user_id, subscriber_key, router)
        client = _Client(pn, subscriber_key, router)
        self._clients.append(client)
        return client

    def _subscribe(self, client: _Client, addresses: list[str], timetoken: int | None) -> None:
        client.channels.update(addresses)
        for address in addresses:
            self._client_of[address] = client
        client.router.polls.start(timetoken)
        subscribe(client.pn, addresses, timetoken)
        log.info(
            ev.PUBNUB_SUBSCRIBED,
            channels=len(addresses),
            client_channels=len(client.channels),
            resume_timetoken=timetoken,
        )

    # -- delivering ------------------------------------------------------------

    def _full(self, channels: set[str], since: float | None) -> None:
        """A client's answer came full: each of its channels may have lost messages."""
        self._metrics.inc("pubnub_full_polls")
        log.warning(
            ev.PUBNUB_BUFFER_FULL, since=since, buffer=PUBNUB_BUFFER, channels=len(channels)
        )
        if since is None:
            return
        for channel in list(channels):
            recover = self._overflow.get(channel)
            if recover is not None:
                recover(since)

    def _route(self, channel: str, timetoken: int, payload: Any) -> None:
        if timetoken <= self._seen.get(channel, 0):
            self._metrics.inc("redelivered")
            return
        deliver = self._deliver.get(channel)
        if deliver is None:
            # A channel removed a moment ago: its subscription is gone or moved.
            self._metrics.inc("unrouted")
            return
        self._seen[channel] = timetoken
        deliver(channel, timetoken, payload)
