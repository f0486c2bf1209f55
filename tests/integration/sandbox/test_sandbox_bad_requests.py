"""Bad requests get the platform's status codes and error bodies, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.sandbox_process import SandboxProcess
from sandbox.testing import Person
from tests.support.openapi import assert_error_body

TEAM = "500000001"
LONG = "x" * 10001


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        (
            "POST",
            "/glip/posts",
            {"data": "{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "CMN-101",
        ),
        (
            "POST",
            "/glip/posts",
            {"data": "groupId=1", "headers": {"Content-Type": "text/plain"}},
            415,
            "CMN-101",
        ),
        ("POST", "/glip/posts", {"json": [1, 2]}, 400, "CMN-101"),
        ("POST", "/glip/posts", {}, 400, "CMN-100"),
        ("POST", "/glip/posts", {"json": {"groupId": TEAM}}, 400, "CMN-100"),
        ("POST", "/glip/posts", {"json": {"groupId": TEAM, "text": LONG}}, 400, "CMN-101"),
        ("POST", "/glip/posts", {"json": {"groupId": TEAM, "text": 5}}, 400, "CMN-101"),
        (
            "POST",
            "/glip/posts",
            {"json": {"groupId": TEAM, "attachments": [{}] * 21}},
            400,
            "CMN-101",
        ),
        ("POST", "/glip/posts", {"json": {"groupId": TEAM, "attachments": "card"}}, 400, "CMN-101"),
        ("POST", "/glip/posts", {"json": {"groupId": "999", "text": "x"}}, 404, "CMN-102"),
        ("POST", "/glip/posts", {"json": {"groupId": ["x"], "text": "x"}}, 400, "CMN-101"),
        ("GET", "/glip/posts", {}, 400, "CMN-100"),
        ("GET", "/glip/posts", {"params": {"groupId": TEAM, "recordCount": 251}}, 400, "CMN-101"),
        ("GET", "/glip/posts", {"params": {"groupId": TEAM, "recordCount": "abc"}}, 400, "CMN-101"),
        (
            "GET",
            "/glip/posts",
            {"params": {"groupId": TEAM, "pageToken": "garbage"}},
            400,
            "CMN-101",
        ),
        ("POST", "/glip/groups", {"json": {}}, 400, "CMN-100"),
        ("POST", "/glip/groups", {"json": {"type": "Nope"}}, 400, "CMN-101"),
        ("POST", "/glip/groups", {"json": {"type": "PrivateChat", "members": []}}, 400, "CMN-101"),
        (
            "POST",
            "/glip/groups",
            {"json": {"type": "PrivateChat", "members": ["1", "2", "3"]}},
            400,
            "CMN-101",
        ),
        ("POST", "/glip/groups", {"json": {"type": "Team", "members": "all"}}, 400, "CMN-101"),
        ("POST", "/glip/groups", {"json": {"type": "Team", "isPublic": "yes"}}, 400, "CMN-101"),
        ("GET", "/glip/groups", {"params": {"type": "Channel"}}, 400, "CMN-101"),
        ("GET", "/glip/groups/999", {}, 404, "CMN-102"),
        ("GET", "/glip/groups/" + ",".join(["1"] * 31), {}, 400, "CMN-101"),
        ("POST", f"/glip/groups/{TEAM}/bulk-assign", {"json": {}}, 400, "CMN-100"),
        (
            "POST",
            f"/glip/groups/{TEAM}/bulk-assign",
            {"json": {"addedPersonIds": ["999"]}},
            400,
            "CMN-101",
        ),
        ("POST", "/glip/groups/999/bulk-assign", {"json": {"addedPersonIds": []}}, 404, "CMN-102"),
        ("GET", "/glip/persons/999", {}, 404, "CMN-102"),
        ("POST", "/subscription", {"json": {"deliveryMode": {}}}, 400, "CMN-100"),
        (
            "POST",
            "/subscription",
            {"json": {"eventFilters": ["/glip/nope"], "deliveryMode": {}}},
            400,
            "CMN-101",
        ),
        ("POST", "/subscription", {"json": {"eventFilters": ["/glip/posts"]}}, 400, "CMN-100"),
        (
            "POST",
            "/subscription",
            {
                "json": {
                    "eventFilters": ["/glip/posts"],
                    "deliveryMode": {"transportType": "WebHook"},
                }
            },
            400,
            "CMN-101",
        ),
        (
            "POST",
            "/subscription",
            {"json": {"eventFilters": ["/glip/posts"], "deliveryMode": {}, "expiresIn": -1}},
            400,
            "CMN-101",
        ),
        *(
            (
                "POST",
                "/subscription",
                {
                    "json": {
                        "eventFilters": ["/glip/posts"],
                        "deliveryMode": {"transportType": "PubNub", "encryption": value},
                    }
                },
                400,
                "CMN-101",
            )
            for value in ("yes", "TRUE", "", 1, None, ["true"])
        ),
        ("GET", "/subscription/nope", {}, 404, "CMN-102"),
        ("PUT", "/subscription/nope", {"json": {"eventFilters": []}}, 404, "CMN-102"),
        ("DELETE", "/subscription/nope", {}, 404, "CMN-102"),
        ("GET", "/no/such/thing", {}, 404, "CMN-102"),
    ],
)
def test_bad_request_gets_the_platforms_error(
    john: Person, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    """Each malformed call answers its platform status and code in a classic body."""
    resp = john.request(method, path, **kwargs)
    assert resp.status_code == status, resp.text
    assert_error_body(resp.json(), code)


def test_bulk_assign_on_a_private_chat_is_forbidden(john: Person) -> None:
    """Only Teams take bulk-assign: a PrivateChat answers 403."""
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": ["400000003"]}).json()
    resp = john.post(
        f"/glip/groups/{chat['id']}/bulk-assign", json={"addedPersonIds": ["400000004"]}
    )
    assert resp.status_code == 403


def test_someone_elses_chat_is_invisible(sb: SandboxProcess, john: Person) -> None:
    """A chat the caller is not in answers 404, as an unknown id (SmartFriend is not in TEAM)."""
    bot = Person(
        sb.rest_url, {"owner_id": "400000001", "access_token": "sandbox-bot-token-smartfriend"}
    )
    assert bot.get(f"/glip/groups/{TEAM}").status_code == 404
    assert bot.post("/glip/posts", json={"groupId": TEAM, "text": "hi"}).status_code == 404


def test_existing_private_chat_is_returned(john: Person) -> None:
    """Creating a PrivateChat that exists answers the existing chat."""
    body = {"type": "PrivateChat", "members": [{"id": "400000003"}]}
    assert (
        john.post("/glip/groups", json=body).json()["id"]
        == john.post("/glip/groups", json=body).json()["id"]
    )


def test_subscription_limit_is_sub_505(john: Person) -> None:
    """The 21st live subscription of a person and app answers 403 SUB-505."""
    body = {"eventFilters": ["/glip/posts"], "deliveryMode": {"transportType": "PubNub"}}
    for _ in range(20):
        assert john.post("/subscription", json=body).status_code == 200
    resp = john.post("/subscription", json=body)
    assert resp.status_code == 403
    assert_error_body(resp.json(), "SUB-505")
