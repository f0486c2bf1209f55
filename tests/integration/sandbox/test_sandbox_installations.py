"""The sandbox plays many accounts and installs its bot the way RingCentral does (BOTS.md).

A tiny HTTP server on a free loopback port plays the app's redirect URI.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devtools.sandbox_process import SandboxProcess
from sandbox.crypto import decrypt_notification
from sandbox.testing import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Person,
    as_person,
)
from tests.support.openapi import assert_error_body, assert_response, throttling_group
from tests.support.pubnub_sdk import subscribed
from tests.support.raw_socket import RawSocket

EXTENSION = "/restapi/v1.0/account/~/extension/~"
POSTS = "/restapi/v1.0/glip/posts"
SEED_ACCOUNT = "300000001"
SEED_BOT = "400000001"
JOHN = "400000002"


class Receiver:
    """An app's redirect URI: records each request, answers ``status`` (200) with no body."""

    def __init__(self) -> None:
        self.requests: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                split = urlsplit(self.path)
                receiver.requests.put(
                    {
                        "method": self.command,
                        "path": split.path,
                        "query": {k: v[0] for k, v in parse_qs(split.query).items()},
                        "content_type": self.headers.get("Content-Type", ""),
                        "body": self.rfile.read(length) if length else b"",
                    }
                )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/bot/oauth"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def take(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next request the redirect URI received."""
        return self.requests.get(timeout=timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A redirect URI on a free port, stopped after the test."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def inst(gw: SandboxProcess) -> SandboxProcess:
    """The shared sandbox from its seed state (conftest's ``gw``: reset, no error logged)."""
    return gw


def install_private(sb: SandboxProcess, receiver: Receiver, people: int = 2) -> tuple[dict, str]:
    """A private install; its answer and the bot token the redirect URI received."""
    done = sb.control.install("private", receiver.url, people)
    got = receiver.take()
    return done, str(json.loads(got["body"])["access_token"])


def exchange(sb: SandboxProcess, code: str, redirect_uri: str) -> requests.Response:
    """The public bot's code exchange at the token endpoint."""
    return requests.post(
        sb.rest_url + "/restapi/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=10,
    )


def bearer(sb: SandboxProcess, bot_id: str, token: str) -> Person:
    return Person(sb.rest_url, {"owner_id": bot_id, "access_token": token})


# private installs


def test_private_install_posts_the_token_and_the_token_reads_its_bot_extension(
    inst: SandboxProcess, receiver: Receiver
) -> None:
    """201 with the new account, bot and people; then a JSON POST with a permanent token
    that reads the bot's own extension (type Bot, its account), as the spec shapes it."""
    done, token = install_private(inst, receiver, people=3)
    account, bot_id = done["account_id"], done["bot_id"]
    assert account.isdigit()
    assert account != SEED_ACCOUNT
    assert int(bot_id) > 400000005
    assert [p["username"] for p in done["people"]] == [
        f"user{i}@acc{account}.sandbox.test" for i in (1, 2, 3)
    ]
    assert done["creator_extension_id"] == done["people"][0]["id"]

    installed = inst.control.wait_installation(bot_id)
    assert (installed["state"], installed["kind"]) == ("installed", "private")
    assert (installed["redirect"]["status"], installed["redirect"]["error"]) == (200, None)

    bot = bearer(inst, bot_id, token)
    resp = bot.get("/account/~/extension/~")
    assert resp.status_code == 200, resp.text
    ext = resp.json()
    assert_response(ext, "readExtension", "default")
    assert resp.headers["X-Rate-Limit-Group"] == throttling_group("readExtension")
    assert (ext["id"], ext["type"], ext["status"]) == (int(bot_id), "Bot", "Enabled")
    assert ext["account"]["id"] == account
    assert ext["uri"].endswith(f"/restapi/v1.0/account/{account}/extension/{bot_id}")
    assert {"extensionNumber", "name"} <= ext.keys()
    assert bot.get(f"/account/{account}/extension/{bot_id}").json() == ext
    other = bot.get(f"/account/{SEED_ACCOUNT}/extension/{JOHN}")
    assert other.status_code == 403
    assert_error_body(other.json(), "CMN-404")
    assert bot.get("/glip/persons/~").json()["companyId"] == account


def test_the_private_post_carries_creator_and_app(inst: SandboxProcess, receiver: Receiver) -> None:
    """The POST body has exactly the four fields chatbot-js records; creator = first person."""
    done = inst.control.install("private", receiver.url)
    got = receiver.take()
    assert (got["method"], got["path"], got["content_type"]) == (
        "POST",
        "/bot/oauth",
        "application/json",
    )
    body = json.loads(got["body"])
    assert set(body) == {"access_token", "creator_extension_id", "creator_account_id", "client_id"}
    assert body["creator_extension_id"] == done["people"][0]["id"]
    assert (body["creator_account_id"], body["client_id"]) == (
        done["account_id"],
        DEFAULT_CLIENT_ID,
    )


def test_a_private_install_can_post_a_form(inst: SandboxProcess, receiver: Receiver) -> None:
    """``encoding: form`` sends the same fields form-encoded (chatbot-python's reading)."""
    done = inst.control.install("private", receiver.url, encoding="form")
    got = receiver.take()
    assert got["content_type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(got["body"].decode()).items()}
    assert form["creator_account_id"] == done["account_id"]


def test_people_log_in_and_read_their_user_extension(
    inst: SandboxProcess, receiver: Receiver
) -> None:
    """An installed account's people log in with the given username and password."""
    done = inst.control.install("private", receiver.url)
    first = done["people"][0]
    person = as_person(inst.rest_url, first["username"], first["password"])
    ext = person.get("/account/~/extension/~").json()
    assert (ext["id"], ext["type"], ext["account"]["id"]) == (
        int(first["id"]),
        "User",
        done["account_id"],
    )


# public installs


def test_public_install_sends_a_code_that_exchanges_once(
    inst: SandboxProcess, receiver: Receiver
) -> None:
    """GET ?code&creator_extension_id; the code gives the bot's permanent token once."""
    done = inst.control.install("public", receiver.url)
    got = receiver.take()
    assert (got["method"], got["path"], got["body"]) == ("GET", "/bot/oauth", b"")
    assert set(got["query"]) == {"code", "creator_extension_id"}
    assert got["query"]["creator_extension_id"] == done["people"][0]["id"]
    assert inst.control.wait_installation(done["bot_id"])["state"] == "installed"

    first = exchange(inst, got["query"]["code"], receiver.url)
    assert first.status_code == 200, first.text
    token = first.json()
    assert set(token) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "owner_id",
        "endpoint_id",
    }
    assert (token["token_type"], token["expires_in"], token["owner_id"]) == (
        "bearer",
        2147483647,
        done["bot_id"],
    )
    again = exchange(inst, got["query"]["code"], receiver.url)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert again.json()["errors"][0]["errorCode"] == "OAU-106"

    ext = bearer(inst, done["bot_id"], token["access_token"]).get("/account/~/extension/~")
    assert (ext.json()["id"], ext.json()["type"]) == (int(done["bot_id"]), "Bot")


def test_another_redirect_uri_is_oau_109_and_leaves_the_code_usable(
    inst: SandboxProcess, receiver: Receiver
) -> None:
    """The exchange must name the install's redirect URI; a wrong one does not use the code."""
    inst.control.install("public", receiver.url)
    code = receiver.take()["query"]["code"]
    wrong = exchange(inst, code, receiver.url + "/other")
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0] == {
        "errorCode": "OAU-109",
        "message": "Redirect URIs do not match",
    }
    assert exchange(inst, code, receiver.url).status_code == 200


