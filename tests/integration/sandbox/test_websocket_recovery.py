"""Session recovery (WEBSOCKET.md §7) and the gateway's control API: drop, refuse, expire, reset.

The bot connects with its static token through a raw client; John posts over
HTTP. A recovery presents a fresh ws token and the newest ``wsc`` it saw.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import pytest
import requests

from devtools.sandbox_process import SandboxProcess
from sandbox.testing import BOT_TOKEN, Person, as_person, login
from tests.support.raw_socket import RawSocket

pytestmark = pytest.mark.integration

BOT_ID = "400000001"
POSTS = "/restapi/v1.0/glip/posts"
SUBSCRIPTION = "/restapi/v1.0/subscription"
#: How a socket cut without a close frame ends for the client.
DEAD = (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


def run(scenario: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(scenario)


@pytest.fixture
def john(gw: SandboxProcess) -> Person:
    return as_person(gw.rest_url, "john.smith@sandbox.test", "john")


@pytest.fixture
def chat(john: Person) -> str:
    """John's private chat with the bot."""
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [{"id": BOT_ID}]})
    return str(chat.json()["id"])


async def connect(
    sb: SandboxProcess, wsc: str | None = None, token: str = BOT_TOKEN
) -> tuple[RawSocket, dict[str, Any], dict[str, Any]]:
    """A socket, with its ConnectionDetails frame's header and body."""
    sock = await RawSocket.open(sb.rest_url, token, wsc=wsc)
    header, body = await sock.read()
    assert header["type"] == "ConnectionDetails"
    return sock, header, body


async def post(john: Person, chat: str, *texts: str) -> None:
    for text in texts:
        resp = await asyncio.to_thread(
            john.post, "/glip/posts", json={"groupId": chat, "text": text}
        )
        assert resp.status_code == 200


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a blocking ``condition`` (in a thread) until it holds."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


def sessions(sb: SandboxProcess) -> list[dict[str, Any]]:
    return list(sb.control.websocket_state()["sessions"])


def text_of(frame: list[Any]) -> str:
    assert frame[0]["type"] == "ServerNotification"
    return str(frame[1]["body"]["text"])


def test_recovery_replays_everything_missed_once_in_order(
    gw: SandboxProcess, john: Person, chat: str
) -> None:
    """Dropped, three posts, recovered with the newest wsc: Successful, the three, then live."""

    async def scenario() -> dict[str, Any]:
        first, _, _ = await connect(gw)
        sub_id = (await first.subscribe([POSTS]))[1]["id"]
        await post(john, chat, "seen")
        assert text_of(await first.read()) == "seen"
        assert await asyncio.to_thread(gw.control.drop_websockets) == 1
        dropped, _ = await first.read_close()
        await first.close()
        assert first.wsc is not None
        await post(john, chat, "m1", "m2", "m3")
        second, header, details = await connect(gw, first.wsc["token"])
        async with second:
            replayed = [await second.read() for _ in range(3)]
            await second.send({"type": "Heartbeat", "messageId": "hb"})
            nothing_more = await second.read()
            await post(john, chat, "live")
            live = await second.read()
            state = await asyncio.to_thread(sessions, gw)
        return locals()

    out = run(scenario())
    assert out["dropped"] in DEAD
    assert out["details"]["recoveryState"] == "Successful"
    assert "recoveryErrorCode" not in out["details"]
    assert [text_of(f) for f in out["replayed"]] == ["m1", "m2", "m3"]
    assert {f[1]["subscriptionId"] for f in out["replayed"]} == {out["sub_id"]}
    assert out["nothing_more"][0]["type"] == "Heartbeat"
    assert text_of(out["live"]) == "live"
    # seen was 3; m1..m3 were due as 4..6; then ConnectionDetails 7 and the replays 8..10.
    assert out["header"]["wsc"]["sequence"] == 7
    assert [f[0]["wsc"]["sequence"] for f in out["replayed"]] == [8, 9, 10]
    [session] = out["state"]
    assert (session["sockets"], session["connected"], session["subscription_id"]) == (
        2,
        True,
        out["sub_id"],
    )


def test_recovering_with_an_older_wsc_replays_from_there(
    gw: SandboxProcess, john: Person, chat: str
) -> None:
    """The sandbox replays every kept notification after the presented sequence, seen or not."""

    async def scenario() -> list[str]:
        first, details_header, _ = await connect(gw)
        await first.subscribe([POSTS])
        await post(john, chat, "seen")
        await first.read()
        await first.close()
        await post(john, chat, "missed")
        second, _, details = await connect(gw, details_header["wsc"]["token"])
        async with second:
            assert details["recoveryState"] == "Successful"
            return [text_of(await second.read()) for _ in range(2)]

    assert run(scenario()) == ["seen", "missed"]


