"""Each control-API fault and switch does what it says."""

from __future__ import annotations

import time

import pytest
import requests

from devtools.sandbox_process import SandboxProcess
from sandbox.testing import Person, login
from tests.support.openapi import assert_error_body

POSTS = "/restapi/v1.0/glip/posts"
TEAM = "500000001"


def post(john: Person, text: str = "x", timeout: float = 10) -> requests.Response:
    return john.post("/glip/posts", json={"groupId": TEAM, "text": text}, timeout=timeout)


def texts(john: Person) -> list[str]:
    return [p["text"] for p in john.get("/glip/posts", params={"groupId": TEAM}).json()["records"]]


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [(503, "CMN-211", 5), (500, "CMN-201", None), (429, "CMN-301", 7)],
)
def test_fault_answers_status_without_acting(
    sb: SandboxProcess, john: Person, status: int, code: str, retry_after: int | None
) -> None:
    """The next N matching calls answer the platform's error for the status; nothing is posted."""
    sb.control.fail("POST", POSTS, count=2, status=status, retry_after=retry_after)
    for _ in range(2):
        resp = post(john)
        assert resp.status_code == status
        assert_error_body(resp.json(), code)
        assert resp.headers.get("Retry-After") == (str(retry_after) if retry_after else None)
    assert texts(john) == []
    assert post(john, "third").status_code == 200
    assert texts(john) == ["third"]


def test_fault_matches_glob_and_any_method(sb: SandboxProcess, john: Person) -> None:
    """A ``*`` glob with no method matches every call under it, GET and POST alike."""
    sb.control.fail(None, "/restapi/v1.0/glip/*", count=2, status=503)
    assert john.get("/glip/groups").status_code == 503
    assert john.get("/glip/persons/~").status_code == 503
    assert john.get("/glip/persons/~").status_code == 200
    assert sb.control.faults() == []


def test_hang_then_handle_normally(sb: SandboxProcess, john: Person) -> None:
    """``hang`` delays the call, which is then handled normally."""
    sb.control.fail("POST", POSTS, hang=0.5)
    started = time.monotonic()
    assert post(john, "late").status_code == 200
    assert time.monotonic() - started >= 0.5
    assert texts(john) == ["late"]


def test_after_fault_performs_the_action_but_the_client_sees_an_error(
    sb: SandboxProcess, john: Person
) -> None:
    """``after``: the post is made, yet the answer is 503 (or never comes before a timeout)."""
    sb.control.fail("POST", POSTS, status=503, after=True)
    assert post(john, "made").status_code == 503
    sb.control.fail("POST", POSTS, hang=2, after=True)
    with pytest.raises(requests.Timeout):
        post(john, "unseen", timeout=0.5)
    time.sleep(0.1)
    assert texts(john) == ["unseen", "made"]


def test_clear_faults(sb: SandboxProcess, john: Person) -> None:
    """DELETE /sandbox/faults removes every rule."""
    sb.control.fail("POST", POSTS, count=5, status=503)
    sb.control.clear_faults()
    assert post(john).status_code == 200


def test_bad_fault_is_400(sb: SandboxProcess) -> None:
    """A fault without path, or with neither status nor hang, is refused."""
    resp = requests.post(f"{sb.control_url}/faults", json={"status": 503}, timeout=5)
    assert resp.status_code == 400
    resp = requests.post(f"{sb.control_url}/faults", json={"path": "/x"}, timeout=5)
    assert resp.status_code == 400


def test_expire_and_delete_subscription(sb: SandboxProcess, john: Person) -> None:
    """Expired or deleted subscriptions answer 404 CMN-102."""
    body = {"eventFilters": ["/glip/posts"], "deliveryMode": {"transportType": "PubNub"}}
    first, second = (john.post("/subscription", json=body).json() for _ in range(2))
    sb.control.expire_subscription(first["id"])
    sb.control.delete_subscription(second["id"])
    for sub in (first, second):
        resp = john.get(f"/subscription/{sub['id']}")
        assert resp.status_code == 404
        assert_error_body(resp.json(), "CMN-102")
    assert john.get("/subscription").json()["records"] == []


def test_expire_tokens_by_token_person_and_all(sb: SandboxProcess) -> None:
    """Expired tokens answer OAU-128 and can still be refreshed; the rest keep working."""
    john = login(sb.rest_url, "john.smith@sandbox.test", "john")
    jane = login(sb.rest_url, "jane.doe@sandbox.test", "jane")

    def code(token: dict[str, str]) -> str | None:
        resp = requests.get(
            f"{sb.rest_url}/restapi/v1.0/glip/persons/~",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=5,
        )
        return None if resp.ok else str(resp.json()["errorCode"])

    assert sb.control.expire_tokens(access_token=john["access_token"]) == 1
    assert (code(john), code(jane)) == ("OAU-128", None)
    sb.control.expire_tokens(person_id=jane["owner_id"])
    assert code(jane) == "OAU-128"
    refreshed = requests.post(
        f"{sb.rest_url}/restapi/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": john["refresh_token"]},
        auth=("sandbox-client-id", "sandbox-client-secret"),
        timeout=5,
    ).json()
    assert code(refreshed) is None
    sb.control.expire_tokens()
    assert code(refreshed) == "OAU-128"


def test_revoke_tokens(sb: SandboxProcess) -> None:
    """Revoked tokens answer OAU-213."""
    john = login(sb.rest_url, "john.smith@sandbox.test", "john")
    assert sb.control.revoke_tokens(person_id=john["owner_id"]) == 1
    resp = requests.get(
        f"{sb.rest_url}/restapi/v1.0/glip/persons/~",
        headers={"Authorization": f"Bearer {john['access_token']}"},
        timeout=5,
    )
    assert_error_body(resp.json(), "OAU-213")


def test_recorder_lists_calls_with_secrets_masked(sb: SandboxProcess, john: Person) -> None:
    """Every REST call is recorded with who, status and body; passwords are masked."""
    post(john, "recorded")
    john.get("/glip/groups/999")
    [token_call] = sb.control.requests(path="/restapi/oauth/*")
    assert token_call["body"]["password"] == "***"
    assert token_call["who"] == john.id
    [made] = sb.control.requests(path=POSTS, method="POST")
    assert (made["status"], made["who"], made["body"]) == (
        200,
        john.id,
        {"groupId": TEAM, "text": "recorded"},
    )
    [missing] = sb.control.requests(path="/restapi/v1.0/glip/groups/*")
    assert missing["status"] == 404
    sb.control.clear_requests()
    assert sb.control.requests() == []


def test_reset_restores_the_seed(sb: SandboxProcess, john: Person) -> None:
    """After reset: no posts, no sessions, no subscriptions, no faults."""
    post(john, "before")
    sb.control.fail("GET", "/nothing", status=500, count=3)
    sb.control.reset()
    state = sb.control.state()
    assert (state["posts"], state["subscriptions"], state["faults"]) == (0, [], [])
    assert state["liveTokensPerPerson"] == {}
    assert john.get("/glip/groups").status_code == 401


def test_act_as_a_person_without_oauth(sb: SandboxProcess) -> None:
    """/sandbox/act makes a call as the named person."""
    answer = sb.control.act(
        "jane.doe@sandbox.test", "POST", POSTS, body={"groupId": TEAM, "text": "from act"}
    )
    assert answer["status"] == 200
    assert answer["body"]["creatorId"] == "400000003"
