"""The gateway's state, with a hand-moved clock: ws tokens, sessions, buffers, settings."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.__main__ import parse_args
from sandbox.config import SandboxConfig
from sandbox.errors import ApiError
from sandbox.notifications import Notifier
from sandbox.subscriptions import WEBSOCKET, Subscription, SubscriptionTable
from sandbox.tokens import TokenTable
from sandbox.websocket.errors import ConnectRefused
from sandbox.websocket.sessions import ReplayBuffer, SessionTable
from sandbox.websocket.settings import WebSocketSettings
from sandbox.websocket.tokens import WsTokenTable
from tests.support.clock import FakeClock


def refusal(table: WsTokenTable, value: str) -> tuple[int, str, str]:
    with pytest.raises(ConnectRefused) as caught:
        table.redeem(value)
    return caught.value.status, caught.value.code, caught.value.message


def test_a_ws_token_is_single_use() -> None:
    """The first redeem gives the login; the second is refused as used."""
    clock = FakeClock()
    tokens = TokenTable(SandboxConfig(), clock)
    login = tokens.issue("1", "app")
    table = WsTokenTable(tokens, clock)
    token = table.issue(login, 60)
    assert table.redeem(token.value) is login
    assert refusal(table, token.value) == (
        401,
        "OAU-213",
        "WebSocket access token was already used",
    )
    assert refusal(table, "SBXW-unknown")[:2] == (401, "OAU-213")


def test_a_ws_token_expires_after_its_lifetime() -> None:
    clock = FakeClock()
    tokens = TokenTable(SandboxConfig(), clock)
    table = WsTokenTable(tokens, clock)
    token = table.issue(tokens.issue("1", "app"), 0.5)
    clock.advance(0.5)
    assert refusal(table, token.value)[:2] == (401, "OAU-128")


def test_a_ws_token_follows_its_login_through_refresh_but_not_revocation() -> None:
    """Bound to the login: a refreshed access token keeps it valid; a revoked login does not."""
    clock = FakeClock()
    tokens = TokenTable(SandboxConfig(), clock)
    refreshed, revoked = tokens.issue("1", "app"), tokens.issue("2", "app")
    table = WsTokenTable(tokens, clock)
    kept, lost = table.issue(refreshed, 60), table.issue(revoked, 60)
    assert refreshed.refresh_token is not None
    assert tokens.refresh(refreshed.refresh_token, "app") is refreshed
    tokens.revoke(revoked)
    assert table.redeem(kept.value) is refreshed
    assert refusal(table, lost.value)[:2] == (401, "OAU-213")


def test_the_replay_buffer_keeps_the_newest_in_order() -> None:
    buffer = ReplayBuffer()
    for sequence in range(1, 6):
        buffer.add(sequence, {"uuid": str(sequence)}, limit=3)
    assert [item.sequence for item in buffer] == [3, 4, 5]
    assert [item.envelope["uuid"] for item in buffer.after(3)] == ["4", "5"]
    buffer.trim(1)
    assert [item.sequence for item in buffer] == [5]
    buffer.trim(0)
    assert len(buffer) == 0


def test_sessions_stay_recoverable_for_their_recovery_timeout() -> None:
    """Connected sessions never go stale; a dropped one does after its own timeout."""
    clock = FakeClock()
    tokens = TokenTable(SandboxConfig(), clock)
    table = SessionTable(clock)
    connected = table.create(tokens.issue("1", "app"), 10)
    dropped = table.create(tokens.issue("2", "app"), 10)
    dropped.disconnected_at = clock()
    clock.advance(9.9)
    assert table.stale() == []
    clock.advance(0.1)
    assert table.stale() == [dropped]
    assert connected.recoverable(clock())
    assert [s.id for s in table.select(person_id="2")] == [dropped.id]
    assert [dropped.next_sequence(), dropped.next_sequence()] == [1, 2]


def test_settings_take_json_keys_and_refuse_bad_values() -> None:
    settings = WebSocketSettings.from_config(SandboxConfig())
    assert settings.to_json() == {
        "recoveryTimeout": 180,
        "recoveryBufferSize": 100,
        "idleTimeout": 1800,
        "absoluteTimeout": 86400,
        "wstokenLifetime": 60,
    }
    changed = settings.updated({"idleTimeout": 1.5, "recoveryBufferSize": 0})
    assert (changed.idle_timeout, changed.recovery_buffer_size) == (1.5, 0)
    assert changed.to_json()["idleTimeout"] == 1.5
    for bad in (
        {"idle": 1},
        {"idleTimeout": 0},
        {"idleTimeout": "1"},
        {"recoveryBufferSize": 1.5},
        {"recoveryBufferSize": -1},
        {"absoluteTimeout": True},
    ):
        with pytest.raises(ApiError) as caught:
            settings.updated(bad)
        assert caught.value.status == 400


def test_cli_flags_set_the_gateway_settings() -> None:
    config = parse_args(
        [
            "--ws-recovery-timeout",
            "2.5",
            "--ws-recovery-buffer-size",
            "7",
            "--ws-idle-timeout",
            "1",
            "--ws-absolute-timeout",
            "3",
            "--wstoken-lifetime",
            "0.5",
        ]
    )
    assert WebSocketSettings.from_config(config) == WebSocketSettings(2.5, 7, 1.0, 3.0, 0.5)


@pytest.mark.parametrize(
    "bad",
    [["--ws-idle-timeout", "0"], ["--wstoken-lifetime", "-1"], ["--ws-recovery-buffer-size", "-1"]],
)
def test_cli_refuses_non_positive_gateway_settings(bad: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(bad)


def test_a_websocket_subscription_shows_real_ids_and_never_expires_by_time() -> None:
    clock = FakeClock()
    table = SubscriptionTable(SandboxConfig(), clock)
    sub = table.create_websocket(
        "42",
        "app",
        ["/restapi/v1.0/glip/posts", "/restapi/v1.0/account/~/extension/~"],
        "session",
        "300",
    )
    clock.advance(10**7)
    assert table.live() == [sub]
    table.renew(sub)
    shown = sub.to_json("http://ignored", clock())
    assert shown["eventFilters"] == [
        "/restapi/v1.0/glip/posts",
        "/restapi/v1.0/account/300/extension/42",
    ]
    assert (shown["uri"], shown["expiresIn"]) == (f"/restapi/v1.0/subscription/{sub.id}", 86399)
    assert table.expire(sub.id)
    assert table.live() == []


class Sockets:
    """Collects what the notifier hands to the gateway."""

    def __init__(self) -> None:
        self.delivered: list[tuple[Subscription, dict[str, Any]]] = []

    def deliver(self, subscription: Subscription, envelope: dict[str, Any]) -> None:
        self.delivered.append((subscription, envelope))


class Hub:
    def __init__(self) -> None:
        self.published: list[object] = []

    def publish(self, subscribe_key: str, channel: str, message: object) -> object:
        self.published.append(message)
        return "1"


def test_the_notifier_hands_websocket_envelopes_to_the_gateway() -> None:
    """A WebSocket subscription gets the plain envelope; nothing goes to PubNub."""
    clock = FakeClock()
    table = SubscriptionTable(SandboxConfig(), clock)
    sub = table.create_websocket("42", "app", ["/restapi/v1.0/glip/posts"], "session", "300")
    sockets, hub = Sockets(), Hub()
    notifier = Notifier(table, hub, clock, sockets)
    body = {"id": "1", "eventType": "PostAdded"}
    assert notifier.emit("/restapi/v1.0/glip/posts", body, ["42"]) == 1
    [(to, envelope)] = sockets.delivered
    assert to is sub
    assert hub.published == []
    assert set(envelope) == {"uuid", "event", "timestamp", "subscriptionId", "ownerId", "body"}
    assert (envelope["subscriptionId"], envelope["ownerId"], envelope["body"]) == (
        sub.id,
        "42",
        body,
    )
    assert sub.transport == WEBSOCKET
