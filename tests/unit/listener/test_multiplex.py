"""Many channels over few PubNub clients: where each channel goes, and where its messages go.

The SDK is replaced by a recorder of what each client was asked: which
channels it subscribed, from which timetoken, which it left, and whether
it was closed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from glipbot.settings import Settings
from listener.metrics import Metrics
from listener.transports import multiplex
from listener.transports.multiplex import MAX_CHANNELS, PubNubMux

KEY = "sub-key"


@dataclass
class FakeClient:
    user_id: str
    subscribed: list[tuple[list[str], int | None]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    closed: bool = False

    def unsubscribe(self) -> FakeClient:
        return self

    def channels(self, channels: list[str]) -> FakeClient:
        self._leaving = channels
        return self

    def execute(self) -> None:
        self.left += self._leaving


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[FakeClient]:
    made: list[FakeClient] = []

    def new_client(settings: Any, user_id: str, key: str, sink: Any) -> FakeClient:
        made.append(FakeClient(user_id))
        return made[-1]

    def subscribe(pn: FakeClient, channels: list[str], timetoken: int | None) -> None:
        pn.subscribed.append((list(channels), timetoken))

    async def close_client(pn: FakeClient) -> None:
        pn.closed = True

    monkeypatch.setattr(multiplex, "new_client", new_client)
    monkeypatch.setattr(multiplex, "subscribe", subscribe)
    monkeypatch.setattr(multiplex, "close_client", close_client)
    monkeypatch.setattr(multiplex, "SETTLE", 0.01)
    return made


def _mux() -> PubNubMux:
    return PubNubMux(Settings.from_env({}, env_file=None), "listener-x", Metrics())


def _sink(received: list[tuple[str, int]]) -> Any:
    return lambda channel, tt, payload: received.append((channel, tt))


def test_fresh_channels_fill_clients_up_to_the_multiplexing_limit(
    clients: list[FakeClient],
) -> None:
    async def scenario() -> PubNubMux:
        mux = _mux()
        await asyncio.gather(
            *(mux.add(f"ch{n}", KEY, None, _sink([])) for n in range(MAX_CHANNELS + 5))
        )
        await mux.add("late", KEY, None, _sink([]))  # joins the client with room, keeps its cursor
        return mux

    mux = asyncio.run(scenario())
    assert mux.clients() == 2
    assert mux.channels() == MAX_CHANNELS + 6
    assert [len(c) for c, _ in clients[0].subscribed] == [MAX_CHANNELS]
    assert clients[1].subscribed == [
        ([f"ch{n}" for n in range(MAX_CHANNELS, MAX_CHANNELS + 5)], None),
        (["late"], None),
    ]


def test_resuming_channels_open_a_client_from_their_oldest_timetoken(
    clients: list[FakeClient],
) -> None:
    async def scenario() -> None:
        mux = _mux()
        await mux.add("fresh", KEY, None, _sink([]))
        await asyncio.gather(mux.add("a", KEY, 300, _sink([])), mux.add("b", KEY, 200, _sink([])))

    asyncio.run(scenario())
    assert clients[0].subscribed == [(["fresh"], None)]
    assert clients[1].subscribed == [(["b", "a"], 200)]


def test_messages_go_to_their_channels_receiver_once_and_removed_channels_close_clients(
    clients: list[FakeClient],
) -> None:
    a: list[tuple[str, int]] = []
    b: list[tuple[str, int]] = []

    async def scenario() -> PubNubMux:
        mux = _mux()
        await asyncio.gather(mux.add("a", KEY, 100, _sink(a)), mux.add("b", KEY, 100, _sink(b)))
        mux._route("a", 150, {})
        mux._route("a", 150, {})  # the SDK's re-delivery after a reconnect
        mux._route("b", 90, {})  # before b's cursor: replayed for a's sake
        mux._route("b", 160, {})
        await mux.remove("a")
        mux._route("a", 170, {})  # in flight when it was removed
        await mux.remove("b")
        return mux

    mux = asyncio.run(scenario())
    assert a == [("a", 150)]
    assert b == [("b", 160)]
    assert clients[0].left == ["a"]
    assert clients[0].closed
    assert mux.clients() == 0
    assert mux.channels() == 0
    assert mux._metrics.get("redelivered") == 2
    assert mux._metrics.get("unrouted") == 1
