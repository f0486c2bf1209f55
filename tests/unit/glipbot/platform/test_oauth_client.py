"""Auth: the OAuth grants as RingCentral expects them, and refusals as AuthError."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl

import pytest
from platform_fakes import BASE_URL, ScriptedAdapter, session_with

from glipbot.errors import AuthError, ConfigError, LoginRefusedError, RateLimitedError
from glipbot.platform.auth import JWT_GRANT_TYPE, Auth
from glipbot.platform.http import HttpTransport
from glipbot.settings import Settings

GRANT = {"access_token": "at", "refresh_token": "rt", "expires_in": 3600, "owner_id": "1"}
SETTINGS = Settings(
    server_url=BASE_URL, client_id="cid", client_secret="csecret", username="bob", password="pw"
)


def _auth(adapter: ScriptedAdapter, settings: Settings = SETTINGS) -> Auth:
    return Auth(settings, HttpTransport(BASE_URL, 5.0, session_with(adapter)))


def _form(adapter: ScriptedAdapter) -> dict[str, str]:
    return dict(parse_qsl((adapter.sent[-1].body or b"").decode()))


def test_password_login_uses_basic_client_auth() -> None:
    adapter = ScriptedAdapter().reply(200, GRANT)

    assert _auth(adapter).login() == GRANT

    sent = adapter.sent[0]
    assert (sent.method, sent.path) == ("POST", "/restapi/oauth/token")
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    assert _form(adapter) == {"grant_type": "password", "username": "bob", "password": "pw"}


def test_the_extension_is_sent_when_configured() -> None:
    adapter = ScriptedAdapter().reply(200, GRANT)
    settings = Settings(server_url=BASE_URL, username="+15550100", password="pw", extension="101")

    _auth(adapter, settings).login()

    assert _form(adapter)["extension"] == "101"


def test_jwt_login() -> None:
    adapter = ScriptedAdapter().reply(200, GRANT)

    _auth(adapter, Settings(server_url=BASE_URL, jwt="eyJ.x.y")).login()

    assert _form(adapter) == {"grant_type": JWT_GRANT_TYPE, "assertion": "eyJ.x.y"}


def test_refresh_and_revoke() -> None:
    adapter = ScriptedAdapter().reply(200, GRANT).reply(200)
    auth = _auth(adapter)

    auth.refresh("rt-old")
    assert _form(adapter) == {"grant_type": "refresh_token", "refresh_token": "rt-old"}
    auth.revoke("rt")
    assert (adapter.sent[-1].path, _form(adapter)) == ("/restapi/oauth/revoke", {"token": "rt"})


@pytest.mark.parametrize("status", [400, 401])
def test_bad_credentials_are_an_auth_error(status: int) -> None:
    body = {"error": "invalid_grant", "errors": [{"errorCode": "OAU-140", "message": "bad"}]}
    adapter = ScriptedAdapter().reply(status, body)

    with pytest.raises(AuthError) as caught:
        _auth(adapter).login()

    assert (caught.value.status, caught.value.error_code) == (status, "OAU-140")


def test_an_answer_without_a_token_is_an_auth_error() -> None:
    adapter = ScriptedAdapter().reply(200, {"token_type": "bearer"})

    with pytest.raises(AuthError):
        _auth(adapter).login()


def test_rate_limited_login_stays_transient() -> None:
    adapter = ScriptedAdapter().reply(429, {"errorCode": "CMN-301"}, headers={"Retry-After": "60"})

    with pytest.raises(RateLimitedError) as caught:
        _auth(adapter).login()

    assert caught.value.retry_after == 60.0


def test_a_bot_token_never_logs_in() -> None:
    with pytest.raises(ConfigError):
        _auth(ScriptedAdapter(), Settings(server_url=BASE_URL, bot_token="static")).login()


def test_whoami_uses_the_given_token() -> None:
    adapter = ScriptedAdapter().reply(200, {"id": "42"})

    assert _auth(adapter).whoami("tok")["id"] == "42"
    assert adapter.sent[0].headers["Authorization"] == "Bearer tok"
    assert adapter.sent[0].path == "/restapi/v1.0/glip/persons/~"


# -- a refused login names the setting to fix -------------------------------------

INVALID_GRANT = {"error": "invalid_grant", "errors": [{"errorCode": "OAU-140", "message": "bad"}]}
INVALID_CLIENT = {"error": "invalid_client", "errors": [{"errorCode": "OAU-123", "message": "x"}]}
UNAUTHORIZED_CLIENT = {"error": "unauthorized_client", "error_description": "grant not allowed"}


@pytest.mark.parametrize(
    ("settings", "status", "body", "setting", "message"),
    [
        (
            SETTINGS,
            400,
            INVALID_GRANT,
            "RINGCENTRAL_PASSWORD",
            "the platform refused the password login of 'bob' (400 invalid_grant OAU-140): "
            "fix RINGCENTRAL_PASSWORD (or RINGCENTRAL_USERNAME, RINGCENTRAL_EXTENSION)",
        ),
        (
            Settings(server_url=BASE_URL, jwt="eyJ.x.y"),
            400,
            INVALID_GRANT,
            "RINGCENTRAL_JWT",
            "the platform refused the JWT login (400 invalid_grant OAU-140): fix RINGCENTRAL_JWT",
        ),
        (
            SETTINGS,
            401,
            INVALID_CLIENT,
            "RINGCENTRAL_CLIENT_SECRET",
            "the platform refused the app's client id or secret (401 invalid_client OAU-123): "
            "fix RINGCENTRAL_CLIENT_SECRET (or RINGCENTRAL_CLIENT_ID)",
        ),
        (
            SETTINGS,
            400,
            UNAUTHORIZED_CLIENT,
            "RINGCENTRAL_CLIENT_ID",
            "the platform refused password logins by this app (400 unauthorized_client): fix "
            "the app's grant types (in RingCentral's developer console), or RINGCENTRAL_CLIENT_ID",
        ),
    ],
)
def test_a_refused_login_names_the_setting_to_fix(
    settings: Settings, status: int, body: dict[str, object], setting: str, message: str
) -> None:
    adapter = ScriptedAdapter().reply(status, body)

    with pytest.raises(LoginRefusedError) as refused:
        _auth(adapter, settings).login()

    assert (refused.value.setting, str(refused.value)) == (setting, message)
    assert refused.value.status == status
    assert refused.value.retry_after is None  # the token store decides when to try again


def test_a_refused_refresh_is_not_a_login_refusal() -> None:
    """A dead refresh token is the store's to replace by logging in; no setting is wrong."""
    adapter = ScriptedAdapter().reply(400, INVALID_GRANT)

    with pytest.raises(AuthError) as refused:
        _auth(adapter).refresh("rt-old")

    assert not isinstance(refused.value, LoginRefusedError)
