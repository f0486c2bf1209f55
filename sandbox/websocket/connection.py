"""One socket of the gateway: its ordered writer, its timeouts, and its requests in flight.

Every frame is stamped with the session's next sequence when it is queued, and
one writer task sends the queue in order, so sequences reach the client in the
order they were given. A watchdog ends the socket with ``WSG-902`` when the
client sent no text frame for ``idleTimeout`` (pings and pongs do not count),
and with ``WSG-903`` when the socket is older than ``absoluteTimeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.clock import Clock
from sandbox.websocket import errors, frames
from sandbox.websocket.sessions import WsSession
from sandbox.websocket.wsc import WscCodec

#: How long a closing handshake may take before the socket is simply dropped.
CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


def _new_id() -> str:
    return str(uuid.uuid4())


def _local_origin(request: web.Request) -> str:
    """``http://host:port`` of the REST port as this socket reached it (the server's side)."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not sockname:
        return str(request.url.origin())
    host, port = sockname[0], sockname[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Connection:
    """A live WebSocket, attached to a session once the connection is accepted."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        codec: WscCodec,
        clock: Clock,
        idle_timeout: float,
        absolute_timeout: float,
    ) -> None:
        self.ws = ws
        self.session: WsSession | None = None
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self.opened_at = self.last_text_at = clock()
        self._request = request
        self.local_origin = _local_origin(request)
        self._codec = codec
        self._clock = clock
        self._queue: asyncio.Queue[str | _Close] = asyncio.Queue()
        self._closing = False
        self._in_flight: set[asyncio.Task[None]] = set()
        self._writer: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        """Whether the socket is ending (frames queued from now on are not sent)."""
        return self._closing

    def start(self) -> None:
        """Start the writer and the watchdog (call once the socket is prepared)."""
        self._writer = asyncio.create_task(self._write())
        self._watchdog = asyncio.create_task(self._watch())

    def touch(self) -> None:
        """The client sent a text frame: the idle clock starts again."""
        self.last_text_at = self._clock()

    def send(
        self,
        kind: str,
        message_id: str | None,
        status: int,
        body: Any = frames.NO_BODY,
        headers: dict[str, str] | None = None,
        sequence: int | None = None,
    ) -> bool:
        """Queue a frame stamped with the session's next sequence (or ``sequence``); sent?"""
        session = self.session
        if self._closing or self.ws.closed or session is None:
            return False
        seq = session.next_sequence() if sequence is None else sequence
        header = {
            "type": kind,
            "messageId": message_id or _new_id(),
            "status": status,
            "headers": {**(headers or {}), "RCRequestId": _new_id()},
            "wsc": {"token": self._codec.encode(session.id, seq), "sequence": seq},
        }
        self._queue.put_nowait(frames.encode(header, body))
        return True

    def send_error(self, error: errors.GatewayError, message_id: str | None = None) -> None:
        """Queue an ``Error`` frame (without ``wsc`` when there is no session yet)."""
        if self.session is not None:
            self.send(frames.ERROR, message_id, error.status, error.body())
        elif not self._closing:
            header = {
                "type": frames.ERROR,
                "messageId": message_id or _new_id(),
                "status": error.status,
                "headers": {"RCRequestId": _new_id()},
            }
            self._queue.put_nowait(frames.encode(header, error.body()))

    def close(self, code: int, reason: str, error: errors.GatewayError | None = None) -> None:
        """Send ``error`` if given, then a close frame; frames queued later are dropped."""
        if self._closing:
            return
        if error is not None:
            self.send_error(error)
        self._closing = True
        self._queue.put_nowait(_Close(code, reason))

    def abort(self) -> None:
        """Cut the TCP connection without a close frame (the client sees a dead peer)."""
        self._closing = True
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a request's work concurrently; it is cancelled if the socket ends first."""
        task = asyncio.create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def finish(self) -> None:
        """After the socket ended: stop the watchdog, the requests and the writer."""
        self._closing = True
        for task in [self._watchdog, *self._in_flight]:
            if task is not None:
                task.cancel()
        if self._writer is None:
            return
        self._queue.put_nowait(_Close(errors.CLOSE_NORMAL, ""))  # no-op on a closed socket
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._writer, CLOSE_TIMEOUT)  # cancelled on timeout
        pending = [t for t in self._in_flight if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_TIMEOUT)

    async def _write(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Close):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.close(code=item.code, message=item.reason.encode())
                return
            try:
                await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return

    async def _watch(self) -> None:
        while True:
            now = self._clock()
            idle_at = self.last_text_at + self.idle_timeout
            absolute_at = self.opened_at + self.absolute_timeout
            if now >= absolute_at:
                error = errors.GatewayError(
                    408, errors.ABSOLUTE_TIMEOUT, "Absolute timeout expired"
                )
                break
            if now >= idle_at:
                error = errors.GatewayError(408, errors.IDLE_TIMEOUT, "Idle timeout expired")
                break
            await asyncio.sleep(min(idle_at, absolute_at) - now)
        self.close(errors.CLOSE_NORMAL, error.message, error)
