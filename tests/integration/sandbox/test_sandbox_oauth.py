"""OAuth as the platform does it: grants, client auth, expiry, rotation, revocation."""

from __future__ import annotations

import time

import requests

from devtools.sandbox_process import SandboxProcess
from sandbox.oauth import make_jwt
from sandbox.testing import BOT_TOKEN, Person, login
from tests.support.openapi import assert_error_body

CLIENT = ("sandbox-client-id", "sandbox-client-secret")
JOHN_ID = "400000002"


def token_call(
    sb: SandboxProcess, auth: tuple[str, str] = CLIENT, **form: str
) -> requests.Response:
    return requests.post(f"{sb.rest_url}/restapi/oauth/token", data=form, auth=auth, timeout=10)


def api(sb: SandboxProcess, token: str) -> requests.Response:
    return requests.get(
        f"{sb.rest_url}/restapi/v1.0/glip/persons/~",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_password_login_answers_the_platform_token_fields(sb: SandboxProcess) -> None:
    """A password grant answers bearer + refresh tokens owned by the person's id."""
    token = login(sb.rest_url, "john.smith@sandbox.test", "john")
    assert token["token_type"] == "bearer"
    assert token["owner_id"] == JOHN_ID
    assert token["expires_in"] == 3600
    assert token["refresh_token_expires_in"] == 604800
    assert {"access_token", "refresh_token", "scope", "endpoint_id"} <= token.keys()
    assert api(sb, token["access_token"]).json()["id"] == JOHN_ID


def test_phone_number_with_extension_logs_in(sb: SandboxProcess) -> None:
    """username = the company number plus ``extension`` names the extension's person."""
    token = login(sb.rest_url, "+16505550100", "john", extension="101")
    assert token["owner_id"] == JOHN_ID


def test_jwt_grant_signed_with_the_client_secret(sb: SandboxProcess) -> None:
    """A JWT (HS256, client secret) whose sub is an email logs that person in; expired fails."""
    good = make_jwt({"sub": "john.smith@sandbox.test", "exp": time.time() + 60}, CLIENT[1])
    resp = token_call(sb, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=good)
    assert resp.json()["owner_id"] == JOHN_ID
    old = make_jwt({"sub": JOHN_ID, "exp": time.time() - 1}, CLIENT[1])
    expired = token_call(
        sb, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=old
    )
    assert expired.status_code == 400
    assert expired.json()["error"] == "invalid_grant"
    forged = make_jwt({"sub": JOHN_ID}, "not-the-secret")
    bad = token_call(sb, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=forged)
    assert bad.status_code == 400


def test_bad_password_is_invalid_grant_oau_140(sb: SandboxProcess) -> None:
    """Wrong credentials answer 400 invalid_grant with OAU-140."""
    resp = token_call(sb, grant_type="password", username="john.smith@sandbox.test", password="x")
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "invalid_grant"
    assert body["errors"][0]["errorCode"] == "OAU-140"


def test_wrong_client_secret_is_invalid_client(sb: SandboxProcess) -> None:
    """A wrong or missing client secret answers 401 invalid_client."""
    form = {"grant_type": "password", "username": "john.smith@sandbox.test", "password": "john"}
    wrong = token_call(sb, auth=(CLIENT[0], "nope"), **form)
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    missing = requests.post(f"{sb.rest_url}/restapi/oauth/token", data=form, timeout=10)
    assert missing.status_code == 401


def test_unknown_unparsable_and_missing_tokens(sb: SandboxProcess) -> None:
    """Unknown → OAU-213, unparsable → OAU-149, no Authorization header → OAU-123."""
    assert_error_body(api(sb, "SBXA-unknownunknownunknown").json(), "OAU-213")
    assert_error_body(api(sb, "not a token!").json(), "OAU-149")
    bare = requests.get(f"{sb.rest_url}/restapi/v1.0/glip/persons/~", timeout=10)
    assert bare.status_code == 401
    assert_error_body(bare.json(), "OAU-123")


def test_static_bot_token_works(sb: SandboxProcess) -> None:
    """The seed's bot token is a bearer token for SmartFriend."""
    assert api(sb, BOT_TOKEN).json()["firstName"] == "SmartFriend"


def test_access_token_really_expires(short: SandboxProcess) -> None:
    """With --token-lifetime 2, the token answers OAU-128 after 2 s."""
    token = login(short.rest_url, "john.smith@sandbox.test", "john")
    assert token["expires_in"] == 2
    assert api(short, token["access_token"]).status_code == 200
    time.sleep(2.2)
    expired = api(short, token["access_token"])
    assert expired.status_code == 401
    assert_error_body(expired.json(), "OAU-128")


def test_refresh_rotates_and_old_refresh_token_dies_after_grace(short: SandboxProcess) -> None:
    """Refresh: old access token dies at once; old refresh works in the grace (1 s), then not."""
    first = login(short.rest_url, "john.smith@sandbox.test", "john")
    second = token_call(short, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    new = second.json()
    assert new["access_token"] != first["access_token"]
    assert_error_body(api(short, first["access_token"]).json(), "OAU-213")
    assert api(short, new["access_token"]).status_code == 200
    again = token_call(short, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 200
    assert again.json()["access_token"] == new["access_token"]
    time.sleep(1.2)
    late = token_call(short, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"
    assert api(short, new["access_token"]).status_code == 200


def test_revoke_ends_the_session(sb: SandboxProcess) -> None:
    """/oauth/revoke kills both the access and the refresh token."""
    token = login(sb.rest_url, "john.smith@sandbox.test", "john")
    resp = requests.post(
        f"{sb.rest_url}/restapi/oauth/revoke",
        data={"token": token["access_token"]},
        auth=CLIENT,
        timeout=10,
    )
    assert resp.status_code == 200
    assert api(sb, token["access_token"]).status_code == 401
    refresh = token_call(sb, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert refresh.status_code == 400


def test_a_sixth_login_revokes_the_oldest_session(short: SandboxProcess) -> None:
    """At most 5 live sessions per person and app: a 6th login revokes the oldest.

    The short sandbox's 3 s rate window lets a 6th login through (Auth allows 5 a
    window); its 2 s tokens have expired by then, so "revoked" shows as OAU-213
    (not found) where a merely expired token answers OAU-128.
    """
    logins = [login(short.rest_url, "jane.doe@sandbox.test", "jane") for _ in range(5)]
    time.sleep(3.1)
    login(short.rest_url, "jane.doe@sandbox.test", "jane")
    assert api(short, logins[0]["access_token"]).json()["errorCode"] == "OAU-213"
    assert api(short, logins[1]["access_token"]).json()["errorCode"] == "OAU-128"


def test_sixth_login_in_a_window_is_rate_limited(sb: SandboxProcess) -> None:
    """The Auth group allows 5 token calls per login name and window."""
    for _ in range(5):
        login(sb.rest_url, "bob.brown@sandbox.test", "bob")
    sixth = token_call(sb, grant_type="password", username="bob.brown@sandbox.test", password="bob")
    assert sixth.status_code == 429
    assert sixth.headers["X-Rate-Limit-Group"] == "Auth"
    assert_error_body(sixth.json(), "CMN-301")


def test_person_acts_as_themselves(john: Person) -> None:
    """The Person helper's token belongs to John."""
    assert john.get("/glip/persons/~").json()["lastName"] == "Smith"
