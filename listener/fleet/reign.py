"""Leading one shard: serve each active installed bot of the shard, as the records change.

:class:`FleetReign` reads the installations (``installations:version``, one
``GET`` every :data:`WATCH_INTERVAL`; the records when it moved) and keeps one
:class:`~listener.fleet.bot.InstalledBot` per active ``private`` or
``public`` installation whose bot belongs to its shard: a new record starts
one, a removed record stops it (and deletes its subscription while the
token may still work), a replaced token is used from the next call. Starts
are spread over :data:`START_SPREAD` seconds at most, so taking over a shard
of hundreds of bots is not a burst of calls. Over PubNub the shard's bots
share one :class:`~listener.transports.multiplex.PubNubMux`.

A bot found uninstalled (its extension's ``Delete``, or a refused check)
is removed from the store here: its token is forgotten, its dead letters
kept, and the next look at the records stops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from glipbot import log_events as ev
from glipbot.logging import bound_context, get_logger
from glipbot.state.installations import Installation, InstallationStore
from listener.fleet.bot import FleetParts, InstalledBot
from listener.fleet.shards import shard_of
from listener.lease import Lease
from listener.transports.multiplex import PubNubMux

log = get_logger(__name__)

#: Seconds between two looks at ``installations:version``.
WATCH_INTERVAL = 1.0
#: Seconds over which a burst of bots' starts is spread, at most.
START_SPREAD = 10.0
#: Seconds between two starts of a burst, at most.
START_STEP = 0.02


class FleetReign:
    """The installed bots of shard ``shard`` while this listener leads it."""

    def __init__(
        self,
        shard: int,
        shards: int,
        lease: Lease,
        parts: FleetParts,
        store: InstallationStore,
        *,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        self.shard = shard
        self._shards = shards
        self._lease = lease
        self._parts = parts
        self._store = store
        self._watch_interval = watch_interval
        pubnub = parts.settings.notification_transport == "pubnub"
        user = f"glipbot-listener-{parts.instance}-shard{shard}"
        self.mux = PubNubMux(parts.settings, user, parts.metrics) if pubnub else None
        #: The bots served now, by bot id.
        self.bots: dict[str, InstalledBot] = {}
        self._version: int | None = None

    def mine(self, installation: Installation) -> bool:
        """Whether this reign serves ``installation`` (active, installed, in its shard)."""
        return (
            installation.active
            and installation.kind != "configured"
            and bool(installation.token)
            and shard_of(installation.bot_id, self._shards) == self.shard
        )

    async def run(self) -> None:
        """Follow the records until cancelled."""
        with bound_context(shard=self.shard):
            while True:
                try:
                    await self.refresh()
                except Exception as exc:  # Redis or a bad record: look again next time
                    self._parts.metrics.inc("fleet_refresh_failures")
                    log.error(ev.LISTENER_STEP_FAILED, step="fleet_refresh", error=repr(exc))
                await asyncio.sleep(self._watch_interval)

    async def refresh(self) -> None:
        """Start, stop or update bots to match the records, if they changed."""
        version = await asyncio.to_thread(self._store.version)
        if version == self._version:
            return
        records = await asyncio.to_thread(self._store.all)
        wanted = {i.bot_id: i for i in records if self.mine(i)}
        gone = [bot for bot_id, bot in self.bots.items() if bot_id not in wanted]
        for bot in gone:
            del self.bots[bot.bot_id]
        await asyncio.gather(*(self._retire(bot) for bot in gone))
        new = [i for bot_id, i in wanted.items() if bot_id not in self.bots]
        step = min(START_STEP, START_SPREAD / max(1, len(new)))
        for n, installation in enumerate(new):
            self._start(installation, delay=n * step)
        for bot_id, installation in wanted.items():
            bot = self.bots[bot_id]
            if installation.token and installation.token != bot.token.access_token():
                bot.replace_token(installation.token)
        self._version = version

    async def stop(self, *, handing_over: bool) -> None:
        """Stop every bot (their subscriptions stay for the next leader), then the clients."""
        bots, self.bots = list(self.bots.values()), {}
        await asyncio.gather(*(bot.stop(handing_over=handing_over) for bot in bots))
        if self.mux is not None:
            await self.mux.stop()

    def served(self) -> int:
        """How many bots it serves now."""
        return len(self.bots)

    def describe(self) -> dict[str, Any]:
        """What health shows of the shard."""
        live = sum(1 for bot in self.bots.values() if bot.holder.live())
        failing = sorted(b.bot_id for b in self.bots.values() if b.holder.failures)
        body: dict[str, Any] = {
            "shard": self.shard,
            "fence": self._lease.fence,
            "bots": len(self.bots),
            "live": live,
            "failing": failing[:10],
        }
        if self.mux is not None:
            body["pubnub_clients"] = self.mux.clients()
        return body

    def _start(self, installation: Installation, delay: float) -> None:
        bot = InstalledBot(installation, self._parts, self._lease, self.mux, self._removed)
        self.bots[installation.bot_id] = bot
        bot.start(delay)
        log.info(
            ev.INSTALLED_BOT_STARTED,
            bot_id=installation.bot_id,
            account_id=installation.account_id,
            kind=installation.kind,
        )

    async def _retire(self, bot: InstalledBot) -> None:
        await bot.retire()
        await bot.stop(handing_over=True)
        log.info(ev.INSTALLED_BOT_STOPPED, bot_id=bot.bot_id)

    async def _removed(self, bot_id: str, reason: str) -> None:
        """The platform says ``bot_id`` is uninstalled: forget its token; the next look at
        the records (within :data:`WATCH_INTERVAL`) stops it."""
        removed = await asyncio.to_thread(self._store.remove, bot_id, reason)
        self._parts.metrics.inc("uninstalls", reason=reason.replace(" ", "_"))
        log.info(
            ev.INSTALLATION_REMOVED,
            bot_id=bot_id,
            reason=reason,
            account_id=removed.account_id if removed else None,
        )


#: Builds a shard's reign for :class:`~listener.fleet.shards.Shards`.
FleetFactory = Callable[[int, Lease], FleetReign]
