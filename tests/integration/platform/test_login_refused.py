"""Refused credentials against the real sandbox: the setting named, one try per interval.

A wrong password, client secret, JWT or bot token cannot start working by
being tried again at once, and every try spends the Auth group's limit. The
token store tries once, records the refusal for every process sharing the
Redis, and answers every caller at once until the interval has passed.
"""

from __future__ import annotations

import pytest
from platform_it import SMARTFRIEND, PlatformFactory

from devtools.sandbox_process import SandboxProcess
from glipbot.errors import LoginRefusedError
from sandbox.testing import BOT_TOKEN

pytestmark = pytest.mark.integration

TOKEN_PATH = "/restapi/oauth/token"
#: Callers in a loop, as the listener's keeper and every worker task are.
ATTEMPTS = 10


@pytest.mark.parametrize(
    ("wrong", "setting", "message"),
    [
        (
            {"password": "not-the-password"},
            "RINGCENTRAL_PASSWORD",
            "the platform refused the password login of 'smartfriend@sandbox.test' "
            "(400 invalid_grant OAU-140): fix RINGCENTRAL_PASSWORD",
        ),
        (
            {"client_secret": "not-the-secret"},
            "RINGCENTRAL_CLIENT_SECRET",
            "the platform refused the app's client id or secret (401 invalid_client OAU-123): "
            "fix RINGCENTRAL_CLIENT_SECRET",
        ),
        (
            {"jwt": "eyJhbGciOiJIUzI1NiJ9.e30.bm90LXNpZ25lZA"},
            "RINGCENTRAL_JWT",
            "the platform refused the JWT login (400 invalid_grant OAU-140): fix RINGCENTRAL_JWT",
        ),
    ],
)
def test_a_refused_login_names_the_setting_and_is_tried_once(
    sandbox: SandboxProcess,
    make_platform: PlatformFactory,
    wrong: dict[str, str],
    setting: str,
    message: str,
) -> None:
    platform = make_platform(sandbox.rest_url, **wrong)
    other_process = make_platform(sandbox.rest_url, **wrong)

    refusals = []
    for caller in [platform, other_process] * (ATTEMPTS // 2):
        with pytest.raises(LoginRefusedError) as refused:
            caller.rest.list_subscriptions()
        refusals.append(refused.value)

    assert {(r.setting, str(r).partition(" (or ")[0]) for r in refusals} == {(setting, message)}
    assert all(r.retry_after and r.retry_after > 60 for r in refusals)
    assert len(sandbox.control.requests(path=TOKEN_PATH)) == 1
    failure = platform.tokens.login_failure()
    assert failure is not None
    assert failure.setting == setting


def test_fixed_settings_log_in_at_once_and_clear_the_refusal(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    """The operator fixes the password and restarts: no waiting out the old refusal."""
    refused = make_platform(sandbox.rest_url, password="not-the-password")
    with pytest.raises(LoginRefusedError):
        refused.rest.list_subscriptions()

    fixed = make_platform(sandbox.rest_url, **SMARTFRIEND)

    assert fixed.rest.list_subscriptions() == []
    assert fixed.tokens.login_failure() is None
    assert refused.tokens.login_failure() is None  # a successful login cleared the record
    assert len(sandbox.control.requests(path=TOKEN_PATH)) == 2


def test_a_refused_bot_token_names_its_setting_and_is_not_sent_again(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    platform = make_platform(sandbox.rest_url, bot_token=BOT_TOKEN + "-revoked")

    for _ in range(ATTEMPTS):
        with pytest.raises(LoginRefusedError) as refused:
            platform.rest.list_subscriptions()

    assert refused.value.setting == "RINGCENTRAL_BOT_TOKEN"
    assert len(sandbox.control.requests(path="/restapi/v1.0/subscription")) == 1