def test_unknown_and_expired_codes_are_refused(inst: SandboxProcess, receiver: Receiver) -> None:
    """An unknown code is OAU-106; a code past its lifetime is OAU-108."""
    unknown = exchange(inst, "SBXC-never-issued", receiver.url)
    assert unknown.json()["errors"][0]["errorCode"] == "OAU-106"

    inst.control.installation_config(auth_code_lifetime=0.3)
    inst.control.install("public", receiver.url)
    code = receiver.take()["query"]["code"]
    time.sleep(0.4)  # past the code's known deadline
    expired = exchange(inst, code, receiver.url)
    assert expired.status_code == 400
    assert expired.json()["errors"][0]["errorCode"] == "OAU-108"


def test_a_failing_or_unreachable_redirect_uri_is_recorded(
    inst: SandboxProcess, receiver: Receiver
) -> None:
    """A 500 from the app, or no server at all: state ``failed`` with the reason."""
    receiver.status = 500
    answered = inst.control.install("private", receiver.url)
    shown = inst.control.wait_installation(answered["bot_id"])
    assert (shown["state"], shown["redirect"]["status"]) == ("failed", 500)
    assert "500" in shown["redirect"]["error"]

    closed = Receiver()
    closed.close()  # nothing listens on its port any more
    gone = inst.control.install("public", closed.url)
    shown = inst.control.wait_installation(gone["bot_id"])
    assert (shown["state"], shown["redirect"]["status"]) == ("failed", None)
    assert shown["redirect"]["error"]
    assert "code=***" in shown["redirect"]["url"]


