"""RingCentral's WebSocket gateway, served on the REST port at ``/ws`` (WEBSOCKET.md).

``POST /restapi/oauth/wstoken`` issues single-use ws tokens
(:class:`WsTokenEndpoint`); :class:`WebSocketGateway` serves the sockets:
ConnectionDetails first, REST and subscriptions over ``ClientRequest`` frames,
``ServerNotification`` delivery, heartbeats, timeouts and session recovery;
:class:`WebSocketControl` adds ``/sandbox/websocket/...`` to the control API.
"""

from sandbox.websocket.control import WebSocketControl
from sandbox.websocket.gateway import WebSocketGateway
from sandbox.websocket.settings import WebSocketSettings
from sandbox.websocket.tokens import GATEWAY_PATH, WsTokenEndpoint

__all__ = [
    "GATEWAY_PATH",
    "WebSocketControl",
    "WebSocketGateway",
    "WebSocketSettings",
    "WsTokenEndpoint",
]
