"""Every answer of the seven Glip endpoints and of subscriptions matches the OpenAPI spec."""

from __future__ import annotations

import pytest

from devtools.sandbox_process import SandboxProcess
from sandbox.batch import parse_multipart
from sandbox.testing import Person
from tests.support.openapi import assert_error_body, assert_response, throttling_group

BOT_ID = "400000001"
JANE_ID = "400000003"
CARD = {
    "type": "Card",
    "fallback": "Flight booked",
    "color": "Blue",
    "intro": "Your trip",
    "author": {
        "name": "SmartFriend",
        "uri": "https://example.com",
        "iconUri": "https://example.com/i.png",
    },
    "title": "NYC - SFO",
    "text": "05/06/17",
    "imageUri": "https://example.com/m.png",
    "thumbnailUri": "https://example.com/t.png",
    "fields": [{"title": "From", "value": "New York", "style": "Short"}],
    "footnote": {
        "text": "Booked",
        "iconUri": "https://example.com/f.png",
        "time": "2017-05-06T10:00:00.000Z",
    },
}


def private_chat(person: Person, other: str = BOT_ID) -> dict[str, object]:
    resp = person.post("/glip/groups", json={"type": "PrivateChat", "members": [{"id": other}]})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_create_private_chat_matches_spec_and_includes_creator(john: Person) -> None:
    """POST /glip/groups answers a Group with the creator and the other person."""
    chat = private_chat(john)
    assert_response(chat, "createGlipGroup")
    assert sorted(chat["members"]) == sorted([john.id, BOT_ID])  # type: ignore[arg-type]


def test_create_team_matches_spec(john: Person) -> None:
    """A Team takes members by id or email; the creator is always a member."""
    resp = john.post(
        "/glip/groups",
        json={
            "type": "Team",
            "name": "Trips",
            "isPublic": False,
            "members": [{"email": "jane.doe@sandbox.test"}, BOT_ID],
        },
    )
    assert resp.status_code == 200, resp.text
    assert_response(resp.json(), "createGlipGroup")
    assert set(resp.json()["members"]) == {john.id, JANE_ID, BOT_ID}


def test_post_with_card_and_mention_matches_spec(john: Person) -> None:
    """POST /glip/posts answers a Post by the caller with parsed mentions."""
    chat = private_chat(john)
    resp = john.post(
        "/glip/posts",
        json={"groupId": chat["id"], "text": f"hi ![:Person]({BOT_ID})", "attachments": [CARD]},
    )
    assert resp.status_code == 200, resp.text
    post = resp.json()
    assert_response(post, "createPost")
    assert post["creatorId"] == john.id
    assert post["mentions"] == [{"id": BOT_ID, "type": "Person", "name": "SmartFriend Bot"}]


def test_list_posts_matches_spec_newest_first_and_pages(john: Person) -> None:
    """GET /glip/posts pages newest first with pageToken; every page matches the spec."""
    chat = private_chat(john)
    for n in range(5):
        john.post("/glip/posts", json={"groupId": chat["id"], "text": f"m{n}"}).raise_for_status()
    first = john.get("/glip/posts", params={"groupId": chat["id"], "recordCount": 3}).json()
    assert_response(first, "listGlipPosts")
    assert [p["text"] for p in first["records"]] == ["m4", "m3", "m2"]
    token = first["navigation"]["nextPageToken"]
    second = john.get("/glip/posts", params={"groupId": chat["id"], "pageToken": token}).json()
    assert_response(second, "listGlipPosts")
    assert [p["text"] for p in second["records"]] == ["m1", "m0"]
    assert "nextPageToken" not in second["navigation"]
    back = john.get(
        "/glip/posts",
        params={
            "groupId": chat["id"],
            "recordCount": 3,
            "pageToken": second["navigation"]["prevPageToken"],
        },
    ).json()
    assert [p["text"] for p in back["records"]] == ["m4", "m3", "m2"]


def test_list_groups_matches_spec_and_filters_by_type(john: Person) -> None:
    """GET /glip/groups lists the caller's chats; ``type`` may repeat."""
    private_chat(john)
    every = john.get("/glip/groups").json()
    assert_response(every, "listGlipGroups")
    assert {g["type"] for g in every["records"]} == {"PrivateChat", "Team"}
    teams = john.get("/glip/groups", params=[("type", "Team"), ("type", "Group")]).json()
    assert [g["type"] for g in teams["records"]] == ["Team"]


def test_bulk_assign_matches_spec_with_post_and_put(john: Person) -> None:
    """bulk-assign answers the Group for POST and PUT alike."""
    team = john.post("/glip/groups", json={"type": "Team", "name": "T"}).json()
    added = john.post(f"/glip/groups/{team['id']}/bulk-assign", json={"addedPersonIds": [BOT_ID]})
    assert_response(added.json(), "assignGlipGroupMembers")
    assert BOT_ID in added.json()["members"]
    removed = john.put(
        f"/glip/groups/{team['id']}/bulk-assign", json={"removedPersonIds": [BOT_ID]}
    )
    assert_response(removed.json(), "assignGlipGroupMembers")
    assert BOT_ID not in removed.json()["members"]


