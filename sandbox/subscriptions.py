"""Push-notification subscriptions (PubNub delivery): the table and its six endpoints.

A subscription lives ``expiresIn`` seconds (capped by
``--subscription-max-lifetime``); renewal restarts the clock and keeps the
address and key. Once expired it answers 404 ``CMN-102`` and silently stops
receiving notifications. At most ``subscription_limit`` live subscriptions
per person and app (403 ``SUB-505``). Filters accepted (with or without the
``/restapi/v1.0`` prefix): ``/glip/posts``, ``/glip/groups``,
``/account/~/extension/~`` (``~`` or the caller's own ids).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox import crypto
from sandbox.clock import Clock, iso
from sandbox.config import SUBSCRIBER_KEY, SandboxConfig
from sandbox.errors import api_error, invalid, missing, not_found, read_json_object
from sandbox.oauth import OAuth

PREFIX = "/restapi/v1.0"
GLIP_POSTS = PREFIX + "/glip/posts"
GLIP_GROUPS = PREFIX + "/glip/groups"
EXTENSION = PREFIX + "/account/~/extension/~"
_EXTENSION = re.compile(r"^/account/(~|\d+)/extension/(~|\d+)$")


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
    """One PubNub subscription of a person through an app."""

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

    def to_json(self, base_url: str, now: float) -> dict[str, Any]:
        """The SubscriptionInfo object of the spec."""
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


class SubscriptionTable:
    """Every subscription; expired ones are dropped lazily."""

    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._subs: dict[str, Subscription] = {}

    def reset(self) -> None:
        """Forget every subscription."""
        self._subs.clear()

    def live(self) -> list[Subscription]:
        """Subscriptions that have not expired (dropping the expired ones)."""
        now = self._clock()
        for sid in [s.id for s in self._subs.values() if s.expires_at <= now]:
            del self._subs[sid]
        return list(self._subs.values())

    def get(self, sub_id: str) -> Subscription | None:
        """A live subscription by id, or None."""
        sub = self._subs.get(sub_id)
        if sub is not None and sub.expires_at <= self._clock():
            del self._subs[sub_id]
            return None
        return sub

    def delete(self, sub_id: str) -> bool:
        """Remove a subscription; whether it existed."""
        return self._subs.pop(sub_id, None) is not None

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
        """A new subscription with a fresh channel and key."""
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
        self._subs[sub.id] = sub
        return sub

    def renew(self, sub: Subscription, expires_in: int | None = None) -> None:
        """Restart a subscription's clock (optionally with a new lifetime)."""
        if expires_in is not None:
            sub.expires_in = expires_in
        sub.expires_at = self._clock() + sub.expires_in


class SubscriptionEndpoints:
    """The six ``/restapi/v1.0/subscription`` endpoints."""

    def __init__(
        self, table: SubscriptionTable, oauth: OAuth, config: SandboxConfig, clock: Clock
    ) -> None:
        self._table = table
        self._oauth = oauth
        self._config = config
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes, with and without a trailing slash."""
        base = PREFIX + "/subscription"
        return [
            web.post(base, self.create),
            web.get(base, self.list),
            web.get(base + "/{id}", self.read),
            web.put(base + "/{id}", self.update),
            web.delete(base + "/{id}", self.delete),
            web.post(base + "/{id}/renew", self.renew),
        ]

    def _json(self, request: web.Request, sub: Subscription) -> dict[str, Any]:
        return sub.to_json(str(request.url.origin()), self._clock())

    def _mine(self, request: web.Request) -> Subscription:
        who = self._oauth.authenticate(request)
        sub = self._table.get(request.match_info["id"])
        if sub is None or (sub.owner_id, sub.client_id) != (who.person_id, who.client_id):
            raise not_found("subscriptionId")
        return sub

    async def create(self, request: web.Request) -> web.Response:
        """``POST /subscription``."""
        who = self._oauth.authenticate(request)
        body = await read_json_object(request)
        filters = _filters(body)
        delivery = body.get("deliveryMode")
        if delivery is None:
            raise missing("deliveryMode")
        if not isinstance(delivery, dict):
            raise invalid("deliveryMode")
        transport = delivery.get("transportType", "PubNub")
        if transport != "PubNub":
            raise invalid("deliveryMode.transportType", "the sandbox delivers over PubNub only")
        encryption = _encryption(delivery.get("encryption", True))
        expires_in = self._table.lifetime(_expires_in(body))
        mine = [
            s
            for s in self._table.live()
            if (s.owner_id, s.client_id) == (who.person_id, who.client_id)
        ]
        if len(mine) >= self._config.subscription_limit:
            raise api_error(403, "SUB-505", "Subscriptions limit is exceeded for this user and app")
        sub = self._table.create(who.person_id, who.client_id, filters, expires_in, encryption)
        return web.json_response(self._json(request, sub))

    async def list(self, request: web.Request) -> web.Response:
        """``GET /subscription``: the caller's live subscriptions through this app."""
        who = self._oauth.authenticate(request)
        records = [
            self._json(request, s)
            for s in self._table.live()
            if (s.owner_id, s.client_id) == (who.person_id, who.client_id)
        ]
        return web.json_response(
            {"uri": f"{request.url.origin()}{PREFIX}/subscription", "records": records}
        )

    async def read(self, request: web.Request) -> web.Response:
        """``GET /subscription/{id}``."""
        return web.json_response(self._json(request, self._mine(request)))

    async def update(self, request: web.Request) -> web.Response:
        """``PUT /subscription/{id}``: new filters (and lifetime); restarts the clock."""
        sub = self._mine(request)
        body = await read_json_object(request)
        sub.event_filters = _filters(body)
        requested = _expires_in(body)
        self._table.renew(sub, self._table.lifetime(requested) if requested is not None else None)
        return web.json_response(self._json(request, sub))

    async def renew(self, request: web.Request) -> web.Response:
        """``POST /subscription/{id}/renew``: restart the clock, same address and key."""
        sub = self._mine(request)
        self._table.renew(sub)
        return web.json_response(self._json(request, sub))

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /subscription/{id}``."""
        sub = self._mine(request)
        self._table.delete(sub.id)
        return web.Response(status=204)


def _filters(body: dict[str, Any]) -> list[str]:
    raw = body.get("eventFilters")
    if raw is None:
        raise missing("eventFilters")
    if not isinstance(raw, list) or not raw or not all(isinstance(f, str) for f in raw):
        raise invalid("eventFilters", "a non-empty list of strings")
    filters: list[str] = []
    for f in raw:
        canonical = normalize_filter(f)
        if canonical is None:
            raise invalid("eventFilters", f"unsupported event filter {f}")
        if canonical not in filters:
            filters.append(canonical)
    return filters


def _expires_in(body: dict[str, Any]) -> int | None:
    value = body.get("expiresIn")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid("expiresIn", "a positive integer number of seconds")
    return value


#: ``deliveryMode.encryption`` as written: a boolean, or the string the seed sends.
_ENCRYPTION_STRINGS = {"true": True, "false": False}


def _encryption(value: object) -> bool:
    # The seed writes "encryption": "true" (a string) and the platform answers
    # 200 with the boolean, so both forms are accepted; anything else is a 400.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _ENCRYPTION_STRINGS:
        return _ENCRYPTION_STRINGS[value]
    raise invalid("deliveryMode.encryption", 'true or false (a boolean, or the string "true")')
