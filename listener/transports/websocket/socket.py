"""One connection to the WebSocket gateway: open it, read its frames, ask and be answered.

:meth:`GatewaySocket.open` sends nothing until the first frame has arrived
(WEBSOCKET.md, section 2): ``ConnectionDetails``, or an ``Error`` that becomes
:class:`GatewayRefusedError`. :meth:`GatewaySocket.run` then reads frames
until the socket ends, hands every frame to the caller and resolves the
:meth:`request` waiting for it, matched by ``messageId`` only (a failed
request may come back typed ``Error``). WebSocket pings are answered by
aiohttp; they do not count as traffic for the gateway, Heartbeat frames do.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp

from glipbot.errors import (
    BadRequestError,
    NetworkError,
    PlatformError,
    RateLimitedError,
    ServerError,
    TransientError,
)
from glipbot.platform.http import parse_retry_after
from listener.transports.websocket import frames
from listener.transports.websocket.frames import Frame, FrameError

#: The most bytes one frame may have (the official SDK's websockets default).
MAX_FRAME = 1 << 20


class GatewayRefusedError(TransientError):
    """The gateway's first frame was an ``Error`` (or none came): ``error_code`` says why."""


class SocketClosedError(NetworkError):
    """The socket ended while a request waited for its answer."""


@dataclass(frozen=True)
class ConnectionDetails:
    """The body of the first frame: the session's limits and, on recovery, its outcome."""

    recovery_state: str | None
    recovery_error_code: str | None
    recovery_timeout: float
    recovery_buffer_size: int
    idle_timeout: float
    absolute_timeout: float
    creation_time: str | None

    @classmethod
    def from_frame(cls, frame: Frame) -> ConnectionDetails:
        """Read the ConnectionDetails body; RingCentral's documented defaults fill gaps."""
        body = frame.body if isinstance(frame.body, dict) else {}

        def number(name: str, default: float) -> float:
            try:
                value = float(body.get(name, default))
            except (TypeError, ValueError):
                return default
            return value if value > 0 else default

        state = body.get("recoveryState")
        code = body.get("recoveryErrorCode")
        return cls(
            recovery_state=None if state is None else str(state),
            recovery_error_code=None if code is None else str(code),
            recovery_timeout=number("recoveryTimeout", 180),
            recovery_buffer_size=int(number("recoveryBufferSize", 100)),
            idle_timeout=number("idleTimeout", 1800),
            absolute_timeout=number("absoluteTimeout", 86400),
            creation_time=body.get("creationTime"),
        )


def gateway_url(uri: str, access_token: str, wsc: str | None) -> str:
    """``uri?access_token=…[&wsc=…]``, keeping any query ``uri`` already has."""
    parts = urlsplit(uri)
    query = {"access_token": access_token}
    if wsc:
        query["wsc"] = wsc
    extra = urlencode(query)
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


def answer_error(frame: Frame, what: str) -> PlatformError | None:
    """The error an answer stands for (None when it is a success)."""
    if frame.type == frames.CLIENT_REQUEST and 200 <= frame.status < 300:
        return None
    code = frame.error_code()
    message = f"{what}: status {frame.status}" + (f" {code}" if code else "")
    if frame.status == 429:
        headers = frame.header.get("headers") or {}
        wait = parse_retry_after(headers.get("Retry-After")) if isinstance(headers, dict) else None
        return RateLimitedError(message, retry_after=wait or 60.0, error_code=code)
    if frame.status >= 500 or frame.status == 0:
        return ServerError(message, status=frame.status, error_code=code)
    return BadRequestError(message, status=frame.status, error_code=code)


class GatewaySocket:
    """An open socket; :meth:`run` must be running for :meth:`request` to be answered."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._pending: dict[str, asyncio.Future[Frame]] = {}
        self.opened_at = time.monotonic()
        #: When the last frame (of any kind) arrived, ``time.monotonic()``.
        self.last_received = self.opened_at

    @classmethod
    async def open(
        cls, http: aiohttp.ClientSession, url: str, *, timeout: float
    ) -> tuple[GatewaySocket, ConnectionDetails, Frame]:
        """Connect and read the first frame; :class:`GatewayRefusedError` unless it is details."""
        try:
            ws = await http.ws_connect(
                url,
                autoping=True,
                max_msg_size=MAX_FRAME,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=timeout),
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise GatewayRefusedError(
                f"handshake refused: HTTP {exc.status}", status=exc.status
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"cannot reach the gateway: {type(exc).__name__}") from None
        socket = cls(ws)
        try:
            first = await asyncio.wait_for(ws.receive(), timeout)
            if first.type != aiohttp.WSMsgType.TEXT:
                raise GatewayRefusedError(
                    f"closed before ConnectionDetails (close code {ws.close_code})",
                    status=ws.close_code,
                )
            frame = frames.parse(first.data)
            if frame.type != frames.CONNECTION_DETAILS:
                code = frame.error_code()
                raise GatewayRefusedError(
                    f"first frame is {frame.type or 'untyped'}" + (f" {code}" if code else ""),
                    status=frame.status,
                    error_code=code,
                )
        except BaseException as exc:
            await socket.close()
            if isinstance(exc, asyncio.TimeoutError):
                raise NetworkError("no ConnectionDetails within the connect timeout") from None
            if isinstance(exc, FrameError):
                raise GatewayRefusedError(f"unreadable first frame: {exc.reason}") from None
            raise
        return socket, ConnectionDetails.from_frame(frame), frame

    @property
    def close_code(self) -> int | None:
        """The close code the socket ended with (None while open)."""
        return self._ws.close_code

    async def run(self, on_frame: Callable[[Frame], None], on_bad: Callable[[str], None]) -> None:
        """Read frames until the socket ends; every frame goes to ``on_frame``."""
        try:
            async for message in self._ws:
                self.last_received = time.monotonic()
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    frame = frames.parse(message.data)
                except FrameError as exc:
                    on_bad(exc.reason)  # one bad frame never ends the socket
                    continue
                waiter = self._pending.pop(frame.message_id or "", None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(frame)
                on_frame(frame)
        finally:
            for waiter in self._pending.values():
                if not waiter.done():
                    waiter.set_exception(SocketClosedError("the socket closed"))
            self._pending.clear()

    async def request(self, method: str, path: str, body: Any, *, timeout: float) -> Frame:
        """Send a ClientRequest and wait for the frame that answers it."""
        message_id, text = frames.client_request(method, path, body)
        waiter: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = waiter
        try:
            await self.send(text)
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise NetworkError(f"no answer to {method} {path} within {timeout:g}s") from None
        finally:
            self._pending.pop(message_id, None)

    async def send(self, text: str) -> None:
        """Send one text frame; :class:`SocketClosedError` if the socket is gone."""
        try:
            await self._ws.send_str(text)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise SocketClosedError(f"send failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        """Close with a normal close frame (bounded; a dead peer is not waited for)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.close(), 3.0)