def test_a_full_buffer_keeps_the_newest(gw: SandboxProcess, john: Person, chat: str) -> None:
    """Buffer 4: five missed posts keep four; shrinking it to 3 trims at once; 3 are replayed."""
    gw.control.websocket_config(recoveryBufferSize=4)

    async def scenario() -> tuple[list[int], list[str]]:
        first, _, _ = await connect(gw)
        await first.subscribe([POSTS])
        await first.close()
        await post(john, chat, "p1", "p2", "p3", "p4", "p5")
        assert first.wsc is not None
        kept = [sessions(gw)[0]["buffered"]]
        await asyncio.to_thread(gw.control.websocket_config, recoveryBufferSize=3)
        kept.append(sessions(gw)[0]["buffered"])
        second, _, details = await connect(gw, first.wsc["token"])
        async with second:
            assert details["recoveryBufferSize"] == 3
            replayed = [text_of(await second.read()) for _ in range(3)]
            await second.send({"type": "Heartbeat", "messageId": "hb"})
            assert (await second.read())[0]["type"] == "Heartbeat"  # nothing else was replayed
        return kept, replayed

    assert run(scenario()) == ([4, 3], ["p3", "p4", "p5"])


def test_after_the_recovery_window_recovery_fails_on_a_usable_new_session(
    gw: SandboxProcess, john: Person, chat: str
) -> None:
    """recoveryTimeout 0.5 s: the session and its subscription end; the late socket subscribes."""
    gw.control.websocket_config(recoveryTimeout=0.5)
    bot_http = requests.Session()
    bot_http.headers["Authorization"] = f"Bearer {BOT_TOKEN}"

    async def scenario() -> dict[str, Any]:
        first, _, first_details = await connect(gw)
        old_sub = (await first.subscribe([POSTS]))[1]["id"]
        await first.close()
        await until(lambda: sessions(gw) == [])
        assert first.wsc is not None
        second, _, details = await connect(gw, first.wsc["token"])
        async with second:
            new_sub = (await second.subscribe([POSTS]))[1]["id"]
            await post(john, chat, "again")
            notified = await second.read()
        return locals()

    out = run(scenario())
    assert out["first_details"]["recoveryTimeout"] == 0.5
    assert (out["details"]["recoveryState"], out["details"]["recoveryErrorCode"]) == (
        "Failed",
        "WSG-1001",
    )
    assert out["new_sub"] != out["old_sub"]
    assert out["notified"][1]["subscriptionId"] == out["new_sub"]
    old = bot_http.get(f"{gw.rest_url}{SUBSCRIPTION}/{out['old_sub']}", timeout=5)
    assert old.status_code == 404


def test_a_wsc_of_another_login_fails_with_wsg_1003_but_a_refreshed_login_recovers(
    gw: SandboxProcess,
) -> None:
    """The bot's wsc with John's ws token: Failed WSG-1003. John's own after a refresh: ok."""
    token = login(gw.rest_url, "john.smith@sandbox.test", "john")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], int]:
        bots, _, _ = await connect(gw)
        await bots.subscribe([POSTS])
        await bots.close()
        johns, _, _ = await connect(gw, token=token["access_token"])
        await johns.subscribe([POSTS])
        await johns.close()
        assert bots.wsc is not None
        assert johns.wsc is not None
        other, _, foreign = await connect(gw, bots.wsc["token"], token["access_token"])
        await other.close()
        refreshed = await asyncio.to_thread(_refresh, gw, token["refresh_token"])
        again, _, own = await connect(gw, johns.wsc["token"], refreshed)
        await again.close()
        return foreign, own, len(sessions(gw))

    foreign, own, live = run(scenario())
    assert (foreign["recoveryState"], foreign["recoveryErrorCode"]) == ("Failed", "WSG-1003")
    assert own["recoveryState"] == "Successful"
    assert live == 3  # the bot's session is untouched and still recoverable


