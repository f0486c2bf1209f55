"""``POST /restapi/oauth/wstoken``, and the single-use ws tokens it issues.

A ws token opens one socket: it is used up by its first connection, expires
after the ``wstokenLifetime`` it was issued with, and is bound to the OAuth
session (the login) of the bearer token that asked for it. A refresh keeps the
login, so a refreshed access token still owns its ws tokens; a revoked one
does not.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from sandbox.clock import Clock
from sandbox.errors import GATEWAY_PATH, read_json_object
from sandbox.oauth import OAuth
from sandbox.tokens import Session, TokenTable
from sandbox.websocket import errors
from sandbox.websocket.settings import WebSocketSettings, number

#: Seconds an expired ws token is still known (refused as expired rather than unknown).
_KEPT = 3600.0


@dataclass
class WsToken:
    """One issued ws token."""

    value: str
    oauth: Session
    expires_at: float
    used: bool = False


class WsTokenTable:
    """Issued ws tokens (forgotten an hour after they expire)."""

    def __init__(self, tokens: TokenTable, clock: Clock) -> None:
        self._tokens = tokens
        self._clock = clock
        self._issued: dict[str, WsToken] = {}

    def reset(self) -> None:
        """Forget every ws token."""
        self._issued.clear()

    def issue(self, oauth: Session, lifetime: float) -> WsToken:
        """A new ws token for a login."""
        now = self._clock()
        for value in [t.value for t in self._issued.values() if t.expires_at <= now - _KEPT]:
            del self._issued[value]
        token = WsToken(f"SBXW-{secrets.token_urlsafe(32)}", oauth, now + lifetime)
        self._issued[token.value] = token
        return token

    def redeem(self, value: str) -> Session:
        """Use a ws token up; its login, or :class:`~errors.ConnectRefused` (401)."""
        token = self._issued.get(value)
        if token is None:
            raise _refused(errors.UNKNOWN_CREDENTIAL, "WebSocket access token not found")
        if token.used:
            raise _refused(errors.UNKNOWN_CREDENTIAL, "WebSocket access token was already used")
        token.used = True
        if token.expires_at <= self._clock():
            raise _refused(errors.EXPIRED_CREDENTIAL, "WebSocket access token expired")
        state, session = self._tokens.lookup(token.oauth.access_token)
        if session is not token.oauth or state == "unknown":
            raise _refused(
                errors.UNKNOWN_CREDENTIAL, "The OAuth session of this WebSocket token was revoked"
            )
        if state == "expired":
            raise _refused(
                errors.EXPIRED_CREDENTIAL, "The OAuth access token of this WebSocket token expired"
            )
        return token.oauth


def _refused(code: str, message: str) -> errors.ConnectRefused:
    return errors.ConnectRefused(401, code, message)


class WsTokenEndpoint:
    """The handler of ``POST /restapi/oauth/wstoken`` (rate-limit group Auth)."""

    def __init__(
        self,
        table: WsTokenTable,
        oauth: OAuth,
        settings: Callable[[], WebSocketSettings],
    ) -> None:
        self._table = table
        self._oauth = oauth
        self._settings = settings

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp route."""
        return [web.post("/restapi/oauth/wstoken", self.wstoken)]

    async def wstoken(self, request: web.Request) -> web.Response:
        """``{uri, ws_access_token, expires_in}`` for the bearer's login; no body or ``{}``."""
        session = self._oauth.session_of(request)
        await read_json_object(request, required=False)
        lifetime = self._settings().wstoken_lifetime
        token = self._table.issue(session, lifetime)
        origin = request.url.origin()
        scheme = "wss" if origin.scheme == "https" else "ws"
        return web.json_response(
            {
                "uri": str(origin.with_scheme(scheme).with_path(GATEWAY_PATH)),
                "ws_access_token": token.value,
                "expires_in": number(lifetime),
            }
        )
