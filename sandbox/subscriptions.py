"""Push-notification subscriptions (PubNub and WebSocket delivery): the model and the table.

A PubNub subscription lives ``expiresIn`` seconds (capped by
``--subscription-max-lifetime``); renewal restarts the clock and keeps the
address and key. Once expired it answers 404 ``CMN-102`` and silently stops
receiving notifications. At most ``subscription_limit`` live PubNub
subscriptions per person and app (403 ``SUB-505``). Filters accepted (with or
without the ``/restapi/v1.0`` prefix): ``/glip/posts``, ``/glip/groups``,
``/account/~/extension/~`` (``~`` or the caller's own ids).

A WebSocket subscription can only be created or updated over a socket of the
gateway (over plain HTTP that is a 400). It belongs to its WebSocket session:
one per session (a new one replaces it), never expires by time, and ends with
the session. It does not count towards ``SUB-505``. The endpoints are in
:mod:`sandbox.subscription_endpoints`.

The table indexes subscriptions by owner, so delivering a notification costs
the number of its recipients' subscriptions, however many installations the
sandbox holds.
"""

from __future__ import annotations

import math
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sandbox import crypto
from sandbox.clock import Clock, iso
from sandbox.config import SUBSCRIBER_KEY, SandboxConfig

PREFIX = "/restapi/v1.0"
GLIP_POSTS = PREFIX + "/glip/posts"
GLIP_GROUPS = PREFIX + "/glip/groups"
EXTENSION = PREFIX + "/account/~/extension/~"
_EXTENSION = re.compile(r"^/account/(~|\d+)/extension/(~|\d+)$")

PUBNUB = "PubNub"
WEBSOCKET = "WebSocket"
#: What a WebSocket subscription shows: a day, renewed by the server while its session lives.
WEBSOCKET_EXPIRES_IN = 86399


def filter_account(raw: str) -> str | None:
    """The account id (or ``~``) an extension filter names; None for other filters."""
    path = raw.strip().split("?", 1)[0]
    if path.startswith(PREFIX + "/"):
        path = path[len(PREFIX) :]
    match = _EXTENSION.match(path)
    return match.group(1) if match else None


def normalize_filter(raw: str) -> str | None:
    """The canonical form of a supported event filter, or None."""
    path = raw.strip()
    path = path.split("?", 1)[0]
    if path.startswith(PREFIX + "/"):
        path = path[len(PREFIX) :]
    if path in ("/glip/posts", "/glip/groups"):
        return PREFIX + path
    if _EXTENSION.match(path):
        return EXTENSION
    return None


@dataclass
class Subscription:
    """One subscription of a person through an app (PubNub, or WebSocket)."""

    id: str
    owner_id: str
    client_id: str
    event_filters: list[str]
    expires_in: int
    expires_at: float
    created: float
    address: str
    subscriber_key: str
    encryption_key: str
    encryption: bool = True
    transport: str = PUBNUB
    #: The WebSocket session that owns a WebSocket subscription.
    session_id: str | None = None
    #: The owner's account id, which replaces ``~`` in the filters a WebSocket one shows.
    account_id: str = "~"

    def shown_filters(self) -> list[str]:
        """The filters as answered: with real ids for ``~`` (WebSocket, as the real answer)."""
        if self.transport != WEBSOCKET:
            return list(self.event_filters)
        extension = f"/account/{self.account_id}/extension/{self.owner_id}"
        return [f.replace("/account/~/extension/~", extension) for f in self.event_filters]

    def to_json(self, base_url: str, now: float) -> dict[str, Any]:
        """The SubscriptionInfo object of the spec."""
        if self.transport == WEBSOCKET:
            return self._websocket_json(now)
        delivery: dict[str, Any] = {
            "transportType": "PubNub",
            "encryption": self.encryption,
            "address": self.address,
            "subscriberKey": self.subscriber_key,
        }
        if self.encryption:
            delivery["encryptionAlgorithm"] = "AES"
            delivery["encryptionKey"] = self.encryption_key
        return {
            "id": self.id,
            "uri": f"{base_url}{PREFIX}/subscription/{self.id}",
            "eventFilters": list(self.event_filters),
            "expirationTime": iso(self.expires_at),
            "expiresIn": max(0, round(self.expires_at - now)),
            "status": "Active",
            "creationTime": iso(self.created),
            "deliveryMode": delivery,
        }

    def _websocket_json(self, now: float) -> dict[str, Any]:
        # The shape and order of the answer captured from RingCentral (WEBSOCKET.md §4).
        return {
            "uri": f"{PREFIX}/subscription/{self.id}",
            "id": self.id,
            "creationTime": iso(self.created),
            "status": "Active",
            "eventFilters": self.shown_filters(),
            "expirationTime": iso(now + WEBSOCKET_EXPIRES_IN + 1),
            "expiresIn": WEBSOCKET_EXPIRES_IN,
            "deliveryMode": {"transportType": WEBSOCKET, "encryption": False},
        }