def test_bad_install_requests_answer_400(inst: SandboxProcess) -> None:
    """Kind, redirect URI and people are checked; unknown bots are 404."""
    url = inst.control_url + "/installations"
    for body, code in [
        ({"redirect_uri": "http://127.0.0.1:9/x"}, "CMN-100"),
        ({"kind": "team", "redirect_uri": "http://127.0.0.1:9/x"}, "CMN-101"),
        ({"kind": "public"}, "CMN-100"),
        ({"kind": "public", "redirect_uri": "ftp://x/y"}, "CMN-101"),
        ({"kind": "public", "redirect_uri": "http://127.0.0.1:9/x", "people": 51}, "CMN-101"),
        ({"kind": "public", "redirect_uri": "http://127.0.0.1:9/x", "people": 0}, "CMN-101"),
    ]:
        resp = requests.post(url, json=body, timeout=10)
        assert resp.status_code == 400, body
        assert_error_body(resp.json(), code)
    assert requests.get(url + "/999999999", timeout=10).status_code == 404
    assert requests.delete(url + "/999999999", timeout=10).status_code == 404
    assert inst.control.installations() == []


# accounts are isolated


def test_people_see_only_their_own_account(inst: SandboxProcess, receiver: Receiver) -> None:
    """Chats, posts and people of account A are invisible to account B and to the seed's."""
    a = inst.control.install("private", receiver.url)
    b = inst.control.install("private", receiver.url)
    a1, a2 = (as_person(inst.rest_url, p["username"], p["password"]) for p in a["people"])
    b1 = as_person(inst.rest_url, b["people"][0]["username"], b["people"][0]["password"])
    john = as_person(inst.rest_url, "john.smith@sandbox.test", "john")
    team = a1.post("/glip/groups", json={"type": "Team", "name": "A", "members": [a2.id]}).json()
    assert a1.post("/glip/posts", json={"groupId": team["id"], "text": "a"}).status_code == 200

    for outsider in (b1, john):
        assert outsider.get(f"/glip/groups/{team['id']}").status_code == 404
        assert outsider.get("/glip/posts", params={"groupId": team["id"]}).status_code == 404
        posted = outsider.post("/glip/posts", json={"groupId": team["id"], "text": "x"})
        assert posted.status_code == 404
        listed = outsider.get("/glip/groups").json()["records"]
        assert team["id"] not in {g["id"] for g in listed}
        person = outsider.get(f"/glip/persons/{a1.id}")
        assert person.status_code == 403
        assert_error_body(person.json(), "CMN-403")
        chat = outsider.post("/glip/groups", json={"type": "PrivateChat", "members": [a1.id]})
        assert chat.status_code == 403
        assert_error_body(chat.json(), "CMN-403")
        bot_chat = outsider.post("/glip/groups", json={"type": "Team", "members": [a["bot_id"]]})
        assert bot_chat.status_code == 403
    b_team = b1.post("/glip/groups", json={"type": "Team", "name": "B"}).json()
    assigned = b1.post(f"/glip/groups/{b_team['id']}/bulk-assign", json={"addedPersonIds": [a1.id]})
    assert assigned.status_code == 403
    assert a1.get(f"/glip/persons/{JOHN}").status_code == 403
    assert a1.get(f"/glip/persons/{a2.id}").json()["companyId"] == a["account_id"]


