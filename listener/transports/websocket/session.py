"""Keep the bot's WebSocket session alive while this process leads: never deaf, never twice.

The WebSocket counterpart of the PubNub transport *and* its subscription
keeper: over this transport the subscription lives in the gateway session
and is made over the socket (WEBSOCKET.md, sections 4 and 7). One loop:

1. a fresh single-use ``wstoken`` (Auth group: every call passes the
   cluster's rate limiter, and a 429 is waited out);
2. connect, with the newest ``wsc`` when there is one (this process's own,
   or the checkpoint a previous leader left in Redis);
3. read ``ConnectionDetails``: ``recoveryState: Successful`` keeps the
   subscription and the gateway replays what was missed; ``Failed`` (or no
   state) means the session and its buffer are gone: subscribe again on the
   same socket, report the gap and backfill it (``on_gap``);
4. serve: each notification goes to ingest, each frame's ``wsc`` is kept,
   Heartbeat frames go out well inside ``idleTimeout`` (pings do not count),
   a heartbeat left unanswered ends the socket, and the socket is replaced
   on our own schedule before ``absoluteTimeout``;
5. when the socket ends, reconnect and recover, backing off on failures.

The checkpoint (:mod:`listener.transports.websocket.checkpoint`) is saved in
the background after ingest writes, so a successor recovers the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from redis.exceptions import RedisError

from glipbot import log_events as ev
from glipbot.errors import (
    LoginRefusedError,
    NetworkError,
    PlatformError,
    RateLimitedError,
    TransientError,
)
from glipbot.events import epoch_seconds
from glipbot.logging import get_logger
from glipbot.redaction import register_secret
from glipbot.retry import RetryPolicy
from listener.ingest import Ingest
from listener.metrics import Metrics
from listener.subscription.gaps import GapLog
from listener.subscription.info import EVENT_FILTERS
from listener.subscription.keeper import QUIET_CHECK
from listener.transports import TransportStats
from listener.transports.websocket import frames
from listener.transports.websocket.checkpoint import Checkpoint, CheckpointStore, Progress
from listener.transports.websocket.frames import Frame, Wsc
from listener.transports.websocket.socket import (
    ConnectionDetails,
    GatewayRefusedError,
    GatewaySocket,
    answer_error,
    gateway_url,
)

log = get_logger(__name__)

#: Ingest's channel name for notifications that came over the socket.
CHANNEL = "websocket"
SUBSCRIPTION_PATH = "/restapi/v1.0/subscription"
#: Seconds to connect and receive ConnectionDetails, and for a request's answer.
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 15.0
#: Back-off of failed attempts: 1 s doubling up to 15 s, jittered, never giving up. Each
#: attempt takes a wstoken (Auth group, 5 a minute): at the cap that is 4 a minute.
RETRY_POLICY = RetryPolicy(max_attempts=None, base=1.0, cap=15.0)
#: A socket that lived less than this before it ended counts as a failure (back-off).
HEALTHY_SOCKET = 10.0
#: Seconds a process that no longer leads waits between two looks at the lease.
NOT_LEADING_PAUSE = 1.0
#: The socket is replaced this long before the gateway's absolute timeout (at most a tenth).
ABSOLUTE_MARGIN = 60.0
#: Seconds a heartbeat's answer may take before the socket counts as dead.
ANSWER_TIMEOUT = 10.0
#: The shortest pause between two subscription checks.
MIN_CHECK_PAUSE = 0.5
#: Recovery outcomes, as the metrics label them.
SUCCESSFUL = "successful"
FAILED = "failed"
#: Malformed wsc: the gateway answers with an Error and closes (no recoveryState).
MALFORMED_WSC = "WSG-400"


class WebSocketApi(Protocol):
    """The REST call the session needs (:class:`glipbot.platform.rest.RestClient` has it)."""

    def ws_token(self) -> dict[str, Any]: ...


@dataclass
class _Replay:
    """The replay after a successful recovery: a full buffer may have dropped the oldest."""

    since: float | None  # the last frame heard before the drop
    limit: int
    count: int = 0


#: The platform's "not ready yet" for a bot installed a moment ago (BOTS.md section 3).
NOT_READY = "SUB-406"


class _SocketEnded(Exception):
    """The socket ended; ``scheduled`` when we replaced it on purpose."""

    def __init__(self, reason: str, *, scheduled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.scheduled = scheduled


class WebSocketSession:
    """The reign's transport and subscription holder over RingCentral's WebSocket gateway."""

    def __init__(
        self,
        api: WebSocketApi,
        ingest: Ingest,
        store: CheckpointStore,
        gaps: GapLog,
        metrics: Metrics,
        *,
        instance: str,
        heartbeat_interval: float,
        check_interval: float,
        lease_value: Callable[[], str | None],
        leading: Callable[[], Awaitable[bool]] | None = None,
        on_gap: Callable[[float], None] = lambda _since: None,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy = RETRY_POLICY,
    ) -> None:
        self._api = api
        self._ingest = ingest
        self._store = store
        self._gaps = gaps
        self._metrics = metrics
        self._instance = instance
        self._heartbeat_interval = heartbeat_interval
        self._check_interval = check_interval
        self._confirmed_at = 0.0  # last time the gateway vouched for the subscription
        self._lease_value = lease_value
        self._leading = leading
        self._on_gap = on_gap
        self._clock = clock
        self._retry = retry
        self.stats = TransportStats()
        self.subscription_id: str | None = None
        #: The error of the last failed attempt (None once a socket serves); health reads it.
        self.last_error: Exception | None = None
        self._failures = 0
        self._wsc: Wsc | None = None
        self._heard_at: float | None = None  # last frame of the session we know of
        self._session_started: float | None = None
        self._socket: GatewaySocket | None = None
        self._progress = Progress()
        self._saved: Wsc | None = None
        self._requests: set[str] = set()
        self._wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._stopping = False
        #: Set when recovery failed: (the last frame heard, the lost subscription's id).
        self._lost: tuple[float | None, str | None] | None = None
        #: Counts a recovered session's replay until the answer to the heartbeat sent after it.
        self._replay: _Replay | None = None
        ingest.add_plain_channel(CHANNEL)
        metrics.set_gauge("websocket_session_age_seconds", self.session_age)

    # -- state read by health and the ops inbox --------------------------------

    @property
    def failures(self) -> int:
        """Failed attempts in a row (token, connect, subscribe); 0 once a socket serves."""
        return self._failures

    def live(self) -> bool:
        """Whether a socket is open with a subscription on it."""
        return self._socket is not None and self.subscription_id is not None

    def expires_in(self) -> float | None:
        """None: a WebSocket subscription lives as long as its session, with no renewal."""
        return None

    def session_age(self) -> float:
        """Seconds since the gateway session began (NaN: none)."""
        started = self._session_started
        return float("nan") if started is None else self._clock() - started

    def describe(self) -> dict[str, Any]:
        """The ``/healthz`` details of the session."""
        age = self.session_age()
        return {
            "connected": self._socket is not None,
            "subscription_id": self.subscription_id,
            "session_age_seconds": None if math.isnan(age) else round(age, 3),
            "wsc_sequence": self._wsc.sequence if self._wsc else None,
        }

    def request(self, command: str) -> None:
        """Ops hook: ``recreate`` subscribes again on the socket; ``renew`` has nothing to do."""
        if command == "renew":
            log.info(ev.OPS_COMMAND_DROPPED, command=command, reason="the session renews it")
            return
        self._requests.add(command)
        self._wake.set()

    # -- the loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Connect, recover, serve and reconnect until cancelled."""
        stored = await self._load()
        if stored is not None:
            self._wsc = Wsc(stored.wsc, stored.sequence)
            self.subscription_id = stored.subscription_id
            self._heard_at = stored.heard_at
        self._http = aiohttp.ClientSession()
        saving = asyncio.create_task(self._checkpoints(), name="websocket_checkpoints")
        try:
            while True:
                delay = await self.step()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            saving.cancel()
            await self.stop()

    async def _load(self) -> Checkpoint | None:
        """The checkpoint a previous leader left; Redis is retried until it answers."""
        failures = 0
        while True:
            try:
                return await self._store.load()
            except (RedisError, OSError) as exc:
                failures += 1
                self._metrics.inc("redis_errors")
                log.error(ev.WEBSOCKET_CHECKPOINT_FAILED, reason="load", error=repr(exc))
                await asyncio.sleep(self._retry.backoff(failures))

    async def stop(self) -> None:
        """Close the socket normally (the session stays recoverable for the successor)."""
        self._stopping = True
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close()
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def step(self) -> float:
        """One connection, from its token to its end; the seconds to wait before the next."""
        if self._stopping or (self._leading is not None and not await self._leading()):
            return NOT_LEADING_PAUSE
        try:
            socket, details = await self._connect()
        except Exception as exc:
            return self._failed(exc)
        try:
            await self._serve(socket, details)
        except _SocketEnded as ended:
            return self._ended(socket, ended)
        except Exception as exc:
            return self._failed(exc)
        finally:
            self._socket = None
            await socket.close()
        return 0.0  # pragma: no cover - _serve only ends by raising

    # -- connecting and recovering ------------------------------------------------

    async def _connect(self) -> tuple[GatewaySocket, ConnectionDetails]:
        if self._http is None:
            raise NetworkError("the session is stopping")
        token = await asyncio.to_thread(self._api.ws_token)
        access = str(token["ws_access_token"])
        register_secret(access, rotating=True)
        recovering = self._wsc
        url = gateway_url(str(token["uri"]), access, recovering.token if recovering else None)
        try:
            socket, details, first = await GatewaySocket.open(
                self._http, url, timeout=CONNECT_TIMEOUT
            )
        except GatewayRefusedError as exc:
            if recovering is not None and exc.error_code == MALFORMED_WSC:
                await self._recovery_failed(MALFORMED_WSC)
            raise
        self._metrics.inc("websocket_connections")
        self._note_wsc(first)
        if recovering is not None and details.recovery_state == "Successful":
            self._metrics.inc("websocket_recoveries", result=SUCCESSFUL)
            log.info(ev.WEBSOCKET_RECOVERED, subscription_id=self.subscription_id)
            self._replay = _Replay(self._heard_at, details.recovery_buffer_size)
        elif recovering is not None:
            await self._recovery_failed(details.recovery_error_code or "no_recovery_state")
        # The gateway's creationTime is the session's, also on a recovered one.
        self._session_started = epoch_seconds(details.creation_time) or self._clock()
        log.info(
            ev.WEBSOCKET_CONNECTED,
            recovery_state=details.recovery_state,
            idle_timeout=details.idle_timeout,
            absolute_timeout=details.absolute_timeout,
            recovery_timeout=details.recovery_timeout,
        )
        return socket, details

    async def _recovery_failed(self, code: str) -> None:
        """The session and its buffer are gone: subscribe again, backfill from the last frame."""
        self._metrics.inc("websocket_recoveries", result=FAILED)
        since = self._heard_at
        log.error(
            ev.WEBSOCKET_RECOVERY_FAILED,
            recovery_error_code=code,
            subscription_id=self.subscription_id,
            since=since,
        )
        # A session that never had a subscription (its subscribe was refused) lost nothing.
        self._lost = (since, self.subscription_id) if self.subscription_id is not None else None
        self._wsc = None
        self.subscription_id = None

    # -- serving one socket ---------------------------------------------------------

    async def _serve(self, socket: GatewaySocket, details: ConnectionDetails) -> None:
        self._socket = socket
        reader = asyncio.create_task(socket.run(self._on_frame, self._on_bad_frame), name="ws_read")
        helpers: set[asyncio.Task[Any]] = {reader}
        try:
            if self._replay is not None:
                # Its answer comes after the replayed notifications: the end of the replay.
                await socket.send(frames.heartbeat())
            if self.subscription_id is None:
                await self._subscribe_retrying(socket, reader)
            self._failures, self.last_error = 0, None
            helpers |= {
                asyncio.create_task(self._heartbeats(socket, details), name="ws_heartbeats"),
                asyncio.create_task(self._replace_at(details), name="ws_schedule"),
                asyncio.create_task(self._commands(socket, reader), name="ws_commands"),
                asyncio.create_task(self._checks(socket, reader), name="ws_checks"),
            }
            done, _ = await asyncio.wait(helpers, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is reader:
                    raise _SocketEnded(f"closed by the gateway (code {socket.close_code})")
                task.result()  # raises what ended it
            raise _SocketEnded("unexpected")  # pragma: no cover
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _subscribe_retrying(self, socket: GatewaySocket, reader: asyncio.Task[None]) -> None:
        """Subscribe on this socket; a refusal that time cures is tried again on it.

        SUB-406 ("not ready yet", just after an install), a 429 or a 5xx: the
        socket is fine, and a new one would cost a ``wstoken`` call from the
        bot's Auth budget (5 a minute). Anything else ends the socket.
        """
        while True:
            try:
                await self._subscribe(socket, reader)
                return
            except PlatformError as exc:
                answered = isinstance(exc, TransientError) and exc.status != 0  # 0: no answer
                if not (exc.error_code == NOT_READY or answered):
                    raise
                self._failures += 1
                self.last_error = exc
                delay = self._retry.backoff(self._failures)
                if isinstance(exc, RateLimitedError):
                    delay = max(delay, exc.retry_after)
                log.warning(
                    ev.WEBSOCKET_SUBSCRIBE_RETRY,
                    error_code=exc.error_code,
                    failures=self._failures,
                    retry_in=round(delay, 3),
                )
                done, _ = await asyncio.wait({reader}, timeout=delay)
                if done:
                    raise _SocketEnded("socket ended while waiting to subscribe again") from exc

    async def _subscribe(self, socket: GatewaySocket, reader: asyncio.Task[None]) -> None:
        body = {"eventFilters": list(EVENT_FILTERS), "deliveryMode": {"transportType": "WebSocket"}}
        answer = await socket.request("POST", SUBSCRIPTION_PATH, body, timeout=REQUEST_TIMEOUT)
        error = answer_error(answer, "subscribe")
        if error is None and not (isinstance(answer.body, dict) and answer.body.get("id")):
            error = NetworkError("subscribe: the answer has no subscription id")
        if error is not None:
            log.error(
                ev.WEBSOCKET_SUBSCRIBE_FAILED, status=answer.status, error_code=answer.error_code()
            )
            raise error
        assert isinstance(answer.body, dict)
        self.subscription_id = str(answer.body["id"])
        self._confirmed_at = self._clock()
        self._metrics.inc("websocket_subscriptions")
        log.info(ev.WEBSOCKET_SUBSCRIBED, subscription_id=self.subscription_id)
        lost, self._lost = self._lost, None
        if lost is not None:
            since, old = lost
            now = self._clock()
            await self._gaps.record(since or now, now, old=old, new=self.subscription_id)
            if since is not None:
                self._on_gap(since)

    async def _heartbeats(self, socket: GatewaySocket, details: ConnectionDetails) -> None:
        """Heartbeats on schedule; a socket silent for an interval plus ANSWER_TIMEOUT is dead."""
        interval = min(self._heartbeat_interval, details.idle_timeout / 3)
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - socket.last_received > interval + ANSWER_TIMEOUT:
                raise _SocketEnded("heartbeats unanswered")
            await socket.send(frames.heartbeat())
            self._metrics.inc("websocket_heartbeats")

    async def _checks(self, socket: GatewaySocket, reader: asyncio.Task[None]) -> None:
        """Ask over the socket whether the subscription still exists; subscribe again if not.

        The gateway ends a subscription with its session, but anything that
        deletes it leaves an open socket with nothing on it: silence, no error.
        As over PubNub, a quiet socket is checked every QUIET_CHECK seconds.
        """
        self._confirmed_at = max(self._confirmed_at, self._clock())
        while True:
            heard = max(self._confirmed_at, self._ingest.last_event_at or 0.0)
            due = min(self._confirmed_at + self._check_interval, heard + QUIET_CHECK)
            await asyncio.sleep(max(MIN_CHECK_PAUSE, due - self._clock()))
            current = self.subscription_id
            if current is None:
                continue
            answer = await socket.request(
                "GET", f"{SUBSCRIPTION_PATH}/{current}", None, timeout=REQUEST_TIMEOUT
            )
            error = answer_error(answer, "check")
            if error is None and isinstance(answer.body, dict):
                if answer.body.get("status", "Active") == "Active":
                    self._confirmed_at = self._clock()
                    continue
            elif answer.status != 404:
                log.warning(
                    ev.SUBSCRIPTION_ATTEMPT_FAILED, subscription_id=current, error=str(error)
                )
                self._confirmed_at = self._clock()  # try again after a full interval
                continue
            log.error(ev.SUBSCRIPTION_LOST, subscription_id=current, reason="not_found")
            self._lost = (self._confirmed_at, current)
            self.subscription_id = None
            await self._subscribe(socket, reader)

    async def _replace_at(self, details: ConnectionDetails) -> None:
        margin = min(ABSOLUTE_MARGIN, details.absolute_timeout / 10)
        await asyncio.sleep(max(0.0, details.absolute_timeout - margin))
        raise _SocketEnded("absolute timeout ahead", scheduled=True)

    async def _commands(self, socket: GatewaySocket, reader: asyncio.Task[None]) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if "recreate" in self._requests:
                self._requests.discard("recreate")
                await self._subscribe(socket, reader)

    # -- frames ------------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        now = self._clock()
        self._heard_at = now
        wsc = self._note_wsc(frame)
        replay = self._replay
        if frame.type == frames.SERVER_NOTIFICATION:
            if replay is not None:
                replay.count += 1
            position = self._progress.frame(wsc, notification=True, at=now)
            body = frame.body
            if isinstance(body, dict) and body.get("subscriptionId") not in (
                None,
                self.subscription_id,
            ):
                # Delivered anyway: ingest de-duplicates, and dropping could lose an event.
                self._metrics.inc("websocket_other_subscription")
            try:
                self._ingest.submit(CHANNEL, position, body)
            except Exception:  # the reader must go on
                self.stats.callback_errors += 1
                log.exception(ev.WEBSOCKET_BAD_FRAME, reason="ingest_refused")
            return
        self._progress.frame(wsc, notification=False, at=now)
        if frame.type == frames.HEARTBEAT and replay is not None:
            self._replay = None
            if replay.count >= replay.limit:
                self._replay_overflowed(replay)
        if frame.type == frames.ERROR:
            code = frame.error_code() or "unknown"
            self._metrics.inc("websocket_error_frames", code=code)
            log.warning(ev.WEBSOCKET_ERROR_FRAME, error_code=code, status=frame.status)

    def _replay_overflowed(self, replay: _Replay) -> None:
        """A full recovery buffer was replayed: older notifications may have been dropped."""
        self._metrics.inc("websocket_replay_overflows")
        log.error(
            ev.WEBSOCKET_REPLAY_OVERFLOW,
            replayed=replay.count,
            recovery_buffer_size=replay.limit,
            since=replay.since,
        )
        if replay.since is not None:
            self._on_gap(replay.since)

    def _on_bad_frame(self, reason: str) -> None:
        self._metrics.inc("websocket_bad_frames", reason=reason)
        log.warning(ev.WEBSOCKET_BAD_FRAME, reason=reason)

    def _note_wsc(self, frame: Frame) -> Wsc | None:
        """Keep the newest ``wsc`` (a new session's ConnectionDetails restarts the count)."""
        wsc = frame.wsc
        if wsc is not None and (
            self._wsc is None
            or wsc.sequence >= self._wsc.sequence
            or frame.type == frames.CONNECTION_DETAILS
        ):
            self._wsc = wsc
        return wsc

    # -- checkpoints -------------------------------------------------------------------

    async def _checkpoints(self) -> None:
        """Save the newest safe ``wsc`` after each ingest write (and at least every second)."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ingest.written.wait(), 1.0)
            self._ingest.written.clear()
            safe = self._progress.safe(self._ingest.last_timetoken)
            lease_value = self._lease_value()
            if safe is None or lease_value is None or safe[0] == self._saved:
                continue
            wsc, at = safe
            checkpoint = Checkpoint(
                wsc.token, wsc.sequence, self.subscription_id, at, self._instance
            )
            try:
                if await self._store.save(checkpoint, lease_value):
                    self._saved = wsc
            except Exception as exc:  # Redis down: the next write retries
                self._metrics.inc("redis_errors")
                log.error(ev.WEBSOCKET_CHECKPOINT_FAILED, error=repr(exc))

    # -- outcomes ----------------------------------------------------------------------

    def _ended(self, socket: GatewaySocket, ended: _SocketEnded) -> float:
        if self._stopping:
            return NOT_LEADING_PAUSE
        lived = time.monotonic() - socket.opened_at
        self._metrics.inc("reconnects")
        (log.info if ended.scheduled else log.warning)(
            ev.WEBSOCKET_CLOSED, reason=ended.reason, lived_seconds=round(lived, 3)
        )
        if ended.scheduled:
            return 0.0
        if lived < HEALTHY_SOCKET:
            self._failures += 1
            return self._retry.backoff(self._failures)
        return 0.0

    def _failed(self, exc: Exception) -> float:
        self._failures += 1
        self.last_error = exc
        delay = self._retry.backoff(self._failures)
        if isinstance(exc, RateLimitedError | LoginRefusedError) and exc.retry_after:
            # A call during the platform's penalty restarts it; refused credentials are
            # tried again by the token store at retry_after.
            delay = max(delay, exc.retry_after)
        (log.error if self._failures >= 3 else log.warning)(
            ev.WEBSOCKET_CONNECT_FAILED,
            error=type(exc).__name__,
            detail=str(exc),
            error_code=getattr(exc, "error_code", None),
            failures=self._failures,
            retry_in=round(delay, 3),
        )
        return delay
