"""The REST client against a real sandbox: the seven Glip endpoints, subscriptions, logins."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from platform_it import (
    BOB_ID,
    GENERAL_TEAM_ID,
    JANE_ID,
    JOHN,
    JOHN_ID,
    SMARTFRIEND_ID,
    PlatformFactory,
)

from devtools.sandbox_process import SandboxProcess
from glipbot.errors import AuthError, NotFoundError, PlatformError, UnauthorizedError
from glipbot.platform.http import RateLimitInfo
from sandbox.testing import BOT_TOKEN, DEFAULT_CLIENT_SECRET

pytestmark = pytest.mark.integration

POSTS = "/restapi/v1.0/glip/posts"
GROUPS = "/restapi/v1.0/glip/groups"


class GroupCheck:
    """A request hook that notes, per call, the group we declared and the one the platform named."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str | None]] = []

    def before_request(self, group: str) -> None:
        pass

    def after_response(
        self, group: str, rate_limit: RateLimitInfo | None, error: PlatformError | None
    ) -> None:
        self.pairs.append((group, rate_limit.group if rate_limit else None))


def _token_calls(sandbox: SandboxProcess) -> list[dict[str, object]]:
    return sandbox.control.requests(path="/restapi/oauth/token")


def test_smartfriend_uses_all_seven_endpoints(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    check = GroupCheck()
    platform = make_platform(sandbox.rest_url, hooks=[check])
    rest = platform.rest

    team = rest.create_group("Team", [JOHN_ID, JANE_ID], name="Trips", description="Flights")
    post = rest.create_post(team["id"], "Hello team")
    page = rest.list_posts(team["id"], record_count=10)
    edited = rest.bulk_assign(team["id"], added_person_ids=[BOB_ID], removed_person_ids=[JANE_ID])
    me = rest.get_person("~")
    persons = rest.get_persons([JOHN_ID, JANE_ID])
    teams = rest.list_groups(["Team"])
    every_team = list(rest.iter_groups(["Team"]))
    one = rest.get_group(team["id"])
    chat = rest.create_group("PrivateChat", [SMARTFRIEND_ID, JOHN_ID])
    several = rest.get_groups([team["id"], chat["id"]])

    assert team["type"] == "Team"
    assert {JOHN_ID, JANE_ID} <= set(team["members"])
    assert post["groupId"] == team["id"]
    assert post["creatorId"] == SMARTFRIEND_ID
    assert [p["id"] for p in page["records"]] == [post["id"]]
    assert BOB_ID in edited["members"]
    assert JANE_ID not in edited["members"]
    assert me["id"] == SMARTFRIEND_ID == platform.tokens.owner_id()
    assert [p["firstName"] for p in persons] == ["John", "Jane"]
    assert team["id"] in [g["id"] for g in teams["records"]]
    assert [g["id"] for g in every_team] == [g["id"] for g in teams["records"]]
    assert one["id"] == team["id"]
    assert [g["id"] for g in several] == [team["id"], chat["id"]]
    # Our table of rate-limit groups agrees with what the platform says on each answer.
    assert check.pairs
    assert all(ours == theirs for ours, theirs in check.pairs), check.pairs
    assert rest.last_rate_limit is not None
    assert rest.last_rate_limit.group == "Light"
    assert len(_token_calls(sandbox)) == 1


def test_john_logs_in_with_phone_and_extension_and_writes_to_the_bot(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    john = make_platform(
        sandbox.rest_url, username="+16505550101", extension="101", password=JOHN["password"]
    ).rest

    chat = john.create_group("PrivateChat", [JOHN_ID, SMARTFRIEND_ID])
    john.create_post(chat["id"], "book me a flight New York - San Francisco 05/06/17")

    assert john.get_person("~")["id"] == JOHN_ID
    assert john.list_posts(chat["id"])["records"][0]["creatorId"] == JOHN_ID
    assert GENERAL_TEAM_ID in [g["id"] for g in john.iter_groups(["Team"])]
    [call] = _token_calls(sandbox)
    assert call["body"]["extension"] == "101"  # type: ignore[index]


def test_subscription_lifecycle(sandbox: SandboxProcess, make_platform: PlatformFactory) -> None:
    rest = make_platform(sandbox.rest_url).rest

    created = rest.create_subscription([POSTS], expires_in=300)
    fetched = rest.get_subscription(created["id"])
    listed = rest.list_subscriptions()
    updated = rest.update_subscription(created["id"], [POSTS, GROUPS], expires_in=600)
    renewed = rest.renew_subscription(created["id"])
    rest.delete_subscription(created["id"])

    delivery = created["deliveryMode"]
    assert (delivery["transportType"], delivery["encryption"]) == ("PubNub", True)
    assert delivery["address"]
    assert delivery["encryptionKey"]
    assert fetched["status"] == "Active"
    assert created["id"] in [s["id"] for s in listed]
    assert updated["eventFilters"] == [POSTS, GROUPS]
    assert renewed["deliveryMode"]["address"] == delivery["address"]
    with pytest.raises(NotFoundError) as caught:
        rest.get_subscription(created["id"])
    assert caught.value.error_code == "CMN-102"


def _hs256_jwt(claims: dict[str, object], secret: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def test_jwt_grant(sandbox: SandboxProcess, make_platform: PlatformFactory) -> None:
    assertion = _hs256_jwt({"sub": JOHN_ID, "exp": int(time.time()) + 300}, DEFAULT_CLIENT_SECRET)

    platform = make_platform(sandbox.rest_url, jwt=assertion)

    assert platform.settings.login_mode == "jwt"
    assert platform.rest.get_person("~")["id"] == JOHN_ID
    [call] = _token_calls(sandbox)
    assert call["body"]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"  # type: ignore[index]


def test_a_jwt_signed_with_another_secret_is_refused(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    platform = make_platform(sandbox.rest_url, jwt=_hs256_jwt({"sub": JOHN_ID}, "not-the-secret"))

    with pytest.raises(AuthError) as caught:
        platform.rest.get_person("~")
    assert not isinstance(caught.value, UnauthorizedError)


def test_wrong_password_is_an_auth_error(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    platform = make_platform(sandbox.rest_url, password="wrong")

    with pytest.raises(AuthError) as caught:
        platform.rest.create_post(GENERAL_TEAM_ID, "hi")
    assert caught.value.status in (400, 401)


def test_the_static_bot_token_never_logs_in(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    platform = make_platform(sandbox.rest_url, bot_token=BOT_TOKEN)

    assert platform.rest.get_person("~")["id"] == SMARTFRIEND_ID
    assert platform.tokens.owner_id() == SMARTFRIEND_ID

    sandbox.control.revoke_tokens(access_token=BOT_TOKEN)
    with pytest.raises(AuthError):
        platform.rest.get_person("~")
    assert _token_calls(sandbox) == []