def test_a_bot_hears_only_its_own_accounts_chats(inst: SandboxProcess, receiver: Receiver) -> None:
    """B's post in a chat with B's bot reaches B's bot only; A's bot gets just A's post."""
    inst.control.set_not_ready_window(0)
    a, a_token = install_private(inst, receiver)
    b, _ = install_private(inst, receiver)
    bot_a = bearer(inst, a["bot_id"], a_token)
    sub = bot_a.post(
        "/subscription",
        json={"eventFilters": [POSTS], "deliveryMode": {"transportType": "PubNub"}},
    ).json()
    mode = sub["deliveryMode"]
    a1 = as_person(inst.rest_url, a["people"][0]["username"], a["people"][0]["password"])
    b1 = as_person(inst.rest_url, b["people"][0]["username"], b["people"][0]["password"])
    a_chat = a1.post("/glip/groups", json={"type": "PrivateChat", "members": [a["bot_id"]]})
    b_chat = b1.post("/glip/groups", json={"type": "PrivateChat", "members": [b["bot_id"]]})

    async def scenario() -> dict[str, Any]:
        async with subscribed(inst.pubnub_origin, mode["subscriberKey"], mode["address"]) as got:
            body = {"groupId": b_chat.json()["id"], "text": "for B"}
            await asyncio.to_thread(b1.post, "/glip/posts", json=body)
            body = {"groupId": a_chat.json()["id"], "text": "for A"}
            await asyncio.to_thread(a1.post, "/glip/posts", json=body)
            [first] = await got.take(1)  # B's post came first: had it been sent, it is this
            return dict(decrypt_notification(mode["encryptionKey"], first.message))

    event = asyncio.run(scenario())
    assert (event["ownerId"], event["body"]["text"]) == (a["bot_id"], "for A")


# the "not ready" window


def test_a_new_bot_subscribes_after_sub_406_for_the_window(
    inst: SandboxProcess, receiver: Receiver
) -> None:
    """Right after the install, creating a subscription is 403 SUB-406; retried, it works."""
    inst.control.set_not_ready_window(3)
    done, token = install_private(inst, receiver)
    bot = bearer(inst, done["bot_id"], token)
    request = {"eventFilters": [POSTS, EXTENSION], "deliveryMode": {"transportType": "PubNub"}}
    first = bot.post("/subscription", json=request)
    assert first.status_code == 403
    assert_error_body(first.json(), "SUB-406")
    assert "other account" in first.json()["message"]
    assert inst.control.installation(done["bot_id"])["ready"] is False

    deadline = time.monotonic() + 10
    while (resp := bot.post("/subscription", json=request)).status_code == 403:
        assert resp.json()["errorCode"] == "SUB-406"
        assert time.monotonic() < deadline, "still SUB-406 after 10 s"
        time.sleep(0.1)  # a client's retry interval
    assert resp.status_code == 200, resp.text
    assert inst.control.installation(done["bot_id"])["ready"] is True


def test_a_filter_of_another_account_is_sub_406(inst: SandboxProcess, receiver: Receiver) -> None:
    """Subscribing to the extension events of another account is refused."""
    inst.control.set_not_ready_window(0)
    _, token = install_private(inst, receiver)
    bot = bearer(inst, "0", token)
    resp = bot.post(
        "/subscription",
        json={
            "eventFilters": [f"/restapi/v1.0/account/{SEED_ACCOUNT}/extension/{SEED_BOT}"],
            "deliveryMode": {"transportType": "PubNub"},
        },
    )
    assert resp.status_code == 403
    assert_error_body(resp.json(), "SUB-406")


# uninstall


