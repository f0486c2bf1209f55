"""The WebSocket transport: RingCentral's current push channel (WEBSOCKET.md).

* :mod:`~listener.transports.websocket.frames`: the ``[header, body]`` frames;
* :mod:`~listener.transports.websocket.socket`: one connection (first frame,
  requests matched by ``messageId``, the reader);
* :mod:`~listener.transports.websocket.checkpoint`: the ``wsc`` a successor
  recovers from, saved only once what preceded it is enqueued;
* :mod:`~listener.transports.websocket.session`: the loop that keeps the
  session, its subscription and its heartbeats alive and recovers it.
"""

from listener.transports.websocket.session import WebSocketApi, WebSocketSession

__all__ = ["WebSocketApi", "WebSocketSession"]
