"""WebSocketSession against a scripted in-process gateway (aiohttp), with fakes around it.

The real gateway is the sandbox's (tests/integration/listener/test_listener_websocket.py);
here each test scripts the one behaviour it is about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from glipbot.errors import RateLimitedError
from glipbot.retry import RetryPolicy
from listener.metrics import Metrics
from listener.transports.websocket.checkpoint import Checkpoint
from listener.transports.websocket.session import WebSocketSession

NO_WAIT = RetryPolicy(max_attempts=None, base=0.01, cap=0.01)
Handler = Callable[[web.WebSocketResponse, web.Request], Awaitable[None]]


def _frame(header: dict[str, Any], body: Any = None) -> str:
    return json.dumps([header] if body is None else [header, body])


def _details(sequence: int, **body: Any) -> str:
    return _frame(
        {
            "type": "ConnectionDetails",
            "status": 200,
            "wsc": {"token": f"w{sequence}", "sequence": sequence},
        },
        {"idleTimeout": 1800, "absoluteTimeout": 86400, "recoveryTimeout": 180, **body},
    )


async def _answer_subscribe(ws: web.WebSocketResponse, sequence: int, sub_id: str) -> None:
    """Read the subscribe request and answer it like the real gateway (no WSG header)."""
    request = json.loads((await ws.receive()).data)
    assert request[0]["method"] == "POST"
    assert request[1]["deliveryMode"] == {"transportType": "WebSocket"}
    await ws.send_str(
        _frame(
            {
                "type": "ClientRequest",
                "messageId": request[0]["messageId"],
                "status": 200,
                "wsc": {"token": f"w{sequence}", "sequence": sequence},
            },
            {"id": sub_id, "status": "Active"},
        )
    )


class Gateway:
    """One aiohttp server; each connection runs the next scripted handler."""

    def __init__(self, handlers: list[Handler]) -> None:
        self.handlers = handlers
        self.queries: list[dict[str, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.queries.append(dict(request.query))
        handler = self.handlers[min(len(self.queries), len(self.handlers)) - 1]
        await handler(ws, request)
        return ws


class FakeApi:
    def __init__(self, gateway: Gateway, failures: list[Exception] | None = None) -> None:
        self._gateway = gateway
        self._failures = list(failures or [])
        self.calls = 0

    def ws_token(self) -> dict[str, Any]:
        self.calls += 1
        if self._failures:
            raise self._failures.pop(0)
        return {"uri": self._gateway.url, "ws_access_token": f"t{self.calls}", "expires_in": 60}


class FakeIngest:
    def __init__(self) -> None:
        self.submitted: list[tuple[str, int, Any]] = []
        self.written = asyncio.Event()
        self.last_timetoken: int | None = None
        self.last_event_at: float | None = None

    def add_plain_channel(self, channel: str) -> None:
        self.channel = channel

    def submit(self, channel: str, timetoken: int, payload: Any) -> None:
        self.submitted.append((channel, timetoken, payload))

    def write_all(self) -> None:
        self.last_timetoken = max(t for _, t, _ in self.submitted)
        self.written.set()


class FakeStore:
    def __init__(self, stored: Checkpoint | None = None) -> None:
        self.stored = stored
        self.saved: list[Checkpoint] = []

    async def load(self) -> Checkpoint | None:
        return self.stored

    async def save(self, checkpoint: Checkpoint, lease_value: str) -> bool:
        self.saved.append(checkpoint)
        return True


class FakeGaps:
    def __init__(self) -> None:
        self.gaps: list[tuple[float, float, str | None, str]] = []

    async def record(self, start: float, end: float, *, old: str | None, new: str) -> None:
        self.gaps.append((start, end, old, new))


@contextlib.asynccontextmanager
async def serving(handlers: list[Handler]) -> AsyncIterator[Gateway]:
    """The scripted gateway on a free loopback port, for one test."""
    gateway = Gateway(handlers)
    app = web.Application()
    app.router.add_get("/ws", gateway.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    gateway.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/ws"
    try:
        yield gateway
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running(session: WebSocketSession) -> AsyncIterator[None]:
    """``session.run()`` in a task, cancelled and awaited at the end."""
    task = asyncio.create_task(session.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _session(
    api: FakeApi, ingest: FakeIngest, store: FakeStore, gaps: FakeGaps, **kw: Any
) -> tuple[WebSocketSession, list[float]]:
    gap_starts: list[float] = []
    session = WebSocketSession(
        api,  # type: ignore[arg-type]
        ingest,  # type: ignore[arg-type]
        store,  # type: ignore[arg-type]
        gaps,  # type: ignore[arg-type]
        Metrics(),
        instance="test",
        heartbeat_interval=60,
        lease_value=lambda: "1:test",
        on_gap=gap_starts.append,
        clock=lambda: 1000.0,
        **{"check_interval": 60, **kw},
    )
    return session, gap_starts


async def _until(check: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def _hold(ws: web.WebSocketResponse) -> None:
    async for _ in ws:
        pass


def test_a_fresh_session_subscribes_delivers_and_checkpoints_only_what_was_written() -> None:
    async def handler(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str(_details(1))
        await _answer_subscribe(ws, 2, "sub-1")
        notification = {"type": "ServerNotification", "messageId": "n"}
        await ws.send_str(
            _frame(
                {**notification, "wsc": {"token": "w3", "sequence": 3}},
                {"uuid": "u1", "subscriptionId": "sub-1", "body": {}},
            )
        )
        await _hold(ws)

    async def main() -> None:
        ingest, store, gaps = FakeIngest(), FakeStore(), FakeGaps()
        async with serving([handler]) as gateway:
            session, gap_starts = _session(FakeApi(gateway), ingest, store, gaps)
            async with running(session):
                await _until(lambda: ingest.submitted)
                assert gateway.queries == [{"access_token": "t1"}]  # nothing to recover
                assert ingest.submitted[0][0] == ingest.channel
                assert ingest.submitted[0][2]["uuid"] == "u1"
                assert session.live()
                assert session.subscription_id == "sub-1"
                await _until(lambda: store.saved)
                # Not 3: the notification that came with it is not written yet.
                assert [c.sequence for c in store.saved] == [2]
                ingest.write_all()
                await _until(lambda: store.saved[-1].sequence == 3)
                assert store.saved[-1].subscription_id == "sub-1"
                assert gap_starts == []
                assert gaps.gaps == []

    asyncio.run(main())


def test_a_malformed_wsc_is_forgotten_and_the_gap_since_the_last_frame_is_backfilled() -> None:
    async def refuse(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str(_frame({"type": "Error", "status": 400}, {"errorCode": "WSG-400"}))
        await ws.close()

    async def fresh(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str(_details(1))
        await _answer_subscribe(ws, 2, "sub-new")
        await _hold(ws)

    async def main() -> None:
        stored = Checkpoint("bad", 9, "sub-old", 900.0, "other")
        ingest, store, gaps = FakeIngest(), FakeStore(stored), FakeGaps()
        async with serving([refuse, fresh]) as gateway:
            session, gap_starts = _session(FakeApi(gateway), ingest, store, gaps, retry=NO_WAIT)
            async with running(session):
                await _until(session.live)
                assert gateway.queries == [
                    {"access_token": "t1", "wsc": "bad"},
                    {"access_token": "t2"},
                ]
                assert session.subscription_id == "sub-new"
                assert gap_starts == [900.0]
                assert gaps.gaps == [(900.0, 1000.0, "sub-old", "sub-new")]

    asyncio.run(main())


def test_a_failed_recovery_subscribes_again_on_the_same_socket() -> None:
    async def failed(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str(_details(1, recoveryState="Failed", recoveryErrorCode="WSG-1005"))
        await _answer_subscribe(ws, 2, "sub-2")
        await _hold(ws)

    async def main() -> None:
        store = FakeStore(Checkpoint("w7", 7, "sub-1", 950.0, "a"))
        async with serving([failed]) as gateway:
            session, gap_starts = _session(FakeApi(gateway), FakeIngest(), store, FakeGaps())
            async with running(session):
                await _until(session.live)
                assert [q.get("wsc") for q in gateway.queries] == ["w7"]  # one socket
                assert session.subscription_id == "sub-2"
                assert gap_starts == [950.0]

    asyncio.run(main())


def test_a_successful_recovery_keeps_the_subscription_and_subscribes_nothing() -> None:
    received: list[str] = []

    async def recovered(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str(_details(8, recoveryState="Successful"))
        async for message in ws:
            received.append(json.loads(message.data)[0]["type"])

    async def main() -> None:
        store = FakeStore(Checkpoint("w7", 7, "sub-1", 950.0, "a"))
        async with serving([recovered]) as gateway:
            session, gap_starts = _session(FakeApi(gateway), FakeIngest(), store, FakeGaps())
            async with running(session):
                await _until(session.live)
                await asyncio.sleep(0.2)
                assert session.subscription_id == "sub-1"
                # No ClientRequest (the subscription survived); the heartbeat ends the replay.
                assert received == ["Heartbeat"]
                assert gap_starts == []

    asyncio.run(main())


def test_a_bot_not_ready_yet_is_subscribed_again_on_the_same_socket() -> None:
    """SUB-406 just after an install: retried on the socket, never a new wstoken."""

    async def not_ready_twice(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str(_details(1))
        for sequence in (2, 3):
            request_frame = json.loads((await ws.receive()).data)
            header = {
                "type": "ClientRequest",
                "messageId": request_frame[0]["messageId"],
                "status": 403,
                "wsc": {"token": f"w{sequence}", "sequence": sequence},
            }
            await ws.send_str(_frame(header, {"errorCode": "SUB-406", "message": "not ready"}))
        await _answer_subscribe(ws, 4, "sub-1")
        await _hold(ws)

    async def main() -> None:
        gaps = FakeGaps()
        async with serving([not_ready_twice]) as gateway:
            api = FakeApi(gateway)
            session, gap_starts = _session(api, FakeIngest(), FakeStore(), gaps, retry=NO_WAIT)
            async with running(session):
                await _until(session.live)
                assert api.calls == 1
                assert len(gateway.queries) == 1
                assert session.subscription_id == "sub-1"
                assert session.failures == 0
                assert gaps.gaps == []
                assert gap_starts == []

    asyncio.run(main())


def test_a_rate_limited_wstoken_waits_out_the_platforms_penalty() -> None:
    session, _ = _session(FakeApi(Gateway([])), FakeIngest(), FakeStore(), FakeGaps())
    delay = session._failed(RateLimitedError("429", retry_after=42.0))
    assert delay >= 42.0
    assert session.failures == 1


def test_a_subscription_deleted_behind_the_sockets_back_is_found_and_made_again() -> None:
    async def handler(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str(_details(1))
        await _answer_subscribe(ws, 2, "sub-1")
        check = json.loads((await ws.receive()).data)[0]
        assert (check["method"], check["path"]) == ("GET", "/restapi/v1.0/subscription/sub-1")
        header = {"type": "ClientRequest", "messageId": check["messageId"], "status": 404}
        await ws.send_str(_frame(header, {"errorCode": "CMN-102"}))
        await _answer_subscribe(ws, 4, "sub-2")
        await _hold(ws)

    async def main() -> None:
        gaps = FakeGaps()
        async with serving([handler]) as gateway:
            session, gap_starts = _session(
                FakeApi(gateway), FakeIngest(), FakeStore(), gaps, check_interval=0.1
            )
            async with running(session):
                await _until(lambda: session.subscription_id == "sub-2")
                assert len(gateway.queries) == 1  # on the same socket
                assert gap_starts == [1000.0]
                assert gaps.gaps == [(1000.0, 1000.0, "sub-1", "sub-2")]

    asyncio.run(main())


def test_a_replay_that_fills_the_recovery_buffer_is_backfilled_from_before_the_drop() -> None:
    async def recovered(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str(_details(8, recoveryState="Successful", recoveryBufferSize=2))
        for sequence in (9, 10):  # the buffer, full: older notifications were dropped
            header = {"type": "ServerNotification", "wsc": {"token": "w", "sequence": sequence}}
            await ws.send_str(_frame(header, {"uuid": f"u{sequence}", "body": {}}))
        beat = json.loads((await ws.receive()).data)[0]
        assert beat["type"] == "Heartbeat"
        await ws.send_str(_frame({"type": "Heartbeat", "messageId": beat["messageId"]}))
        await _hold(ws)

    async def main() -> None:
        store = FakeStore(Checkpoint("w7", 7, "sub-1", 950.0, "a"))
        ingest = FakeIngest()
        async with serving([recovered]) as gateway:
            session, gap_starts = _session(FakeApi(gateway), ingest, store, FakeGaps())
            async with running(session):
                await _until(lambda: gap_starts)
                assert gap_starts == [950.0]
                assert len(ingest.submitted) == 2  # the replay is delivered too

    asyncio.run(main())