def test_uninstall_sends_delete_over_pubnub_and_websocket_then_the_token_is_gone(
    inst: SandboxProcess, receiver: Receiver
) -> None:
    """Delete reaches both subscriptions of the extension filter; then every call with the
    bot's token answers 401 OAU-232, and the bot has no subscription left."""
    inst.control.set_not_ready_window(0)
    done, token = install_private(inst, receiver)
    bot_id = done["bot_id"]
    bot = bearer(inst, bot_id, token)
    sub = bot.post(
        "/subscription",
        json={"eventFilters": [POSTS, EXTENSION], "deliveryMode": {"transportType": "PubNub"}},
    ).json()
    mode = sub["deliveryMode"]

    async def scenario() -> tuple[dict[str, Any], list[Any], dict[str, Any], list[Any], str]:
        async with (
            await RawSocket.open(inst.rest_url, token) as sock,
            subscribed(inst.pubnub_origin, mode["subscriberKey"], mode["address"]) as got,
        ):
            await sock.read()  # ConnectionDetails
            [_, ws_sub] = await sock.subscribe([EXTENSION])
            removed = await asyncio.to_thread(inst.control.uninstall, bot_id)
            [message] = await got.take(1)
            while (frame := await sock.read())[0]["type"] != "ServerNotification":
                pass
            after = await sock.request("GET", "/restapi/v1.0/account/~/extension/~")
            return removed, frame, ws_sub, after, message.message

    removed, (header, ws_event), ws_sub, after, ciphertext = asyncio.run(scenario())
    assert removed == {
        "bot_id": bot_id,
        "account_id": done["account_id"],
        "kind": "private",
        "state": "uninstalled",
        "delete_notifications": 2,
        "subscriptions_deleted": 2,
        "tokens_revoked": 1,
    }
    pubnub_event = decrypt_notification(mode["encryptionKey"], ciphertext)
    for event, sub_id in ((pubnub_event, sub["id"]), (ws_event, ws_sub["id"])):
        assert event["event"] == f"/restapi/v1.0/account/~/extension/{bot_id}"
        assert (event["ownerId"], event["subscriptionId"]) == (bot_id, sub_id)
        assert event["body"] == {"extensionId": bot_id, "eventType": "Delete"}
    assert header["messageId"] == ws_event["uuid"]
    assert (after[0]["status"], after[1]["errorCode"]) == (401, "OAU-232")

    for call in (
        lambda: bot.get("/account/~/extension/~"),
        lambda: bot.get("/subscription"),
        lambda: bot.post("/glip/posts", json={"groupId": "1", "text": "x"}),
    ):
        resp = call()
        assert resp.status_code == 401
        assert_error_body(resp.json(), "OAU-232")
        assert resp.json()["message"] == "Extension not found"
    assert inst.control.installation(bot_id)["state"] == "uninstalled"
    assert all(s["ownerId"] != bot_id for s in inst.control.state()["subscriptions"])
    john = as_person(inst.rest_url, done["people"][0]["username"], done["people"][0]["password"])
    assert john.get(f"/glip/persons/{bot_id}").status_code == 404


def test_a_removed_bot_can_answer_cmn_405_and_the_seed_bot_can_be_removed(
    inst: SandboxProcess,
) -> None:
    """``removedErrorCode`` switches to CMN-405; the seed's bot uninstalls too; reset
    brings it back."""
    inst.control.installation_config(removed_error_code="CMN-405")
    seed_bot = bearer(inst, SEED_BOT, "sandbox-bot-token-smartfriend")
    assert seed_bot.get("/account/~/extension/~").json()["type"] == "Bot"
    removed = inst.control.uninstall(SEED_BOT)
    assert (removed["kind"], removed["account_id"]) == ("seed", SEED_ACCOUNT)
    resp = seed_bot.get("/account/~/extension/~")
    assert resp.status_code == 401
    assert_error_body(resp.json(), "CMN-405")
    inst.control.reset()
    assert seed_bot.get("/account/~/extension/~").status_code == 200


def test_a_bot_reinstalled_in_its_account_gets_a_new_id(
    inst: SandboxProcess, receiver: Receiver
) -> None:
    """After an uninstall, installing into the same account makes a new bot extension."""
    first = inst.control.install("public", receiver.url)
    inst.control.uninstall(first["bot_id"])
    again = inst.control.install("public", receiver.url, 0, account_id=first["account_id"])
    assert again["account_id"] == first["account_id"]
    assert int(again["bot_id"]) > int(first["bot_id"])
    assert [p["id"] for p in again["people"]] == [p["id"] for p in first["people"]]
    twice = requests.post(
        inst.control_url + "/installations",
        json={"kind": "public", "redirect_uri": receiver.url, "account_id": first["account_id"]},
        timeout=10,
    )
    assert twice.status_code == 400  # one bot per account


# many installations


def test_two_hundred_installs_then_reset_clears_them(
    inst: SandboxProcess, receiver: Receiver
) -> None:
    """200 installations in a row all get their own account and bot; reset forgets them."""
    done = [inst.control.install("public", receiver.url, 1) for _ in range(200)]
    assert len({d["bot_id"] for d in done}) == 200
    assert len({d["account_id"] for d in done}) == 200
    listed = inst.control.installations()
    assert [i["bot_id"] for i in listed] == [d["bot_id"] for d in done]
    assert inst.control.state()["accounts"] == 201
    last = done[-1]["people"][0]

    inst.control.reset()
    assert inst.control.installations() == []
    assert inst.control.state()["accounts"] == 1
    login = requests.post(
        inst.rest_url + "/restapi/oauth/token",
        data={"grant_type": "password", "username": last["username"], "password": last["password"]},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=10,
    )
    assert login.status_code == 400
