"""Each event is answered as the bot installation it belongs to.

A notification names its bot in ``ownerId`` (the bot extension id, BOTS.md
section 4). :class:`Installations` turns that id into a :class:`Route`, the
installation's way to the platform: its REST client, its directory (persons
and chats as that bot sees them, cached per installation, so two accounts'
persons never mix) and what handlers learn of it (``ctx.installation``):

* the **configured** bot (the ``RINGCENTRAL_*`` settings): the process's
  REST client, whose token the token store keeps. An id is the configured
  bot's only when it is the token owner's, so a stale record never lends the
  configured bot's token to another bot;
* an **installed** bot (a ``private`` or ``public`` record of the
  :class:`~glipbot.state.installations.InstallationStore`): a REST client with
  the bot's own permanent token (:class:`InstallationToken`), sharing the
  process's HTTP transport and so its rate limiter, which counts each bot
  apart (the client names its bot on every call);
* anything else (no record, a removed one): :class:`~worker.errors.UnknownInstallationError`,
  which the callers keep as a dead letter (:data:`UNKNOWN_INSTALLATION`).

Records are cached per process and read again when ``installations:version``
changes (looked at most every :data:`REFRESH_INTERVAL` seconds; a bot not
found, or found removed, is always read again at once, so a new
installation answers its first event), and an installed bot's token is read
again when the platform refuses it: a reinstall replaced it, or the bot was
removed (:class:`~glipbot.errors.TokenRefusedError`, :data:`TOKEN_REFUSED`).

Keys: an installed bot's events, replies and chat order are kept under its
id (its *scope*, :meth:`Installations.scope_of`); the configured bot's under
none, as before installations existed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from glipbot.bot import CachingDirectory, InstallationInfo
from glipbot.platform.installed import InstallationToken
from glipbot.platform.rest import RestClient, TokenSource
from glipbot.state.installations import Installation, InstallationStore
from worker.errors import (
    NOT_CONFIGURED,
    REMOVED,
    UNKNOWN,
    UnknownInstallationError,
)

#: The dead-letter reason of an event or reply of a bot this deployment does not serve.
UNKNOWN_INSTALLATION = "unknown_installation"
#: The dead-letter reason of work whose installed bot's token the platform refused.
TOKEN_REFUSED = "installation_token_refused"  # noqa: S105 - a reason, not a secret
#: Seconds an active record is trusted before ``installations:version`` is read again.
REFRESH_INTERVAL = 1.0
#: ``Installation.kind`` of the configured bot.
CONFIGURED = "configured"

#: ``connect(bot_id, tokens)``: a REST client for an installed bot.
Connect = Callable[[str, TokenSource], RestClient]


@dataclass(frozen=True)
class Route:
    """One installation's way to the platform, as handlers and the poster use it."""

    #: The installed bot's id, under which its keys are kept; None for the configured bot.
    scope: str | None
    rest: RestClient
    directory: CachingDirectory
    #: The bot's own person id (for the configured bot, asked of the token store once).
    own_id: Callable[[], str]
    account_id: str = ""
    kind: str = CONFIGURED

    def info(self) -> InstallationInfo:
        """What handlers see of the installation (``ctx.installation``): never its token."""
        return InstallationInfo(self.own_id(), self.account_id, self.kind)


class Installations:
    """Resolves bot ids to :class:`Route`; one per worker process, safe between threads."""

    def __init__(
        self,
        store: InstallationStore,
        configured: Route,
        connect: Connect,
        *,
        refresh_interval: float = REFRESH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``configured``: the configured bot's route (``scope`` None; its ``own_id`` is
        memoised here); ``connect``: builds an installed bot's REST client."""
        self._store = store
        self._configured = replace(configured, own_id=_once(configured.own_id))
        self._connect = connect
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._version: int | None = None
        self._checked_at = -float("inf")
        self._records: dict[str, Installation] = {}
        self._routes: dict[str, tuple[InstallationToken, Route]] = {}

    @property
    def configured(self) -> Route:
        """The configured bot's route."""
        return self._configured

    def scope_of(self, bot_id: str | None) -> str | None:
        """``bot_id`` when it is an installed bot (a private or public record, even a removed
        one), else None: the scope of its event ids, replies and chat order."""
        if not bot_id:
            return None
        record = self._record(bot_id)
        return bot_id if record is not None and record.kind != CONFIGURED else None

    def route(self, bot_id: str | None) -> Route:
        """The route of ``bot_id``; None or "" is the configured bot (a reply that names none).

        Raises :class:`~worker.errors.UnknownInstallationError` for a bot this
        deployment does not serve.
        """
        if not bot_id:
            return self._configured
        record = self._record(bot_id)
        if record is None or record.kind == CONFIGURED:
            if bot_id != self._configured.own_id():
                state = UNKNOWN if record is None else NOT_CONFIGURED
                raise UnknownInstallationError(bot_id, state)
            return replace(self._configured, account_id=record.account_id if record else "")
        if not record.active or not record.token:
            with self._lock:
                self._routes.pop(bot_id, None)  # its client and directory are done with
            raise UnknownInstallationError(bot_id, REMOVED)
        return self._installed(record, record.token)

    def _installed(self, record: Installation, token: str) -> Route:
        bot_id = record.bot_id
        with self._lock:
            cached = self._routes.get(bot_id)
        if cached is not None:
            source, route = cached
            same = (source.access_token(), route.account_id, route.kind)
            if same == (token, record.account_id, record.kind):
                return route  # and its directory, still warm
        source = InstallationToken(bot_id, token, self._reload_token)
        rest = self._connect(bot_id, source)
        route = Route(
            scope=bot_id,
            rest=rest,
            directory=CachingDirectory(rest),
            own_id=lambda: bot_id,
            account_id=record.account_id,
            kind=record.kind,
        )
        with self._lock:
            self._routes[bot_id] = (source, route)
        return route

    def _reload_token(self, bot_id: str) -> str | None:
        """The installed bot's token as stored now (None when it has none), read past the cache."""
        record = self._store.get(bot_id)
        self._remember(bot_id, record)
        if record is None or record.kind == CONFIGURED or not record.active:
            return None
        return record.token

    def _record(self, bot_id: str) -> Installation | None:
        now = self._clock()
        with self._lock:
            due = now - self._checked_at >= self._refresh_interval
        if due:
            version = self._store.version()
            with self._lock:
                self._checked_at = now
                if version != self._version:
                    self._version = version
                    self._records.clear()
        with self._lock:
            record = self._records.get(bot_id)
        if record is not None and record.active:
            return record
        # Not known, or known as removed: ask again, so that a bot installed a
        # moment ago answers its first event.
        record = self._store.get(bot_id)
        self._remember(bot_id, record)
        return record

    def _remember(self, bot_id: str, record: Installation | None) -> None:
        """Cache what was read (never an absence: unknown ids must not pile up)."""
        with self._lock:
            if record is None:
                self._records.pop(bot_id, None)
            else:
                self._records[bot_id] = record


def _once(load: Callable[[], str]) -> Callable[[], str]:
    """``load`` asked until it answers, then its answer (the configured bot's id never changes
    while a process runs: its settings do not)."""
    found: list[str] = []

    def own_id() -> str:
        if not found:
            found.append(load())
        return found[0]

    return own_id
