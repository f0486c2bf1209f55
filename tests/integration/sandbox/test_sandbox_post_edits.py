"""Editing and deleting posts: the answers match the spec, only the creator may, members hear it.

Endpoints: ``PUT /glip/groups/{groupId}/posts/{postId}/text`` (updateGlipPostText),
``GET|PATCH|DELETE /glip/chats/{chatId}/posts/{postId}`` (readGlipPost, patchGlipPost,
deleteGlipPost).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devtools.sandbox_process import SandboxProcess
from sandbox.crypto import decrypt_notification
from sandbox.testing import Person, as_person
from tests.support.openapi import assert_error_body, assert_response, throttling_group
from tests.support.pubnub_sdk import subscribe, subscribed

BOT_ID = "400000001"
JANE_ID = "400000003"
TEAM_ID = "500000001"  # the seed's Team: the four humans, not the bot
CARD = {"type": "Card", "fallback": "Trip", "text": "NYC - SFO"}


def chat_post(group_id: str, post_id: str) -> str:
    return f"/glip/chats/{group_id}/posts/{post_id}"


def text_url(group_id: str, post_id: str) -> str:
    return f"/glip/groups/{group_id}/posts/{post_id}/text"


def say(person: Person, group_id: str, text: str, **extra: Any) -> dict[str, Any]:
    resp = person.post("/glip/posts", json={"groupId": group_id, "text": text, **extra})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def private_chat(person: Person, other: str = BOT_ID) -> str:
    resp = person.post("/glip/groups", json={"type": "PrivateChat", "members": [other]})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def test_put_text_answers_the_new_text_as_the_spec_says(john: Person) -> None:
    """updateGlipPostText takes ``text/*`` (or the doc example's JSON) and answers a string;
    the post then has the new text, its mentions and a new lastModifiedTime."""
    post = say(john, TEAM_ID, "first")
    url = text_url(TEAM_ID, post["id"])
    new = f"second ![:Person]({JANE_ID})"

    plain = john.put(url, data=new.encode(), headers={"Content-Type": "text/plain"})
    assert plain.status_code == 200, plain.text
    assert plain.headers["Content-Type"].startswith("text/plain")
    assert plain.text == new
    assert plain.headers["X-Rate-Limit-Group"] == throttling_group("updateGlipPostText")

    as_json = john.put(url, json={"text": new}, headers={"Accept": "application/json"})
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["Content-Type"].startswith("application/json")
    assert_response(as_json.json(), "updateGlipPostText")
    assert as_json.json() == new

    read = john.get(chat_post(TEAM_ID, post["id"]))
    assert read.status_code == 200, read.text
    assert_response(read.json(), "readGlipPost")
    assert read.headers["X-Rate-Limit-Group"] == throttling_group("readGlipPost")
    edited = read.json()
    assert edited["text"] == new
    assert edited["mentions"] == [{"id": JANE_ID, "type": "Person", "name": "Jane Doe"}]
    assert edited["creationTime"] == post["creationTime"]
    assert edited["lastModifiedTime"] >= post["lastModifiedTime"]


def test_patch_then_delete_match_the_spec(john: Person) -> None:
    """PATCH answers the edited Post; DELETE answers 204 with no body; the post is gone."""
    post = say(john, TEAM_ID, "", attachments=[CARD])
    url = chat_post(TEAM_ID, post["id"])

    patched = john.patch(url, json={"text": "with a card"})
    assert patched.status_code == 200, patched.text
    assert_response(patched.json(), "patchGlipPost")
    assert patched.headers["X-Rate-Limit-Group"] == throttling_group("patchGlipPost")
    assert patched.json()["text"] == "with a card"
    assert patched.json()["attachments"] == post["attachments"]
    # A post with attachments may lose its text, as one may be created without.
    assert john.patch(url, json={"text": ""}).status_code == 200

    deleted = john.delete(url)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert deleted.headers["X-Rate-Limit-Group"] == throttling_group("deleteGlipPost")
    gone = john.get(url)
    assert gone.status_code == 404
    assert_error_body(gone.json(), "CMN-102")
    assert gone.json()["errors"][0]["parameterName"] == "postId"
    listed = john.get("/glip/posts", params={"groupId": TEAM_ID}).json()["records"]
    assert post["id"] not in [p["id"] for p in listed]


def test_only_the_creator_may_edit_or_delete(sb: SandboxProcess, john: Person) -> None:
    """Jane, a member, may read John's post but gets 403 for each change; nothing changes."""
    jane = as_person(sb.rest_url, "jane.doe@sandbox.test", "jane")
    post = say(john, TEAM_ID, "mine")
    url = chat_post(TEAM_ID, post["id"])
    attempts = [
        jane.put(text_url(TEAM_ID, post["id"]), json={"text": "hers"}),
        jane.patch(url, json={"text": "hers"}),
        jane.delete(url),
    ]
    for resp in attempts:
        assert resp.status_code == 403, resp.text
        assert_error_body(resp.json(), "CMN-403")
    read = jane.get(url)
    assert read.status_code == 200
    assert (read.json()["text"], read.json()["lastModifiedTime"]) == ("mine", post["creationTime"])


def test_unknown_or_invisible_chat_or_post_is_404(sb: SandboxProcess, john: Person) -> None:
    """Not a member, unknown chat, unknown post, a post of another chat: 404 CMN-102,
    ``parameterName`` naming the path parameter at fault."""
    bob = as_person(sb.rest_url, "bob.brown@sandbox.test", "bob")
    chat = private_chat(john)
    post = say(john, chat, "private")
    other = say(john, TEAM_ID, "in the team")
    cases = [
        (bob.get(chat_post(chat, post["id"])), "chatId"),
        (bob.delete(chat_post(chat, post["id"])), "chatId"),
        (bob.put(text_url(chat, post["id"]), json={"text": "x"}), "groupId"),
        (john.patch(chat_post("999999999", post["id"]), json={"text": "x"}), "chatId"),
        (john.get(chat_post(chat, "799999999")), "postId"),
        (john.delete(chat_post(chat, other["id"])), "postId"),
        (john.put(text_url(chat, other["id"]), json={"text": "x"}), "postId"),
    ]
    for resp, parameter in cases:
        assert resp.status_code == 404, (parameter, resp.text)
        assert_error_body(resp.json(), "CMN-102")
        assert resp.json()["errors"][0]["parameterName"] == parameter
    assert john.get(chat_post(chat, post["id"])).json()["text"] == "private"


@pytest.mark.parametrize(
    ("method", "kwargs", "status", "code"),
    [
        ("PATCH", {}, 400, "CMN-100"),
        ("PATCH", {"json": {}}, 400, "CMN-100"),
        ("PATCH", {"json": {"text": 5}}, 400, "CMN-101"),
        ("PATCH", {"json": {"text": ""}}, 400, "CMN-100"),
        ("PATCH", {"json": {"text": "x" * 10001}}, 400, "CMN-101"),
        ("PATCH", {"json": ["text"]}, 400, "CMN-101"),
        (
            "PATCH",
            {"data": "{oops", "headers": {"Content-Type": "application/json"}},
            400,
            "CMN-101",
        ),
        ("PATCH", {"data": "text=x"}, 415, "CMN-101"),
        ("PUT", {}, 400, "CMN-100"),
        ("PUT", {"data": b"", "headers": {"Content-Type": "text/plain"}}, 400, "CMN-100"),
        ("PUT", {"json": {"text": None}}, 400, "CMN-101"),
        ("PUT", {"json": {"other": "x"}}, 400, "CMN-100"),
        ("PUT", {"data": "x" * 10001, "headers": {"Content-Type": "text/plain"}}, 400, "CMN-101"),
        ("PUT", {"data": b"\xff", "headers": {"Content-Type": "text/plain"}}, 400, "CMN-101"),
        ("PUT", {"data": '"oops', "headers": {"Content-Type": "application/json"}}, 400, "CMN-101"),
    ],
)
def test_bad_bodies_answer_400_or_415(
    john: Person, method: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    """Missing, empty, mistyped, too long or malformed text: the platform's 4xx, never a 500."""
    post = say(john, TEAM_ID, "unchanged")
    url = text_url if method == "PUT" else chat_post
    resp = john.request(method, url(TEAM_ID, post["id"]), **kwargs)
    assert resp.status_code == status, resp.text
    assert_error_body(resp.json(), code)
    assert john.get(chat_post(TEAM_ID, post["id"])).json()["text"] == "unchanged"


def test_faults_and_the_recorder_cover_the_new_routes(sb: SandboxProcess, john: Person) -> None:
    """A faulted DELETE does not delete; the recorder lists every call with who and status."""
    post = say(john, TEAM_ID, "stays")
    url = chat_post(TEAM_ID, post["id"])
    sb.control.fail("DELETE", "/restapi/v1.0/glip/chats/*/posts/*", status=503)
    faulted = john.delete(url)
    assert faulted.status_code == 503
    assert_error_body(faulted.json(), "CMN-211")
    assert john.patch(url, json={"text": "edited"}).status_code == 200
    records = sb.control.requests(path="/restapi/v1.0/glip/chats/*")
    assert [(r["method"], r["status"], r["who"]) for r in records] == [
        ("DELETE", 503, john.id),
        ("PATCH", 200, john.id),
    ]
    assert "fault" in records[0]
    assert records[1]["body"] == {"text": "edited"}


def test_members_receive_post_changed_and_post_removed(sb: SandboxProcess, john: Person) -> None:
    """John edits (PUT, then PATCH) and deletes his post in his chat with the bot: the bot's
    and John's subscriptions get PostChanged (the full Post) twice, then PostRemoved
    ``{id, groupId, eventType}``; Jane, subscribed but not a member, hears nothing."""
    bot = as_person(sb.rest_url, "smartfriend@sandbox.test", "smartfriend")
    jane = as_person(sb.rest_url, "jane.doe@sandbox.test", "jane")
    chat = private_chat(john)
    post = say(john, chat, "draft")
    subs = {who.id: subscribe(who) for who in (bot, john, jane)}
    url = chat_post(chat, post["id"])

    def edit_and_delete() -> None:
        assert john.put(text_url(chat, post["id"]), json={"text": "v2"}).status_code == 200
        assert john.patch(url, json={"text": f"v3 ![:Person]({BOT_ID})"}).status_code == 200
        assert john.delete(url).status_code == 204

    async def scenario() -> tuple[dict[str, list[dict[str, Any]]], bool]:
        modes = {pid: sub["deliveryMode"] for pid, sub in subs.items()}
        async with (
            subscribed(
                sb.pubnub_origin, modes[BOT_ID]["subscriberKey"], modes[BOT_ID]["address"]
            ) as bots,
            subscribed(
                sb.pubnub_origin, modes[john.id]["subscriberKey"], modes[john.id]["address"]
            ) as johns,
            subscribed(
                sb.pubnub_origin, modes[JANE_ID]["subscriberKey"], modes[JANE_ID]["address"]
            ) as janes,
        ):
            await asyncio.to_thread(edit_and_delete)
            got = {
                pid: [
                    decrypt_notification(modes[pid]["encryptionKey"], m.message)
                    for m in await collector.take(3)
                ]
                for pid, collector in ((BOT_ID, bots), (john.id, johns))
            }
            return got, await janes.nothing_for(0.3)

    got, jane_heard_nothing = asyncio.run(scenario())
    assert jane_heard_nothing
    for owner, events in got.items():
        for event in events:
            assert event["event"] == "/restapi/v1.0/glip/posts"
            assert (event["ownerId"], event["subscriptionId"]) == (owner, subs[owner]["id"])
            assert {"uuid", "timestamp"} <= event.keys()
        changed, patched, removed = (e["body"] for e in events)
        for body, text in ((changed, "v2"), (patched, f"v3 ![:Person]({BOT_ID})")):
            assert body["eventType"] == "PostChanged"
            assert_response({k: v for k, v in body.items() if k != "eventType"}, "readGlipPost")
            assert (body["id"], body["groupId"], body["text"]) == (post["id"], chat, text)
            assert body["creatorId"] == john.id
            assert body["creationTime"] == post["creationTime"]
        assert [m["id"] for m in patched["mentions"]] == [BOT_ID]
        assert removed == {"id": post["id"], "groupId": chat, "eventType": "PostRemoved"}
    assert len({e["uuid"] for events in got.values() for e in events}) == 6
