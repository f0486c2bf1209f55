"""A listener with a wrong password says so once, names the setting, and retries slowly.

Before: it retried at full speed, spent the Auth group's limit (5 logins a
minute) within seconds, and from then on logged only ``RateLimitedError``.
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.sandbox_process import SandboxProcess
from tests.support.programs import ListenerProcess

pytestmark = pytest.mark.integration

TOKEN_PATH = "/restapi/oauth/token"
#: Bounds, not expectations.
START_TIMEOUT = 30.0


def _lines(listener: ListenerProcess, event: str) -> list[dict[str, Any]]:
    return [line for line in listener.json_lines() if line.get("event") == event]


def test_a_wrong_password_is_one_error_naming_it_then_a_slow_retry(
    sandbox: SandboxProcess, redis_url: str
) -> None:
    sandbox.control.reset()
    env = {
        "PATH": "/usr/bin:/bin",
        "RINGCENTRAL_SERVER_URL": sandbox.rest_url,
        "PUBNUB_ORIGIN": sandbox.pubnub_origin,
        "RINGCENTRAL_PASSWORD": "not-the-password",
        "REDIS_URL": redis_url,
        "LISTENER_HEALTH_PORT": "0",
        "LOG_FORMAT": "json",
    }
    listener = ListenerProcess(env, "wrong-password")
    try:
        [attempt] = listener.wait_ready(
            lambda: _lines(listener, "subscription_attempt_failed") or None,
            START_TIMEOUT,
            what="trying to subscribe",
        )
        refusals = _lines(listener, "login_refused")
        token_requests = sandbox.control.requests(path=TOKEN_PATH)
    finally:
        listener.close()

    assert [(r["level"], r["setting"]) for r in refusals] == [("error", "RINGCENTRAL_PASSWORD")]
    assert "fix RINGCENTRAL_PASSWORD" in refusals[0]["detail"]
    assert attempt["error"] == "LoginRefusedError"
    assert attempt["retry_in"] >= 240  # the next try waits minutes, not seconds
    assert [r["status"] for r in token_requests] == [400]  # one login, never a 429