def test_read_group_and_person_match_spec(john: Person) -> None:
    """GET one group and one person (``~`` = the caller) answer spec objects, no password."""
    chat = private_chat(john)
    group = john.get(f"/glip/groups/{chat['id']}").json()
    assert_response(group, "readGlipGroup")
    me = john.get("/glip/persons/~").json()
    assert_response(me, "readGlipPerson")
    assert me["id"] == john.id
    assert "password" not in me
    assert "birthday" not in me


def test_several_ids_answer_207_multipart(john: Person) -> None:
    """Several ids answer 207 multipart: a status summary, then one part per id."""
    resp = john.get(f"/glip/persons/~,{JANE_ID},999")
    assert resp.status_code == 207
    summary, me, jane, missing = parse_multipart(resp.headers["Content-Type"], resp.content)
    assert summary == {"response": [{"status": 200}, {"status": 200}, {"status": 404}]}
    assert_response(me, "readGlipPerson")
    assert_response(jane, "readGlipPerson")
    assert_error_body(missing, "CMN-102")
    chat = private_chat(john)
    groups = john.get(f"/glip/groups/{chat['id']},500000001")
    assert groups.status_code == 207
    parts = parse_multipart(groups.headers["Content-Type"], groups.content)
    for part in parts[1:]:
        assert_response(part, "readGlipGroup")


def test_subscription_endpoints_match_spec(john: Person) -> None:
    """Create, list, read, update, renew answer SubscriptionInfo; delete answers 204."""
    body = {
        "eventFilters": ["/restapi/v1.0/glip/posts", "/glip/groups"],
        "deliveryMode": {"transportType": "PubNub", "encryption": True},
    }
    created = john.post("/subscription", json=body)
    assert created.status_code == 200, created.text
    sub = created.json()
    assert_response(sub, "createSubscription")
    assert sub["eventFilters"] == ["/restapi/v1.0/glip/posts", "/restapi/v1.0/glip/groups"]
    mode = sub["deliveryMode"]
    assert (mode["transportType"], mode["encryption"], mode["encryptionAlgorithm"]) == (
        "PubNub",
        True,
        "AES",
    )
    assert sub["expiresIn"] == 900
    assert_response(john.get("/subscription").json(), "listSubscriptions")
    assert_response(john.get(f"/subscription/{sub['id']}").json(), "readSubscription")
    updated = john.put(f"/subscription/{sub['id']}", json={"eventFilters": ["/glip/posts"]})
    assert_response(updated.json(), "updateSubscription")
    renewed = john.post(f"/subscription/{sub['id']}/renew").json()
    assert_response(renewed, "renewSubscription")
    assert renewed["deliveryMode"] == {**mode, "address": mode["address"]}
    assert john.delete(f"/subscription/{sub['id']}").status_code == 204
    gone = john.get(f"/subscription/{sub['id']}")
    assert gone.status_code == 404
    assert_error_body(gone.json(), "CMN-102")


@pytest.mark.parametrize(
    ("written", "encrypted"),
    [("true", True), (True, True), ("false", False), (False, False)],
)
def test_the_seeds_subscription_request_is_accepted_as_written(
    john: Person, written: object, encrypted: bool
) -> None:
    """The seed sends ``"encryption": "true"`` (a string); like a boolean, it answers
    200 with a SubscriptionInfo whose ``encryption`` is the boolean it means."""
    body = {
        "eventFilters": ["/restapi/v1.0/glip/posts", "/restapi/v1.0/glip/groups"],
        "deliveryMode": {"transportType": "PubNub", "encryption": written},
    }

    created = john.post("/subscription", json=body)

    assert created.status_code == 200, created.text
    sub = created.json()
    assert_response(sub, "createSubscription")
    assert sub["deliveryMode"]["encryption"] is encrypted
    assert ("encryptionKey" in sub["deliveryMode"]) is encrypted


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "/glip/posts", "createPost"),
        ("GET", "/glip/posts?groupId=500000001", "listGlipPosts"),
        ("POST", "/glip/groups", "createGlipGroup"),
        ("GET", "/glip/groups", "listGlipGroups"),
        ("POST", "/glip/groups/500000001/bulk-assign", "assignGlipGroupMembers"),
        ("GET", "/glip/groups/500000001", "readGlipGroup"),
        ("GET", "/glip/persons/~", "readGlipPerson"),
        ("POST", "/subscription", "createSubscription"),
        ("GET", "/subscription", "listSubscriptions"),
    ],
)
def test_rate_limit_group_is_the_specs(
    john: Person, method: str, path: str, operation: str
) -> None:
    """X-Rate-Limit-Group of each endpoint is the spec's x-throttling-group."""
    resp = john.request(method, path, json={} if method == "POST" else None)
    assert resp.headers["X-Rate-Limit-Group"] == throttling_group(operation)


def test_error_bodies_match_spec(sb: SandboxProcess, john: Person) -> None:
    """404, 400 and 401 answers carry the spec's ErrorResponse with the platform's codes."""
    unknown = john.get("/glip/groups/999999")
    assert unknown.status_code == 404
    assert_error_body(unknown.json(), "CMN-102")
    assert unknown.json()["errors"][0]["parameterName"] == "groupId"
    bad = john.post("/glip/posts", json={"text": "no group"})
    assert bad.status_code == 400
    assert_error_body(bad.json(), "CMN-100")
    anonymous = Person(sb.rest_url, {"owner_id": "", "access_token": "SBXA-not-a-real-token"})
    denied = anonymous.get("/glip/groups")
    assert denied.status_code == 401
    assert_error_body(denied.json(), "OAU-213")
