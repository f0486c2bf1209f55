"""The gateway's part of the control API, under ``/sandbox/websocket`` (no authentication).

=====================================  ==================================================
``GET  /sandbox/websocket``            ``{"config": {...}, "sessions": [...]}``
``POST /sandbox/websocket/config``     any of ``recoveryTimeout``, ``recoveryBufferSize``,
                                       ``idleTimeout``, ``absoluteTimeout``,
                                       ``wstokenLifetime``: for new sockets and sessions
                                       (a smaller buffer trims every buffer at once);
                                       answers ``{"config"}``
``POST /sandbox/websocket/drop``       ``{"session_id"?, "person_id"?}`` (none: all): cut
                                       the sockets without a close frame; ``{"dropped"}``
``POST /sandbox/websocket/refuse``     ``{"seconds"}``: handshakes answer 503 that long
                                       (0 ends it)
``POST /sandbox/websocket/expire``     ``{"session_id"?, "person_id"?}``: the sessions end
                                       now (sockets closed, subscriptions deleted);
                                       ``{"expired"}``
=====================================  ==================================================

``POST /sandbox/reset`` resets the gateway too (see :meth:`WebSocketGateway.reset`).
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from sandbox.errors import invalid, missing, read_json_object
from sandbox.websocket.gateway import WebSocketGateway

PREFIX = "/sandbox/websocket"


class WebSocketControl:
    """Handlers of the gateway's control endpoints."""

    def __init__(self, gateway: WebSocketGateway) -> None:
        self._gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes."""
        return [
            web.get(PREFIX, self.state),
            web.post(PREFIX + "/config", self.config),
            web.post(PREFIX + "/drop", self.drop),
            web.post(PREFIX + "/refuse", self.refuse),
            web.post(PREFIX + "/expire", self.expire),
        ]

    async def state(self, request: web.Request) -> web.Response:
        """The settings and the live sessions."""
        return web.json_response(self._gateway.state())

    async def config(self, request: web.Request) -> web.Response:
        """Change settings."""
        settings = self._gateway.configure(await read_json_object(request, required=False))
        return web.json_response({"config": settings.to_json()})

    async def drop(self, request: web.Request) -> web.Response:
        """Cut sockets as a dead network would."""
        session_id, person_id = await _selectors(request)
        return web.json_response({"dropped": self._gateway.drop(session_id, person_id)})

    async def refuse(self, request: web.Request) -> web.Response:
        """Refuse handshakes for a while."""
        body = await read_json_object(request)
        if "seconds" not in body:
            raise missing("seconds")
        seconds = body["seconds"]
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise invalid("seconds", "a non-negative number")
        self._gateway.refuse(seconds)
        return web.json_response({"ok": True, "seconds": seconds})

    async def expire(self, request: web.Request) -> web.Response:
        """End sessions now."""
        session_id, person_id = await _selectors(request)
        return web.json_response({"expired": self._gateway.expire(session_id, person_id)})


async def _selectors(request: web.Request) -> tuple[str | None, str | None]:
    body: dict[str, Any] = await read_json_object(request, required=False)
    found: list[str | None] = []
    for key, alias in (("session_id", "sessionId"), ("person_id", "personId")):
        value = body.get(key, body.get(alias))
        if value is not None and not isinstance(value, str):
            raise invalid(key, "a string")
        found.append(value)
    return found[0], found[1]
