"""``POST /sandbox/posts/flood`` makes posts as ``POST /glip/posts`` does, fast or at a rate.

John floods his private chat with the bot; the bot listens over the real PubNub SDK or a
raw WebSocket (:class:`tests.support.raw_socket.RawSocket`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
import requests

from devtools.sandbox_process import SandboxProcess
from sandbox.crypto import decrypt_notification
from sandbox.testing import BOT_TOKEN, Person, as_person
from tests.support.openapi import assert_error_body
from tests.support.pubnub_sdk import subscribe, subscribed
from tests.support.raw_socket import RawSocket

pytestmark = pytest.mark.integration

BOT_ID = "400000001"
JOHN_ID = "400000002"
TEAM = "500000001"  # the four humans, not the bot
POSTS = "/restapi/v1.0/glip/posts"


def bot_chat(john: Person) -> str:
    """The id of John's private chat with the bot."""
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [{"id": BOT_ID}]})
    return str(chat.json()["id"])


def bot_of(sb: SandboxProcess) -> Person:
    return Person(sb.rest_url, {"owner_id": BOT_ID, "access_token": BOT_TOKEN})


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def all_posts(person: Person, chat: str) -> list[dict[str, Any]]:
    """Every post of ``chat`` through the REST API, newest first, following the pages."""
    found: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"groupId": chat, "recordCount": 250}
    while True:
        page = person.get("/glip/posts", params=params).json()
        found += page["records"]
        token = page["navigation"].get("nextPageToken")
        if token is None:
            return found
        params["pageToken"] = token


def test_flooded_posts_are_stored_and_readable_as_posted_ones(
    gw: SandboxProcess, john: Person
) -> None:
    """Given John's chat, when 300 posts are flooded, then the REST API lists all 300,
    newest first, shaped as a post made over REST, and the sandbox counts them."""
    chat = bot_chat(john)
    posted = john.post("/glip/posts", json={"groupId": chat, "text": "by hand"}).json()

    answer = gw.control.flood(chat, "john.smith@sandbox.test", 300, text="load {n}")

    assert answer["created"] == 300
    assert answer["seconds"] >= 0
    listed = all_posts(john, chat)
    assert [p["text"] for p in listed] == [f"load {n}" for n in range(300, 0, -1)] + ["by hand"]
    assert (listed[0]["id"], listed[299]["id"]) == (answer["lastPostId"], answer["firstPostId"])
    assert {p["creatorId"] for p in listed} == {JOHN_ID}
    one = john.get(f"/glip/chats/{chat}/posts/{answer['firstPostId']}").json()
    assert set(one) == set(posted)
    assert (one["type"], one["groupId"]) == ("TextMessage", chat)
    assert gw.control.state()["posts"] == 301


def test_each_flooded_post_reaches_a_pubnub_subscriber_as_post_added(
    gw: SandboxProcess, john: Person
) -> None:
    """The bot's encrypted PubNub subscription gets one PostAdded per flooded post, in order."""
    chat = bot_chat(john)
    mode = subscribe(bot_of(gw))["deliveryMode"]
    # Fewer than the 100 messages a PubNub channel keeps: a reader never falls behind them.
    count = 40

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with subscribed(gw.pubnub_origin, mode["subscriberKey"], mode["address"]) as got:
            answer = await asyncio.to_thread(gw.control.flood, chat, JOHN_ID, count)
            messages = await got.take(count, timeout=10)
            return answer, [
                decrypt_notification(mode["encryptionKey"], m.message) for m in messages
            ]

    answer, events = asyncio.run(scenario())

    assert answer["created"] == count
    bodies = [e["body"] for e in events]
    assert {b["eventType"] for b in bodies} == {"PostAdded"}
    assert [b["text"] for b in bodies] == [f"flood {n}" for n in range(1, count + 1)]
    assert (bodies[0]["id"], bodies[-1]["id"]) == (answer["firstPostId"], answer["lastPostId"])
    assert {(b["groupId"], b["creatorId"]) for b in bodies} == {(chat, JOHN_ID)}


