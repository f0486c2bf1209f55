"""InstallCalls: the code exchange of a public install and a token's ``whoami``."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl

import pytest
from platform_fakes import BASE_URL, BotRecordingHook, ScriptedAdapter, session_with

from glipbot.errors import AuthError, ServerError, UnauthorizedError
from glipbot.platform.endpoints import API, ENDPOINT_GROUPS
from glipbot.platform.http import HttpTransport
from glipbot.platform.installs import INSTALL_BUCKET, BotIdentity, InstallCalls
from glipbot.settings import Settings
from tests.support.openapi import throttling_group

SETTINGS = Settings(server_url=BASE_URL, client_id="cid", client_secret="csecret")
REDIRECT = "https://bots.example.com/bot/oauth"
#: The token endpoint's answer to a code, as chatbot-js records it (BOTS.md, section 2).
GRANT = {
    "access_token": "bot-token",
    "token_type": "bearer",
    "expires_in": 2147483647,
    "scope": "EditExtensions SubscriptionWebhook Glip Accounts",
    "owner_id": "266262004",
    "endpoint_id": "p7GZ",
}
EXTENSION = {"id": 266262004, "type": "Bot", "account": {"id": 266262001}, "status": "Enabled"}


def _calls(adapter: ScriptedAdapter, hook: BotRecordingHook | None = None) -> InstallCalls:
    transport = HttpTransport(BASE_URL, 5.0, session_with(adapter), [hook] if hook else [])
    return InstallCalls(SETTINGS, transport)


def test_the_code_is_exchanged_with_basic_client_auth_and_the_redirect_uri() -> None:
    adapter = ScriptedAdapter().reply(200, GRANT)

    assert _calls(adapter).exchange_code("the-code", REDIRECT) == GRANT

    sent = adapter.sent[0]
    assert (sent.method, sent.path) == ("POST", "/restapi/oauth/token")
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    assert dict(parse_qsl((sent.body or b"").decode())) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": REDIRECT,
    }


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        pytest.param(
            400,
            {
                "error": "invalid_grant",
                "error_description": "Redirect URIs do not match",
                "errors": [{"errorCode": "OAU-109", "message": "Redirect URIs do not match"}],
            },
            "OAU-109",
            id="redirect-mismatch",
        ),
        pytest.param(
            400,
            {"error": "invalid_grant", "errors": [{"errorCode": "OAU-251", "message": "used"}]},
            "OAU-251",
            id="used-code",
        ),
        pytest.param(401, {"error": "invalid_client"}, "invalid_client", id="wrong-app"),
    ],
)
def test_a_refused_code_is_an_auth_error_with_the_platforms_code(
    status: int, body: dict[str, object], code: str
) -> None:
    adapter = ScriptedAdapter().reply(status, body)

    with pytest.raises(AuthError) as refused:
        _calls(adapter).exchange_code("the-code", REDIRECT)

    assert (refused.value.status, refused.value.error_code) == (status, code)


def test_whoami_asks_the_extension_endpoint_with_the_given_token() -> None:
    adapter = ScriptedAdapter().reply(200, EXTENSION)

    identity = _calls(adapter).whoami("bot-token")

    assert identity == BotIdentity("266262004", "266262001", "Bot")
    assert identity == ("266262004", "266262001", "Bot")  # a plain tuple too
    sent = adapter.sent[0]
    assert (sent.method, sent.path) == ("GET", "/restapi/v1.0/account/~/extension/~")
    assert sent.headers["Authorization"] == "Bearer bot-token"


def test_a_refused_token_is_unauthorized() -> None:
    adapter = ScriptedAdapter().reply(401, {"errorCode": "OAU-149", "message": "unparsable"})

    with pytest.raises(UnauthorizedError):
        _calls(adapter).whoami("bad-token")


def test_an_extension_without_ids_is_the_platforms_failure() -> None:
    adapter = ScriptedAdapter().reply(200, {"type": "Bot"})

    with pytest.raises(ServerError, match="without an extension id"):
        _calls(adapter).whoami("bot-token")


def test_both_calls_pass_the_rate_limit_hooks_in_the_specs_groups() -> None:
    hook = BotRecordingHook()
    adapter = ScriptedAdapter().reply(200, GRANT).reply(200, EXTENSION)
    calls = _calls(adapter, hook)

    calls.exchange_code("the-code", REDIRECT)
    calls.whoami("bot-token")

    before = [(group, bot) for kind, group, bot in hook.seen if kind == "before"]
    assert [group for group, _ in before] == ["Auth", throttling_group("readExtension")]
    # Never the configured bot's buckets (None), nor one shared: a bucket per code or token.
    code_bucket, whoami_bucket = (bot for _, bot in before)
    assert code_bucket is not None
    assert code_bucket.startswith(f"{INSTALL_BUCKET}:")
    assert "the-code" not in code_bucket
    assert whoami_bucket is not None
    assert whoami_bucket.startswith(f"{INSTALL_BUCKET}:")
    assert whoami_bucket != code_bucket
    assert "bot-token" not in whoami_bucket
    template = f"{API}/account/{{accountId}}/extension/{{extensionId}}"
    assert ENDPOINT_GROUPS[("GET", template)] == "Light" == throttling_group("readExtension")
