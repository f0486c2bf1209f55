"""The WebSocket gateway's protocol (WEBSOCKET.md sections 1 to 6), spoken frame by frame.

A raw client (:class:`tests.support.raw_socket.RawSocket`, aiohttp) connects as the
bot with its static token; John posts over plain HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp
import pytest
import requests

from devtools.sandbox_process import SandboxProcess
from sandbox.testing import BOT_TOKEN, Person, as_person
from tests.support.openapi import assert_error_body
from tests.support.raw_socket import RawSocket, ws_token

pytestmark = pytest.mark.integration

BOT_ID = "400000001"
POSTS = "/restapi/v1.0/glip/posts"
GROUPS = "/restapi/v1.0/glip/groups"
SUBSCRIPTION = "/restapi/v1.0/subscription"
WS_DELIVERY = {"transportType": "WebSocket"}
DETAILS_FIELDS = {
    "creationTime",
    "maxConnectionsPerSession",
    "recoveryBufferSize",
    "recoveryTimeout",
    "idleTimeout",
    "absoluteTimeout",
    "maxActiveRequests",
}


def run(scenario: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(scenario)


def bot_chat(john: Person) -> str:
    """The id of John's private chat with the bot."""
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [{"id": BOT_ID}]})
    return str(chat.json()["id"])


async def connected(sb: SandboxProcess, **kwargs: Any) -> RawSocket:
    """A bot socket whose ConnectionDetails has been read."""
    sock = await RawSocket.open(sb.rest_url, BOT_TOKEN, **kwargs)
    header, _ = await sock.read()
    assert header["type"] == "ConnectionDetails"
    return sock


async def subscribe(sock: RawSocket, filters: list[str] | None = None) -> list[Any]:
    return await sock.subscribe(filters or [POSTS])


def test_wstoken_answers_uri_token_and_lifetime_in_the_auth_group(gw: SandboxProcess) -> None:
    """POST /restapi/oauth/wstoken with a bearer token and no body (or {}): 200 JSON."""
    url = gw.rest_url + "/restapi/oauth/wstoken"
    auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
    bare = requests.post(url, headers=auth, timeout=5)
    empty = requests.post(url, headers=auth, json={}, timeout=5)
    for resp in (bare, empty):
        assert resp.status_code == 200
        assert resp.headers["X-Rate-Limit-Group"] == "Auth"
        body = resp.json()
        assert set(body) == {"uri", "ws_access_token", "expires_in"}
        assert (body["uri"], body["expires_in"]) == (gw.ws_url, 60)
    assert bare.json()["ws_access_token"] != empty.json()["ws_access_token"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "OAU-123"), ({"Authorization": "Bearer nope-nope-nope"}, "OAU-213")],
)
def test_wstoken_needs_a_valid_bearer_token(
    gw: SandboxProcess, headers: dict[str, str], code: str
) -> None:
    """Without a token, or with an unknown one: 401 with the API's OAU code."""
    resp = requests.post(gw.rest_url + "/restapi/oauth/wstoken", headers=headers, timeout=5)
    assert resp.status_code == 401
    assert_error_body(resp.json(), code)