def test_each_flooded_post_reaches_a_websocket_subscriber_as_post_added(
    gw: SandboxProcess, john: Person
) -> None:
    """The bot's WebSocket subscription gets one PostAdded notification per flooded post."""
    chat = bot_chat(john)
    count = 150  # the gateway queues every frame: more than PubNub keeps is fine

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with await RawSocket.open(gw.rest_url, BOT_TOKEN) as sock:
            header, _ = await sock.read()
            assert header["type"] == "ConnectionDetails"
            created, _ = await sock.subscribe([POSTS])
            assert created["status"] == 200
            answer = await asyncio.to_thread(gw.control.flood, chat, JOHN_ID, count)
            frames = [await sock.read(timeout=10) for _ in range(count)]
            assert {f[0]["type"] for f in frames} == {"ServerNotification"}
            return answer, [f[1] for f in frames]

    answer, envelopes = asyncio.run(scenario())

    assert answer["created"] == count
    bodies = [e["body"] for e in envelopes]
    assert {(e["event"], e["ownerId"]) for e in envelopes} == {(POSTS, BOT_ID)}
    assert {b["eventType"] for b in bodies} == {"PostAdded"}
    assert [b["text"] for b in bodies] == [f"flood {n}" for n in range(1, count + 1)]


def test_a_rate_spreads_the_posts_over_time(gw: SandboxProcess, john: Person) -> None:
    """At 10 posts/s, 20 posts span about 1.9 s (post i at i/10 s): never all at once."""
    chat = bot_chat(john)

    answer = gw.control.flood(chat, JOHN_ID, 20, rate=10)

    assert answer["created"] == 20
    times = sorted(epoch(p["creationTime"]) for p in all_posts(john, chat))
    # Generous bounds below the schedule only: a busy machine may be slower, never faster.
    assert times[-1] - times[0] >= 1.5
    assert times[9] - times[0] >= 0.6
    assert answer["seconds"] >= 1.5


def test_flood_as_a_person_by_email_or_id_makes_them_the_creator(gw: SandboxProcess) -> None:
    """``personId`` is an id or an email; the posts are that person's."""
    jane = as_person(gw.rest_url, "jane.doe@sandbox.test", "jane")
    gw.control.flood(TEAM, "400000003", 2)
    gw.control.flood(TEAM, "jane.doe@sandbox.test", 1)
    assert [p["creatorId"] for p in all_posts(jane, TEAM)] == ["400000003"] * 3


@pytest.mark.parametrize(
    ("change", "code", "parameter"),
    [
        ({"groupId": None}, "CMN-100", "groupId"),
        ({"groupId": "600999999"}, "CMN-101", "groupId"),
        ({"personId": None}, "CMN-100", "personId"),
        ({"personId": "499999999"}, "CMN-101", "personId"),
        ({"personId": "nobody@sandbox.test"}, "CMN-101", "personId"),
        ({"personId": BOT_ID}, "CMN-101", "personId"),  # not a member of the Team
        ({"count": None}, "CMN-100", "count"),
        ({"count": 0}, "CMN-101", "count"),
        ({"count": 100_001}, "CMN-101", "count"),
        ({"count": "10"}, "CMN-101", "count"),
        ({"count": True}, "CMN-101", "count"),
        ({"rate": 0}, "CMN-101", "rate"),
        ({"rate": -5}, "CMN-101", "rate"),
        ({"rate": "fast"}, "CMN-101", "rate"),
        ({"text": ""}, "CMN-100", "text"),
        ({"text": 7}, "CMN-101", "text"),
        ({"text": "x" * 10_001}, "CMN-101", "text"),
    ],
)
def test_a_bad_flood_is_refused_400_and_makes_nothing(
    gw: SandboxProcess, change: dict[str, Any], code: str, parameter: str
) -> None:
    """Each bad field answers 400 with the classic body naming it; no post is made."""
    body = {"groupId": TEAM, "personId": JOHN_ID, "count": 3, **change}
    body = {k: v for k, v in body.items() if v is not None}

    resp = requests.post(f"{gw.control_url}/posts/flood", json=body, timeout=5)

    assert resp.status_code == 400
    assert_error_body(resp.json(), code)
    assert resp.json()["errors"][0]["parameterName"] == parameter
    assert gw.control.state()["posts"] == 0


def test_the_client_raises_on_a_refused_flood(gw: SandboxProcess) -> None:
    """SandboxControl.flood raises requests' HTTPError on a 400, as the other methods do."""
    with pytest.raises(requests.HTTPError) as refused:
        gw.control.flood(TEAM, BOT_ID, 1)
    assert refused.value.response.status_code == 400
    assert "not a member" in refused.value.response.json()["message"]
