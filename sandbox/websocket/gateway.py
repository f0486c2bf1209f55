"""The WebSocket gateway on ``/ws``: connect, recover, dispatch frames, deliver notifications.

A connection shows a ws token (``access_token``) and, to recover a session,
the newest ``wsc`` it holds. The server speaks first with ConnectionDetails.
Recovery succeeds when the wsc names a live session of the same login that
has a subscription; the session then moves to the new socket (closing an old
one still open) and every buffered notification with a greater sequence is
replayed. Otherwise the socket gets a new session, told ``Failed`` with the
reason, and stays open so the client can subscribe again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from aiohttp import WSMsgType, web
from multidict import MultiMapping

from sandbox.clock import Clock, iso
from sandbox.config import SandboxConfig
from sandbox.errors import ApiError, api_error, classic_body
from sandbox.subscriptions import Subscription, SubscriptionTable
from sandbox.tokens import Session, TokenTable
from sandbox.websocket import errors, frames
from sandbox.websocket.connection import CLOSE_TIMEOUT, Connection
from sandbox.websocket.proxy import RequestBindings, RestProxy, check_path
from sandbox.websocket.sessions import SessionTable, WsSession
from sandbox.websocket.settings import (
    MAX_ACTIVE_REQUESTS,
    MAX_CONNECTIONS_PER_SESSION,
    WebSocketSettings,
    number,
)
from sandbox.websocket.tokens import WsTokenTable
from sandbox.websocket.wsc import MalformedWsc, WscCodec

log = logging.getLogger("sandbox.websocket")

#: The server pings this often and drops a client whose pong is 10 s late (WEBSOCKET.md §6).
PING_INTERVAL = 20.0


class WebSocketGateway:
    """Sessions, their sockets, and the knobs the control API turns."""

    def __init__(
        self,
        config: SandboxConfig,
        tokens: TokenTable,
        subscriptions: SubscriptionTable,
        clock: Clock,
    ) -> None:
        self._config = config
        self._subscriptions = subscriptions
        self._clock = clock
        self.settings = WebSocketSettings.from_config(config)
        self.wstokens = WsTokenTable(tokens, clock)
        self.sessions = SessionTable(clock)
        self._codec = WscCodec()
        self._bindings = RequestBindings()
        self._proxy = RestProxy()
        self._connections: set[Connection] = set()
        self._reapers: dict[str, asyncio.TimerHandle] = {}
        self._refuse_until = 0.0

    # the control knobs

    def reset(self) -> None:
        """No sessions, sockets or ws tokens; the command line's settings; accept connections."""
        for conn in list(self._connections):
            conn.close(errors.CLOSE_NORMAL, "Sandbox reset")
        for handle in self._reapers.values():
            handle.cancel()
        self._reapers.clear()
        self.sessions.reset()
        self.wstokens.reset()
        self.settings = WebSocketSettings.from_config(self._config)
        self._refuse_until = 0.0

    def configure(self, fields: dict[str, Any]) -> WebSocketSettings:
        """Change settings for new sockets and sessions; a smaller buffer trims every buffer."""
        self.settings = self.settings.updated(fields)
        for session in self.sessions:
            session.buffer.trim(self.settings.recovery_buffer_size)
        return self.settings

    def drop(self, session_id: str | None = None, person_id: str | None = None) -> int:
        """Cut the matching sessions' sockets without a close frame; how many."""
        dropped = 0
        for session in self.sessions.select(session_id, person_id):
            if session.connection is not None:
                session.connection.abort()
                dropped += 1
        return dropped

    def refuse(self, seconds: float) -> None:
        """Answer handshakes 503 for ``seconds`` (0 ends it)."""
        self._refuse_until = self._clock() + seconds if seconds > 0 else 0.0

    def expire(self, session_id: str | None = None, person_id: str | None = None) -> int:
        """End the matching sessions now; how many."""
        ended = self.sessions.select(session_id, person_id)
        for session in ended:
            self._end(session, "WebSocket session expired")
        return len(ended)

    def state(self) -> dict[str, Any]:
        """The settings and every live session (the control API's view)."""
        self._reap_stale()
        sessions = []
        for session in self.sessions:
            sub = self._subscription_of(session)
            sessions.append(session.to_json(None if sub is None else sub.shown_filters()))
        return {"config": self.settings.to_json(), "sessions": sessions}

    async def shutdown(self) -> None:
        """Close every socket (1001) before the server stops."""
        conns = list(self._connections)
        for conn in conns:
            conn.close(errors.CLOSE_GOING_AWAY, "Sandbox stopping")
        if conns:
            await asyncio.sleep(0)  # let the writers send their close frames

    async def cleanup(self) -> None:
        """Release the REST client."""
        await self._proxy.close()

    # what the subscription endpoints and the notifier call

    def session_of(self, request: web.Request) -> str | None:
        """The WebSocket session a REST call comes from (None: a plain HTTP call)."""
        return self._bindings.session_of(request)

    def attach(self, session_id: str, subscription: Subscription) -> None:
        """Make ``subscription`` the session's only one (the previous one is deleted)."""
        session = self.sessions.get(session_id)
        if session is None:  # ended while the request was in flight
            self._subscriptions.delete(subscription.id)
            return
        previous = session.subscription_id
        if previous is not None and previous != subscription.id:
            self._subscriptions.delete(previous)
        session.subscription_id = subscription.id

    def detach(self, subscription: Subscription) -> None:
        """A WebSocket subscription was deleted."""
        session = self.sessions.get(subscription.session_id or "")
        if session is not None and session.subscription_id == subscription.id:
            session.subscription_id = None

    def deliver(self, subscription: Subscription, envelope: dict[str, Any]) -> None:
        """Send a notification on its session's socket, and keep it for replay."""
        session = self.sessions.get(subscription.session_id or "")
        if session is None or session.subscription_id != subscription.id:
            return
        sequence = session.next_sequence()
        session.buffer.add(sequence, envelope, self.settings.recovery_buffer_size)
        self._send_notification(session, sequence, envelope)

    # the socket

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws``: serve one socket until it ends."""
        now = self._clock()
        if now < self._refuse_until:
            raise ApiError(
                503,
                classic_body("CMN-211", "Service is overloaded, try again later"),
                {"Retry-After": str(math.ceil(self._refuse_until - now))},
            )
        ws = web.WebSocketResponse(heartbeat=PING_INTERVAL, timeout=CLOSE_TIMEOUT)
        if not ws.can_prepare(request).ok:
            raise api_error(400, "CMN-101", "Expected a WebSocket upgrade request")
        await ws.prepare(request)
        s = self.settings
        conn = Connection(ws, request, self._codec, self._clock, s.idle_timeout, s.absolute_timeout)
        self._connections.add(conn)
        conn.start()
        try:
            self._open(conn, request.query)
            async for msg in ws:
                session = conn.session
                if session is None or conn.closing:
                    continue
                if msg.type is WSMsgType.TEXT:
                    conn.touch()
                    self._on_text(conn, session, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    conn.send_error(
                        errors.FrameError(errors.NOT_JSON, "Binary frames are not read")
                    )
        finally:
            self._connections.discard(conn)
            await conn.finish()
            self._disconnected(conn)
        return ws

    def _open(self, conn: Connection, query: MultiMapping[str]) -> None:
        token = query.get("access_token")
        if not token:
            conn.close(errors.CLOSE_NO_TOKEN, "access_token is required")
            return
        wsc = query.get("wsc")
        try:
            oauth = self.wstokens.redeem(token)
            presented = None if wsc is None else self._decode_wsc(wsc)
        except errors.ConnectRefused as exc:
            conn.close(errors.CLOSE_REFUSED, exc.message, exc)
            return
        if presented is None:
            self._start_session(conn, oauth, None)
            return
        session_id, sequence = presented
        session, failure = self._recoverable(session_id, oauth)
        if session is None:
            self._start_session(conn, oauth, failure)
        else:
            self._resume(conn, session, sequence)

    def _decode_wsc(self, token: str) -> tuple[str, int]:
        try:
            return self._codec.decode(token)
        except MalformedWsc:
            raise errors.ConnectRefused(
                400, errors.MALFORMED_WSC, "Malformed WebSocket session context token"
            ) from None

    def _recoverable(self, session_id: str, oauth: Session) -> tuple[WsSession | None, str]:
        self._reap_stale()
        session = self.sessions.get(session_id)
        if session is None:
            return None, errors.SESSION_NOT_FOUND
        if session.oauth is not oauth:
            return None, errors.OTHER_OAUTH_SESSION
        if self._subscription_of(session) is None:
            return None, errors.NO_SUBSCRIPTION
        return session, ""

    def _start_session(self, conn: Connection, oauth: Session, failure: str | None) -> None:
        session = self.sessions.create(oauth, self.settings.recovery_timeout)
        self._attach_socket(conn, session)
        recovery = (
            {} if failure is None else {"recoveryState": "Failed", "recoveryErrorCode": failure}
        )
        conn.send(frames.CONNECTION_DETAILS, None, 200, self._details(conn, session, recovery))

    def _resume(self, conn: Connection, session: WsSession, sequence: int) -> None:
        if session.connection is not None:
            session.connection.close(errors.CLOSE_NORMAL, "WebSocket session moved to a new socket")
        self._attach_socket(conn, session)
        details = self._details(conn, session, {"recoveryState": "Successful"})
        conn.send(frames.CONNECTION_DETAILS, None, 200, details)
        for item in session.buffer.after(sequence):
            item.sequence = session.next_sequence()
            self._send_notification(session, item.sequence, item.envelope)

    def _attach_socket(self, conn: Connection, session: WsSession) -> None:
        conn.session = session
        session.connection = conn
        session.sockets += 1
        session.disconnected_at = None
        handle = self._reapers.pop(session.id, None)
        if handle is not None:
            handle.cancel()

    def _details(
        self, conn: Connection, session: WsSession, recovery: dict[str, str]
    ) -> dict[str, Any]:
        return {
            "creationTime": iso(session.created_at),
            "maxConnectionsPerSession": MAX_CONNECTIONS_PER_SESSION,
            "recoveryBufferSize": self.settings.recovery_buffer_size,
            "recoveryTimeout": number(session.recovery_timeout),
            "idleTimeout": number(conn.idle_timeout),
            "absoluteTimeout": number(conn.absolute_timeout),
            "maxActiveRequests": MAX_ACTIVE_REQUESTS,
            **recovery,
        }

    def _send_notification(
        self, session: WsSession, sequence: int, envelope: dict[str, Any]
    ) -> None:
        conn = session.connection
        if conn is not None and conn.send(
            frames.SERVER_NOTIFICATION, envelope["uuid"], 200, envelope, sequence=sequence
        ):
            session.notifications_sent += 1

    def _on_text(self, conn: Connection, session: WsSession, text: str) -> None:
        try:
            frame = frames.parse(text)
            if isinstance(frame, frames.Heartbeat):
                session.heartbeats += 1
                conn.send(frames.HEARTBEAT, frame.message_id, 200)
                return
            check_path(frame.path, frame.message_id)
        except errors.FrameError as exc:
            conn.send_error(exc, exc.message_id)
            return
        conn.spawn(self._answer(conn, session, frame))

    async def _answer(
        self, conn: Connection, session: WsSession, request: frames.ClientRequest
    ) -> None:
        nonce = self._bindings.open(session.id)
        try:
            answer = await self._proxy.call(
                conn.local_origin, session.oauth.access_token, nonce, request
            )
        except errors.GatewayError as exc:
            conn.send_error(exc, request.message_id)
            return
        finally:
            self._bindings.close(nonce)
        conn.send(
            frames.CLIENT_REQUEST, request.message_id, answer.status, answer.body, answer.headers
        )

    # the session's end

    def _disconnected(self, conn: Connection) -> None:
        session = conn.session
        if session is None or session.connection is not conn:
            return
        session.connection = None
        if self.sessions.get(session.id) is not session:
            return
        session.disconnected_at = self._clock()
        self._reapers[session.id] = asyncio.get_running_loop().call_later(
            session.recovery_timeout, self._expire_dropped, session
        )

    def _expire_dropped(self, session: WsSession) -> None:
        self._reapers.pop(session.id, None)
        if session.connection is None:
            self._end(session, "WebSocket session recovery window passed")

    def _reap_stale(self) -> None:
        for session in self.sessions.stale():
            self._end(session, "WebSocket session recovery window passed")

    def _end(self, session: WsSession, reason: str) -> None:
        if not self.sessions.remove(session):
            return
        handle = self._reapers.pop(session.id, None)
        if handle is not None:
            handle.cancel()
        sub = self._subscription_of(session)
        if sub is not None:
            self._subscriptions.delete(sub.id)
        session.subscription_id = None
        conn, session.connection = session.connection, None
        if conn is not None:
            conn.close(errors.CLOSE_NORMAL, reason)
        log.info("websocket session %s ended: %s", session.id, reason)

    def _subscription_of(self, session: WsSession) -> Subscription | None:
        if session.subscription_id is None:
            return None
        sub = self._subscriptions.get(session.subscription_id)
        return sub if sub is not None and sub.session_id == session.id else None