def test_the_sixth_wstoken_in_a_window_is_rate_limited(gw: SandboxProcess) -> None:
    """Auth group: 5 per window per person and app; the 6th answers 429 CMN-301."""
    auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
    url = gw.rest_url + "/restapi/oauth/wstoken"
    statuses = [requests.post(url, headers=auth, timeout=5).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = requests.post(url, headers=auth, timeout=5)
    assert limited.headers["Retry-After"] == "60"
    assert_error_body(limited.json(), "CMN-301")


def test_connection_details_come_first_with_every_field(gw: SandboxProcess) -> None:
    """The server speaks first: ConnectionDetails, wsc sequence 1, no recoveryState."""

    async def scenario() -> list[Any]:
        async with await RawSocket.open(gw.rest_url, BOT_TOKEN) as sock:
            return await sock.read()

    header, body = run(scenario())
    assert set(header) == {"type", "messageId", "status", "headers", "wsc"}
    assert (header["type"], header["status"], header["wsc"]["sequence"]) == (
        "ConnectionDetails",
        200,
        1,
    )
    assert isinstance(header["wsc"]["token"], str)
    assert "RCRequestId" in header["headers"]
    assert set(body) == DETAILS_FIELDS
    assert {k: v for k, v in body.items() if k != "creationTime"} == {
        "maxConnectionsPerSession": 50,
        "recoveryBufferSize": 100,
        "recoveryTimeout": 180,
        "idleTimeout": 1800,
        "absoluteTimeout": 86400,
        "maxActiveRequests": 10,
    }


def test_without_access_token_the_socket_closes_with_4400(gw: SandboxProcess) -> None:
    """No access_token: close code 4400, no frame."""

    async def scenario() -> tuple[aiohttp.WSMsgType, int | None]:
        async with aiohttp.ClientSession() as http, http.ws_connect(gw.ws_url) as ws:
            msg = await ws.receive(5)
            return msg.type, ws.close_code

    assert run(scenario()) == (aiohttp.WSMsgType.CLOSE, 4400)


def test_a_plain_http_get_of_the_gateway_is_a_400(gw: SandboxProcess) -> None:
    """/ws answers only WebSocket upgrades."""
    resp = requests.get(gw.ws_url.replace("ws://", "http://", 1), timeout=5)
    assert resp.status_code == 400
    assert_error_body(resp.json(), "CMN-101")


def test_forged_reused_expired_and_revoked_ws_tokens_are_refused(gw: SandboxProcess) -> None:
    """Each gets one Error frame (status 401, an OAU code) and close 1008, and no session."""
    john = as_person(gw.rest_url, "john.smith@sandbox.test", "john")
    johns_token = john.token["access_token"]

    async def refused(ws_access_token: str) -> tuple[Any, ...]:
        async with await RawSocket.open(gw.rest_url, "", ws_access_token=ws_access_token) as sock:
            header, body = await sock.read()
            kind, code = await sock.read_close()
            return header["type"], header["status"], body["errorCode"], kind, code

    async def scenario() -> list[tuple[Any, ...]]:
        async with aiohttp.ClientSession() as http:
            used = (await ws_token(http, gw.rest_url, BOT_TOKEN))["ws_access_token"]
            async with await RawSocket.open(gw.rest_url, "", ws_access_token=used) as first:
                assert (await first.read())[0]["type"] == "ConnectionDetails"
            await asyncio.to_thread(gw.control.websocket_config, wstokenLifetime=0.3)
            stale = (await ws_token(http, gw.rest_url, BOT_TOKEN))["ws_access_token"]
            await asyncio.sleep(0.4)  # the stale token's 0.3 s lifetime passes
            await asyncio.to_thread(gw.control.websocket_config, wstokenLifetime=60)
            revoked = (await ws_token(http, gw.rest_url, johns_token))["ws_access_token"]
            await asyncio.to_thread(gw.control.revoke_tokens, johns_token)
        return [await refused(t) for t in ("SBXW-forged", used, stale, revoked)]

    closed = (aiohttp.WSMsgType.CLOSE, 1008)
    assert run(scenario()) == [
        ("Error", 401, "OAU-213", *closed),
        ("Error", 401, "OAU-213", *closed),
        ("Error", 401, "OAU-128", *closed),
        ("Error", 401, "OAU-213", *closed),
    ]
    assert [s["connected"] for s in gw.control.websocket_state()["sessions"]] == [False]


def test_subscription_answer_is_the_real_one_and_notifications_follow(gw: SandboxProcess) -> None:
    """Created over the socket: the real answer's shape, no WSG-SubscriptionId; then a post."""
    john = as_person(gw.rest_url, "john.smith@sandbox.test", "john")
    chat = bot_chat(john)

    async def scenario() -> tuple[list[Any], list[Any], list[int]]:
        async with await connected(gw) as sock:
            created = await subscribe(sock, [POSTS, "/restapi/v1.0/account/~/extension/~"])
            await asyncio.to_thread(john.post, "/glip/posts", json={"groupId": chat, "text": "hi"})
            notification = await sock.read()
            await sock.send({"type": "Heartbeat", "messageId": "hb"})
            heartbeat = await sock.read()
            sequences = [f[0]["wsc"]["sequence"] for f in (created, notification, heartbeat)]
            return created, notification, sequences

    (header, body), (n_header, envelope), sequences = run(scenario())
    assert (header["type"], header["status"]) == ("ClientRequest", 200)
    assert "WSG-SubscriptionId" not in header["headers"]
    assert header["headers"]["Content-Type"].startswith("application/json")
    assert {"RCRequestId", "X-Rate-Limit-Group"} <= set(header["headers"])
    assert list(body) == [
        "uri",
        "id",
        "creationTime",
        "status",
        "eventFilters",
        "expirationTime",
        "expiresIn",
        "deliveryMode",
    ]
    assert body["uri"] == f"{SUBSCRIPTION}/{body['id']}"
    assert (body["status"], body["expiresIn"]) == ("Active", 86399)
    assert body["eventFilters"] == [POSTS, f"/restapi/v1.0/account/300000001/extension/{BOT_ID}"]
    assert body["deliveryMode"] == {"transportType": "WebSocket", "encryption": False}
    assert (n_header["type"], n_header["status"], n_header["messageId"]) == (
        "ServerNotification",
        200,
        envelope["uuid"],
    )
    assert set(envelope) == {"uuid", "event", "timestamp", "subscriptionId", "ownerId", "body"}
    assert (envelope["event"], envelope["subscriptionId"], envelope["ownerId"]) == (
        POSTS,
        body["id"],
        BOT_ID,
    )
    assert (envelope["body"]["eventType"], envelope["body"]["text"]) == ("PostAdded", "hi")
    assert sequences == [2, 3, 4]  # one per server frame, ConnectionDetails being 1


def test_a_second_create_replaces_the_first(gw: SandboxProcess) -> None:
    """One subscription per session: the first is deleted; notifications name the second."""
    bot_http = requests.Session()
    bot_http.headers["Authorization"] = f"Bearer {BOT_TOKEN}"
    john = as_person(gw.rest_url, "john.smith@sandbox.test", "john")
    chat = bot_chat(john)

    async def scenario() -> tuple[str, str, str]:
        async with await connected(gw) as sock:
            first = (await subscribe(sock))[1]["id"]
            second = (await subscribe(sock, [POSTS, GROUPS]))[1]["id"]
            await asyncio.to_thread(john.post, "/glip/posts", json={"groupId": chat, "text": "x"})
            _, envelope = await sock.read()
            return first, second, envelope["subscriptionId"]

    first, second, notified = run(scenario())
    assert first != second
    assert notified == second
    listed = bot_http.get(gw.rest_url + SUBSCRIPTION, timeout=5).json()["records"]
    assert [r["id"] for r in listed] == [second]
    assert bot_http.get(f"{gw.rest_url}{SUBSCRIPTION}/{first}", timeout=5).status_code == 404


def test_put_changes_the_filters_and_a_bodiless_delete_removes_it(gw: SandboxProcess) -> None:
    """PUT answers the new filters; DELETE (no body element) answers 204 without a body."""

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        async with await connected(gw) as sock:
            sub_id = (await subscribe(sock))[1]["id"]
            body = {"eventFilters": [GROUPS], "deliveryMode": WS_DELIVERY}
            updated = await sock.request("PUT", f"{SUBSCRIPTION}/{sub_id}", body)
            deleted = await sock.request("DELETE", f"{SUBSCRIPTION}/{sub_id}")
            again = await sock.request("GET", f"{SUBSCRIPTION}/{sub_id}")
            return updated, deleted, again

    updated, deleted, again = run(scenario())
    assert (updated[0]["status"], updated[1]["eventFilters"]) == (200, [GROUPS])
    assert len(deleted) == 1
    assert (deleted[0]["type"], deleted[0]["status"]) == ("ClientRequest", 204)
    assert again[0]["status"] == 404
    assert_error_body(again[1], "CMN-102")


def test_http_cannot_create_or_update_a_websocket_subscription(gw: SandboxProcess) -> None:
    """Over plain HTTP: create and update answer 400 CMN-101; list and read show it."""
    bot_http = requests.Session()
    bot_http.headers["Authorization"] = f"Bearer {BOT_TOKEN}"
    body = {"eventFilters": [POSTS], "deliveryMode": WS_DELIVERY}
    created = bot_http.post(gw.rest_url + SUBSCRIPTION, json=body, timeout=5)
    assert created.status_code == 400
    assert_error_body(created.json(), "CMN-101")
    assert created.json()["errors"][0]["parameterName"] == "deliveryMode.transportType"

    async def scenario() -> str:
        sock = await connected(gw)
        sub_id = str((await subscribe(sock))[1]["id"])
        updated = bot_http.put(f"{gw.rest_url}{SUBSCRIPTION}/{sub_id}", json=body, timeout=5)
        assert updated.status_code == 400
        assert_error_body(updated.json(), "CMN-101")
        await sock.close()
        return sub_id

    sub_id = run(scenario())
    shown = bot_http.get(f"{gw.rest_url}{SUBSCRIPTION}/{sub_id}", timeout=5).json()
    assert shown["deliveryMode"] == {"transportType": "WebSocket", "encryption": False}


def test_a_heartbeat_is_answered_in_kind(gw: SandboxProcess) -> None:
    """[{"type":"Heartbeat","messageId"}] gets a Heartbeat frame with status, headers and wsc."""

    async def scenario() -> list[Any]:
        async with await connected(gw) as sock:
            await sock.send({"type": "Heartbeat", "messageId": "hb-1"})
            return await sock.read()

    [header] = run(scenario())
    assert (header["type"], header["messageId"], header["status"]) == ("Heartbeat", "hb-1", 200)
    assert header["wsc"]["sequence"] == 2
    assert "RCRequestId" in header["headers"]
    assert gw.control.websocket_state()["sessions"][0]["heartbeats"] == 1


def test_rest_over_the_socket_goes_through_the_rest_api(gw: SandboxProcess) -> None:
    """GET, POST with a body and a query, an error answer: as HTTP answers them, recorded."""
    john = as_person(gw.rest_url, "john.smith@sandbox.test", "john")
    chat = bot_chat(john)
    gw.control.clear_requests()

    async def scenario() -> list[list[Any]]:
        async with await connected(gw) as sock:
            return [
                await sock.request("GET", "/restapi/v1.0/glip/persons/~"),
                await sock.request("POST", POSTS, {"groupId": chat, "text": "from the socket"}),
                await sock.request("GET", POSTS, query={"groupId": chat, "recordCount": 1}),
                await sock.request("GET", "/restapi/v1.0/glip/groups/123456"),
            ]

    person, posted, listed, missing = run(scenario())
    assert (person[0]["status"], person[1]["id"]) == (200, BOT_ID)
    assert person[0]["headers"]["X-Rate-Limit-Group"] == "Light"
    assert (posted[0]["status"], posted[1]["creatorId"]) == (200, BOT_ID)
    assert [p["text"] for p in listed[1]["records"]] == ["from the socket"]
    assert (missing[0]["type"], missing[0]["status"]) == ("ClientRequest", 404)
    assert_error_body(missing[1], "CMN-102")
    texts = [p["text"] for p in john.get("/glip/posts", params={"groupId": chat}).json()["records"]]
    assert texts == ["from the socket"]
    recorded = gw.control.requests(path="/restapi/v1.0/glip/*")
    assert [(r["method"], r["path"], r["who"]) for r in recorded if r["who"] == BOT_ID] == [
        ("GET", "/restapi/v1.0/glip/persons/~", BOT_ID),
        ("POST", POSTS, BOT_ID),
        ("GET", POSTS, BOT_ID),
        ("GET", "/restapi/v1.0/glip/groups/123456", BOT_ID),
    ]


def test_faults_apply_to_calls_over_the_socket(gw: SandboxProcess) -> None:
    """A control-API fault on a path answers over the socket as over HTTP: 503 CMN-211."""
    gw.control.fail("GET", "/restapi/v1.0/glip/persons/*", status=503, retry_after=2)

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with await connected(gw) as sock:
            failed = await sock.request("GET", "/restapi/v1.0/glip/persons/~")
            return failed, await sock.request("GET", "/restapi/v1.0/glip/persons/~")

    failed, fine = run(scenario())
    assert (failed[0]["type"], failed[0]["status"]) == ("ClientRequest", 503)
    assert failed[0]["headers"]["Retry-After"] == "2"
    assert_error_body(failed[1], "CMN-211")
    assert fine[0]["status"] == 200


@pytest.mark.parametrize(
    "path", ["/restapi/oauth/token", "/restapi/v1.0/../oauth/revoke", "/sandbox/reset", "/ws"]
)
def test_oauth_and_non_api_paths_are_refused_over_the_socket(gw: SandboxProcess, path: str) -> None:
    """An Error frame WSG-805 with the request's messageId; nothing is called."""

    async def scenario() -> list[Any]:
        async with await connected(gw) as sock:
            return await sock.request("POST", path, {})

    header, body = run(scenario())
    assert (header["type"], header["status"], body["errorCode"]) == ("Error", 400, "WSG-805")
    assert [r["path"] for r in gw.control.requests()] == ["/restapi/oauth/wstoken"]


def test_rest_over_the_socket_counts_in_the_same_rate_limit_bucket() -> None:
    """With Light=3: two HTTP calls and one over the socket pass, the next gets 429 on both."""
    with SandboxProcess("--rate-limit", "Light=3") as sb:
        bot_http = requests.Session()
        bot_http.headers["Authorization"] = f"Bearer {BOT_TOKEN}"
        persons = sb.rest_url + "/restapi/v1.0/glip/persons/~"
        assert [bot_http.get(persons, timeout=5).status_code for _ in range(2)] == [200, 200]

        async def scenario() -> list[list[Any]]:
            async with await connected(sb) as sock:
                return [await sock.request("GET", "/restapi/v1.0/glip/persons/~") for _ in range(2)]

        allowed, limited = run(scenario())
        assert bot_http.get(persons, timeout=5).status_code == 429
    assert (allowed[0]["status"], allowed[0]["headers"]["X-Rate-Limit-Remaining"]) == (200, "0")
    assert (limited[0]["type"], limited[0]["status"]) == ("ClientRequest", 429)
    assert limited[0]["headers"]["Retry-After"] == "60"
    assert_error_body(limited[1], "CMN-301")


def test_bad_frames_get_error_frames_and_the_socket_stays_open(gw: SandboxProcess) -> None:
    """Not JSON, not an array, unknown type, null body, binary...: an Error each, then it works."""
    frames = [
        "not json",
        json.dumps({"type": "Heartbeat"}),
        json.dumps([]),
        json.dumps([{"type": "ServerNotification", "messageId": "m-type"}]),
        json.dumps(
            [
                {
                    "type": "ClientRequest",
                    "messageId": "m-null",
                    "method": "DELETE",
                    "path": SUBSCRIPTION + "/x",
                },
                None,
            ]
        ),
        json.dumps([{"type": "ClientRequest", "messageId": "m-method", "path": POSTS}]),
    ]

    async def scenario() -> tuple[list[tuple[str, str | None]], list[Any]]:
        async with await connected(gw) as sock:
            seen = []
            for text in frames:
                await sock.ws.send_str(text)
                header, body = await sock.read()
                assert (header["type"], header["status"]) == ("Error", 400)
                seen.append((body["errorCode"], header["messageId"]))
            await sock.ws.send_bytes(b"\x00binary")
            header, body = await sock.read()
            seen.append((body["errorCode"], None))
            return seen, await sock.request("GET", "/restapi/v1.0/glip/persons/~")

    seen, answer = run(scenario())
    codes = [code for code, _ in seen]
    assert codes == ["WSG-801", "WSG-802", "WSG-802", "WSG-803", "WSG-808", "WSG-804", "WSG-801"]
    assert [m for _, m in seen[3:6]] == ["m-type", "m-null", "m-method"]
    assert answer[0]["status"] == 200


def test_idle_sockets_get_wsg_902_but_heartbeats_keep_them_open(gw: SandboxProcess) -> None:
    """Idle 1 s: pings do not count (WSG-902 then close 1000); a Heartbeat every 0.3 s does."""
    gw.control.websocket_config(idleTimeout=1)

    async def pinging(sock: RawSocket, started: float) -> tuple[Any, ...]:
        while True:
            await sock.ws.ping()
            try:
                header, body = await sock.read(0.3)
            except TimeoutError:
                continue
            kind, code = await sock.read_close()
            return header["type"], body["errorCode"], kind, code, time.monotonic() - started

    async def heartbeating(sock: RawSocket) -> int:
        for _ in range(10):  # 3 s, three times the idle timeout
            await sock.send({"type": "Heartbeat", "messageId": "hb"})
            assert (await sock.read())[0]["type"] == "Heartbeat"
            await asyncio.sleep(0.3)
        return 10

    async def scenario() -> tuple[tuple[Any, ...], int, list[bool]]:
        started = time.monotonic()
        async with await connected(gw) as idle, await connected(gw) as alive:
            ended, beats = await asyncio.gather(pinging(idle, started), heartbeating(alive))
            sessions = (await asyncio.to_thread(gw.control.websocket_state))["sessions"]
            return ended, beats, sorted(s["connected"] for s in sessions)

    (kind, code, close, close_code, after), beats, connected_states = run(scenario())
    assert (kind, code, close, close_code) == ("Error", "WSG-902", aiohttp.WSMsgType.CLOSE, 1000)
    assert 1.0 <= after < 2.5
    assert beats == 10
    assert connected_states == [False, True]  # the idle one's session waits for a recovery


def test_old_sockets_get_wsg_903(gw: SandboxProcess) -> None:
    """Absolute timeout 1 s: heartbeats do not help; Error WSG-903, then close 1000."""
    gw.control.websocket_config(absoluteTimeout=1)

    async def scenario() -> tuple[Any, ...]:
        async with await connected(gw) as sock:
            started = time.monotonic()
            while True:
                with contextlib.suppress(ConnectionResetError):  # the server may be closing
                    await sock.send({"type": "Heartbeat", "messageId": "hb"})
                frame = await sock.read()
                if frame[0]["type"] == "Error":
                    kind, code = await sock.read_close()
                    return frame[1]["errorCode"], kind, code, time.monotonic() - started
                await asyncio.sleep(0.2)

    code, kind, close_code, after = run(scenario())
    assert (code, kind, close_code) == ("WSG-903", aiohttp.WSMsgType.CLOSE, 1000)
    assert after < 2.0