class SubscriptionTable:
    """Every subscription; expired ones are dropped lazily."""

    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._subs: dict[str, Subscription] = {}
        self._by_owner: dict[str, dict[str, Subscription]] = {}

    def reset(self) -> None:
        """Forget every subscription."""
        self._subs.clear()
        self._by_owner.clear()

    def live(self) -> list[Subscription]:
        """Subscriptions that have not expired (dropping the expired ones)."""
        now = self._clock()
        for sid in [s.id for s in self._subs.values() if s.expires_at <= now]:
            self.delete(sid)
        return list(self._subs.values())

    def of_owner(self, owner_id: str) -> list[Subscription]:
        """One person's live subscriptions, oldest first (dropping their expired ones)."""
        mine = self._by_owner.get(owner_id)
        if not mine:
            return []
        now = self._clock()
        for sid in [s.id for s in mine.values() if s.expires_at <= now]:
            self.delete(sid)
        return list(mine.values())

    def remove_owner(self, owner_id: str) -> list[Subscription]:
        """Delete every subscription of a person (a removed extension); the live ones."""
        live = self.of_owner(owner_id)
        for sub in live:
            self.delete(sub.id)
        self._by_owner.pop(owner_id, None)
        return live

    def get(self, sub_id: str) -> Subscription | None:
        """A live subscription by id, or None."""
        sub = self._subs.get(sub_id)
        if sub is not None and sub.expires_at <= self._clock():
            self.delete(sub_id)
            return None
        return sub

    def delete(self, sub_id: str) -> bool:
        """Remove a subscription; whether it existed."""
        sub = self._subs.pop(sub_id, None)
        if sub is None:
            return False
        mine = self._by_owner.get(sub.owner_id)
        if mine is not None:
            mine.pop(sub_id, None)
            if not mine:
                del self._by_owner[sub.owner_id]
        return True

    def _add(self, sub: Subscription) -> Subscription:
        self._subs[sub.id] = sub
        self._by_owner.setdefault(sub.owner_id, {})[sub.id] = sub
        return sub

    def expire(self, sub_id: str) -> bool:
        """Make a subscription expire now; whether it was live."""
        sub = self.get(sub_id)
        if sub is None:
            return False
        sub.expires_at = self._clock()
        return True

    def lifetime(self, requested: int | None) -> int:
        """The lifetime a request gets: the cap when absent or larger."""
        cap = self._config.subscription_max_lifetime
        return cap if requested is None else max(1, min(requested, cap))

    def create(
        self, owner_id: str, client_id: str, filters: list[str], expires_in: int, encryption: bool
    ) -> Subscription:
        """A new PubNub subscription with a fresh channel and key."""
        now = self._clock()
        sub = Subscription(
            id=str(uuid.uuid4()),
            owner_id=owner_id,
            client_id=client_id,
            event_filters=filters,
            expires_in=expires_in,
            expires_at=now + expires_in,
            created=now,
            address=f"{secrets.randbelow(10**13):013d}_{secrets.token_hex(12)}",
            subscriber_key=SUBSCRIBER_KEY,
            encryption_key=crypto.new_key(),
            encryption=encryption,
        )
        return self._add(sub)

    def create_websocket(
        self, owner_id: str, client_id: str, filters: list[str], session_id: str, account_id: str
    ) -> Subscription:
        """A new WebSocket subscription of a session: it expires only with its session."""
        sub = Subscription(
            id=str(uuid.uuid4()),
            owner_id=owner_id,
            client_id=client_id,
            event_filters=filters,
            expires_in=WEBSOCKET_EXPIRES_IN,
            expires_at=math.inf,
            created=self._clock(),
            address="",
            subscriber_key="",
            encryption_key="",
            encryption=False,
            transport=WEBSOCKET,
            session_id=session_id,
            account_id=account_id,
        )
        return self._add(sub)

    def renew(self, sub: Subscription, expires_in: int | None = None) -> None:
        """Restart a subscription's clock (optionally with a new lifetime); none for WebSocket."""
        if sub.transport == WEBSOCKET:
            return
        if expires_in is not None:
            sub.expires_in = expires_in
        sub.expires_at = self._clock() + sub.expires_in
