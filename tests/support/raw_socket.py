"""A frame-level client of the WebSocket gateway, for tests: no retries, no de-duplication.

It speaks WEBSOCKET.md literally (get a ws token, connect, read frames one by
one, send ClientRequest and Heartbeat frames) so a test can assert on every
frame the gateway sends. It is not a production client::

    async with await RawSocket.open(rest_url, BOT_TOKEN) as sock:
        details = await sock.read()                     # [header, body]
        answer = await sock.request("GET", "/restapi/v1.0/glip/persons/~")
"""

from __future__ import annotations

import asyncio
import json
import uuid
from types import TracebackType
from typing import Any

import aiohttp

#: The body element that is left out (``None`` would send JSON ``null``).
OMIT: Any = object()


async def ws_token(http: aiohttp.ClientSession, rest_url: str, access_token: str) -> dict[str, Any]:
    """``POST /restapi/oauth/wstoken`` as ``access_token``; the answer (raises on an error)."""
    async with http.post(
        rest_url.rstrip("/") + "/restapi/oauth/wstoken",
        headers={"Authorization": f"Bearer {access_token}"},
        json={},
    ) as resp:
        resp.raise_for_status()
        return dict(await resp.json())


class RawSocket:
    """One socket to the gateway; frames are ``[header]`` or ``[header, body]`` lists."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self._backlog: list[list[Any]] = []
        #: The newest ``wsc`` seen (the one with the highest sequence).
        self.wsc: dict[str, Any] | None = None

    @classmethod
    async def open(
        cls,
        rest_url: str,
        access_token: str,
        wsc: str | None = None,
        ws_access_token: str | None = None,
    ) -> RawSocket:
        """Connect with a new ws token of ``access_token`` (or the one given); ``wsc`` recovers."""
        http = aiohttp.ClientSession()
        try:
            if ws_access_token is None:
                token = await ws_token(http, rest_url, access_token)
                uri, ws_access_token = token["uri"], token["ws_access_token"]
            else:
                uri = rest_url.replace("http", "ws", 1).rstrip("/") + "/ws"
            params = {"access_token": ws_access_token, **({"wsc": wsc} if wsc is not None else {})}
            ws = await http.ws_connect(uri, params=params, autoping=True)
        except BaseException:
            await http.close()
            raise
        return cls(http, ws)

    async def __aenter__(self) -> RawSocket:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the socket (normally) and the HTTP client."""
        await self.ws.close()
        await self.http.close()

    async def read(self, timeout: float = 5.0) -> list[Any]:
        """The next frame (``AssertionError`` when the socket closes instead)."""
        if self._backlog:
            return self._backlog.pop(0)
        msg = await self.ws.receive(timeout)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {msg.type.name} {msg.data!r}")
        frame: list[Any] = json.loads(msg.data)
        wsc = frame[0].get("wsc")
        if wsc is not None and (self.wsc is None or wsc["sequence"] > self.wsc["sequence"]):
            self.wsc = wsc
        return frame

    async def read_close(self, timeout: float = 5.0) -> tuple[aiohttp.WSMsgType, int | None]:
        """Wait for the socket to end: CLOSE and the server's close code, or CLOSED/ERROR."""
        msg = await self.ws.receive(timeout)
        if msg.type is aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected the socket to end, got {msg.data}")
        if msg.type is aiohttp.WSMsgType.CLOSE:
            return msg.type, int(msg.data)
        return msg.type, self.ws.close_code

    async def send(self, header: dict[str, Any], body: Any = OMIT) -> None:
        """Send one frame."""
        await self.ws.send_str(json.dumps([header] if body is OMIT else [header, body]))

    async def request(
        self,
        method: str,
        path: str,
        body: Any = OMIT,
        query: dict[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> list[Any]:
        """Send a ClientRequest; its answer (other frames are kept for :meth:`read`)."""
        message_id = str(uuid.uuid4())
        header: dict[str, Any] = {
            "type": "ClientRequest",
            "messageId": message_id,
            "method": method,
            "path": path,
        }
        if query is not None:
            header["query"] = query
        await self.send(header, body)
        return await self.answer(message_id, timeout)

    async def subscribe(self, event_filters: list[str]) -> list[Any]:
        """Create this socket's subscription (as the guide writes it); the answer frame."""
        body = {"eventFilters": event_filters, "deliveryMode": {"transportType": "WebSocket"}}
        return await self.request("POST", "/restapi/v1.0/subscription/", body)

    async def answer(self, message_id: str, timeout: float = 5.0) -> list[Any]:
        """The next frame with ``message_id`` (other frames are kept for :meth:`read`)."""
        skipped: list[list[Any]] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    frame = await self.read(timeout)
                    if frame[0].get("messageId") == message_id:
                        return frame
                    skipped.append(frame)
        finally:
            self._backlog[:0] = skipped
