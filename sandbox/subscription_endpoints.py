"""The six ``/restapi/v1.0/subscription`` endpoints (each also with a trailing slash).

PubNub subscriptions are made over HTTP. WebSocket ones only over a socket of
the gateway: its ``ClientRequest`` frames reach these endpoints as proxied
calls that :class:`SocketSessions` recognises; over plain HTTP, creating or
updating one answers 400 ``CMN-101``.

Creating one answers 403 ``SUB-406`` ("Not allowed subscribe for events to
extensions of other account") while the caller is a bot still "not ready"
after its installation (BOTS.md §6: clients retry), and for an extension
filter that names another account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from sandbox.clock import Clock
from sandbox.config import SandboxConfig
from sandbox.errors import ApiError, api_error, invalid, missing, not_found, read_json_object
from sandbox.oauth import OAuth
from sandbox.subscriptions import (
    PREFIX,
    PUBNUB,
    WEBSOCKET,
    Subscription,
    SubscriptionTable,
    filter_account,
    normalize_filter,
)

_SUB_406 = "Not allowed subscribe for events to extensions of other account"


class SocketSessions(Protocol):
    """What the endpoints need of the WebSocket gateway."""

    def session_of(self, request: web.Request) -> str | None:
        """The WebSocket session a call comes from (None: a plain HTTP call)."""
        ...

    def attach(self, session_id: str, subscription: Subscription) -> None:
        """Make ``subscription`` the session's only one."""
        ...

    def detach(self, subscription: Subscription) -> None:
        """A WebSocket subscription was deleted."""
        ...


class SubscriptionEndpoints:
    """The six ``/restapi/v1.0/subscription`` endpoints."""

    def __init__(
        self,
        table: SubscriptionTable,
        oauth: OAuth,
        config: SandboxConfig,
        clock: Clock,
        sockets: SocketSessions | None = None,
        account_of: Callable[[str], str] = lambda person_id: "~",
        not_ready: Callable[[str], bool] = lambda person_id: False,
    ) -> None:
        self._table = table
        self._oauth = oauth
        self._config = config
        self._clock = clock
        self._sockets = sockets
        self._account_of = account_of
        self._not_ready = not_ready

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes, with and without a trailing slash."""
        base = PREFIX + "/subscription"
        routes = [
            web.post(base, self.create),
            web.get(base, self.list),
            web.get(base + "/{id}", self.read),
            web.put(base + "/{id}", self.update),
            web.delete(base + "/{id}", self.delete),
            web.post(base + "/{id}/renew", self.renew),
        ]
        # The guide and the Python SDK write ".../subscription/" (WEBSOCKET.md §4).
        slashed = [web.RouteDef(r.method, r.path + "/", r.handler, r.kwargs) for r in routes]
        return routes + slashed

    def _socket_session(self, request: web.Request) -> str | None:
        return None if self._sockets is None else self._sockets.session_of(request)

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
        filters = _filters(body, self._account_of(who.person_id))
        if self._not_ready(who.person_id):
            raise api_error(403, "SUB-406", _SUB_406)
        delivery = body.get("deliveryMode")
        if delivery is None:
            raise missing("deliveryMode")
        if not isinstance(delivery, dict):
            raise invalid("deliveryMode")
        transport = delivery.get("transportType", PUBNUB)
        if transport == WEBSOCKET:
            return self._create_websocket(request, who.person_id, who.client_id, filters)
        if transport != PUBNUB:
            raise invalid("deliveryMode.transportType", "PubNub, or WebSocket over the gateway")
        encryption = _encryption(delivery.get("encryption", True))
        expires_in = self._table.lifetime(_expires_in(body))
        mine = [
            s
            for s in self._table.of_owner(who.person_id)
            if s.client_id == who.client_id and s.transport == PUBNUB
        ]
        if len(mine) >= self._config.subscription_limit:
            raise api_error(403, "SUB-505", "Subscriptions limit is exceeded for this user and app")
        sub = self._table.create(who.person_id, who.client_id, filters, expires_in, encryption)
        return web.json_response(self._json(request, sub))

    def _create_websocket(
        self, request: web.Request, owner_id: str, client_id: str, filters: list[str]
    ) -> web.Response:
        session_id = self._socket_session(request)
        if session_id is None or self._sockets is None:
            raise _http_refused("created")
        sub = self._table.create_websocket(
            owner_id, client_id, filters, session_id, self._account_of(owner_id)
        )
        self._sockets.attach(session_id, sub)
        return web.json_response(self._json(request, sub))

    async def list(self, request: web.Request) -> web.Response:
        """``GET /subscription``: the caller's live subscriptions through this app."""
        who = self._oauth.authenticate(request)
        records = [
            self._json(request, s)
            for s in self._table.of_owner(who.person_id)
            if s.client_id == who.client_id
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
        if sub.transport == WEBSOCKET and self._socket_session(request) is None:
            raise _http_refused("updated")
        body = await read_json_object(request)
        sub.event_filters = _filters(body, self._account_of(sub.owner_id))
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
        if sub.transport == WEBSOCKET and self._sockets is not None:
            self._sockets.detach(sub)
        return web.Response(status=204)


def _http_refused(done: str) -> ApiError:
    return invalid(
        "deliveryMode.transportType",
        f"a WebSocket subscription can only be {done} over the WebSocket gateway "
        "(a ClientRequest frame on the socket from /restapi/oauth/wstoken)",
    )


def _filters(body: dict[str, Any], account_id: str) -> list[str]:
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
        if filter_account(f) not in (None, "~", account_id):
            raise api_error(403, "SUB-406", _SUB_406)
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