def _refresh(sb: SandboxProcess, refresh_token: str) -> str:
    resp = requests.post(
        sb.rest_url + "/restapi/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("sandbox-client-id", "sandbox-client-secret"),
        timeout=5,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def test_a_session_without_subscription_fails_with_wsg_1005(gw: SandboxProcess) -> None:
    """Nothing to recover: Failed WSG-1005 on a new session."""

    async def scenario() -> tuple[dict[str, Any], str, str]:
        first, _, _ = await connect(gw)
        await first.close()
        assert first.wsc is not None
        second, header, details = await connect(gw, first.wsc["token"])
        await second.close()
        old, new = first.wsc["token"], header["wsc"]["token"]
        return details, old, new

    details, old, new = run(scenario())
    assert (details["recoveryState"], details["recoveryErrorCode"]) == ("Failed", "WSG-1005")
    assert old != new


def _altered(token: str) -> str:
    """The token with its sequence changed and its signature kept."""
    head, _, mac = token.partition(".")
    payload = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode()
    session_id, _, _ = payload.rpartition(":")
    forged = base64.urlsafe_b64encode(f"{session_id}:1".encode()).rstrip(b"=").decode()
    return f"{forged}.{mac}"


def test_a_malformed_wsc_gets_wsg_400_and_the_socket_closes(gw: SandboxProcess) -> None:
    """Garbage, a changed sequence, a changed signature: Error WSG-400 (no wsc), close 1008."""

    async def scenario() -> tuple[list[tuple[Any, ...]], int]:
        first, _, _ = await connect(gw)
        await first.subscribe([POSTS])
        await first.close()
        assert first.wsc is not None
        real = first.wsc["token"]
        outcomes = []
        for wsc in ("garbage", _altered(real), real[:-2] + ("AA" if real[-2:] != "AA" else "BB")):
            async with await RawSocket.open(gw.rest_url, BOT_TOKEN, wsc=wsc) as sock:
                header, body = await sock.read()
                kind, code = await sock.read_close()
                outcomes.append(
                    (
                        header["type"],
                        header["status"],
                        "wsc" in header,
                        body["errorCode"],
                        kind,
                        code,
                    )
                )
        return outcomes, len(sessions(gw))

    outcomes, live = run(scenario())
    assert outcomes == [("Error", 400, False, "WSG-400", aiohttp.WSMsgType.CLOSE, 1008)] * 3
    assert live == 1  # no session was made for them; the real one is still recoverable


def test_a_recovering_socket_takes_the_session_from_a_live_one(
    gw: SandboxProcess, john: Person, chat: str
) -> None:
    """A second process recovers while the first is connected: the first is closed (1000)."""

    async def scenario() -> tuple[dict[str, Any], tuple[Any, ...], str, list[dict[str, Any]]]:
        first, _, _ = await connect(gw)
        await first.subscribe([POSTS])
        assert first.wsc is not None
        second, _, details = await connect(gw, first.wsc["token"])
        async with first, second:
            ended = await first.read_close()
            await post(john, chat, "to the second")
            text = text_of(await second.read())
            return details, ended, text, sessions(gw)

    details, ended, text, state = run(scenario())
    assert details["recoveryState"] == "Successful"
    assert ended == (aiohttp.WSMsgType.CLOSE, 1000)
    assert text == "to the second"
    assert [(s["sockets"], s["connected"], s["notifications_sent"]) for s in state] == [
        (2, True, 1)
    ]


def test_a_session_ended_by_the_idle_timeout_recovers(
    gw: SandboxProcess, john: Person, chat: str
) -> None:
    """WSG-902 ends the socket, not the session: what came after is replayed."""
    gw.control.websocket_config(idleTimeout=1)

    async def scenario() -> tuple[str, str, str]:
        first, _, _ = await connect(gw)
        await first.subscribe([POSTS])
        error = await first.read()
        await first.read_close()
        await first.close()
        await post(john, chat, "while idle")
        assert first.wsc is not None
        second, _, details = await connect(gw, first.wsc["token"])
        async with second:
            return error[1]["errorCode"], details["recoveryState"], text_of(await second.read())

    assert run(scenario()) == ("WSG-902", "Successful", "while idle")


def test_drop_cuts_only_the_selected_sockets_without_a_close_frame(
    gw: SandboxProcess, john: Person
) -> None:
    """drop_websockets(person_id=bot) cuts the bot's socket; John's keeps answering."""

    async def scenario() -> tuple[int, aiohttp.WSMsgType, str, int]:
        bots, _, _ = await connect(gw)
        johns, _, _ = await connect(gw, token=john.token["access_token"])
        async with bots, johns:
            count = await asyncio.to_thread(gw.control.drop_websockets, None, BOT_ID)
            kind, _ = await bots.read_close()
            await johns.send({"type": "Heartbeat", "messageId": "hb"})
            alive = (await johns.read())[0]["type"]
            rest = await asyncio.to_thread(gw.control.drop_websockets)
            await johns.read_close()
            return count, kind, alive, rest

    count, kind, alive, rest = run(scenario())
    assert (count, alive, rest) == (1, "Heartbeat", 1)
    assert kind in DEAD


def test_refuse_answers_handshakes_503_until_it_ends(gw: SandboxProcess) -> None:
    """refuse_websockets(60): 503 CMN-211 with Retry-After; refuse_websockets(0) ends it."""
    gw.control.refuse_websockets(60)

    async def scenario() -> tuple[int, str]:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await RawSocket.open(gw.rest_url, BOT_TOKEN)
        await asyncio.to_thread(gw.control.refuse_websockets, 0)
        sock, _, _ = await connect(gw)
        await sock.close()
        assert refused.value.headers is not None
        return refused.value.status, refused.value.headers["Retry-After"]

    assert run(scenario()) == (503, "60")


def test_a_short_refusal_ends_by_itself(gw: SandboxProcess) -> None:
    """refuse_websockets(1): refused now, accepted a second later."""
    gw.control.refuse_websockets(1)

    async def scenario() -> int:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await RawSocket.open(gw.rest_url, BOT_TOKEN)
        await asyncio.sleep(1.1)
        sock, _, _ = await connect(gw)
        await sock.close()
        return refused.value.status

    assert run(scenario()) == 503


def test_expire_ends_sessions_now(gw: SandboxProcess) -> None:
    """The socket is closed (1000), the subscription deleted, and a recovery Fails."""
    bot_http = requests.Session()
    bot_http.headers["Authorization"] = f"Bearer {BOT_TOKEN}"

    async def scenario() -> dict[str, Any]:
        sock, _, _ = await connect(gw)
        sub_id = (await sock.subscribe([POSTS]))[1]["id"]
        session_id = sessions(gw)[0]["id"]
        expired = await asyncio.to_thread(gw.control.expire_websocket_sessions, session_id)
        ended = await sock.read_close()
        await sock.close()
        left = sessions(gw)
        assert sock.wsc is not None
        late, _, details = await connect(gw, sock.wsc["token"])
        await late.close()
        return locals()

    out = run(scenario())
    assert (out["expired"], out["ended"], out["left"]) == (1, (aiohttp.WSMsgType.CLOSE, 1000), [])
    assert out["details"]["recoveryErrorCode"] == "WSG-1001"
    gone = bot_http.get(f"{gw.rest_url}{SUBSCRIPTION}/{out['sub_id']}", timeout=5)
    assert gone.status_code == 404


def test_reset_ends_every_session_and_restores_the_settings(gw: SandboxProcess) -> None:
    """POST /sandbox/reset closes the sockets, forgets the sessions, and restores the CLI values."""
    changed = gw.control.websocket_config(idle_timeout=5, recoveryBufferSize=7)
    assert (changed["idleTimeout"], changed["recoveryBufferSize"]) == (5, 7)

    async def scenario() -> tuple[Any, ...]:
        sock, _, _ = await connect(gw)
        await asyncio.to_thread(gw.control.reset)
        ended = await sock.read_close()
        await sock.close()
        return ended

    assert run(scenario()) == (aiohttp.WSMsgType.CLOSE, 1000)
    state = gw.control.websocket_state()
    assert state == {
        "config": {
            "recoveryTimeout": 180,
            "recoveryBufferSize": 100,
            "idleTimeout": 1800,
            "absoluteTimeout": 86400,
            "wstokenLifetime": 60,
        },
        "sessions": [],
    }


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/websocket/config", {"idleTimeout": 0}),
        ("/websocket/config", {"recoveryBufferSize": -1}),
        ("/websocket/config", {"pingInterval": 5}),
        ("/websocket/refuse", {}),
        ("/websocket/refuse", {"seconds": -1}),
        ("/websocket/drop", {"session_id": 5}),
        ("/websocket/expire", {"person_id": ["x"]}),
    ],
)
def test_the_control_api_refuses_bad_values(
    gw: SandboxProcess, route: str, body: dict[str, Any]
) -> None:
    """A wrong key or value answers 400 CMN-101/CMN-100 and changes nothing."""
    resp = requests.post(gw.control_url + route, json=body, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["errorCode"] in ("CMN-100", "CMN-101")
    assert gw.control.websocket_state()["config"]["idleTimeout"] == 1800
