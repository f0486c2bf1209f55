"""Failures from a real sandbox map onto glipbot.errors; an expired token recovers transparently."""

from __future__ import annotations

import pytest
from platform_it import GENERAL_TEAM_ID, JOHN_ID, SMARTFRIEND_ID, PlatformFactory

from devtools.ports import free_port
from devtools.sandbox_process import SandboxProcess
from glipbot.errors import NetworkError, NotFoundError, RateLimitedError, ServerError

pytestmark = pytest.mark.integration

POSTS = "/restapi/v1.0/glip/posts"


def test_429_carries_retry_after_and_group(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    rest = make_platform(sandbox.rest_url).rest
    sandbox.control.fail("POST", POSTS, status=429, retry_after=7)

    with pytest.raises(RateLimitedError) as caught:
        rest.create_post(GENERAL_TEAM_ID, "hi")

    assert caught.value.retry_after == 7.0
    assert caught.value.group == "Light"
    assert caught.value.rate_limit is not None


def test_503_carries_retry_after(sandbox: SandboxProcess, make_platform: PlatformFactory) -> None:
    rest = make_platform(sandbox.rest_url).rest
    sandbox.control.fail("GET", POSTS, status=503, retry_after=3)

    with pytest.raises(ServerError) as caught:
        rest.list_posts(GENERAL_TEAM_ID)

    assert (caught.value.status, caught.value.retry_after) == (503, 3.0)


def test_500_is_a_server_error(sandbox: SandboxProcess, make_platform: PlatformFactory) -> None:
    rest = make_platform(sandbox.rest_url).rest
    sandbox.control.fail("GET", POSTS, status=500)

    with pytest.raises(ServerError) as caught:
        rest.list_posts(GENERAL_TEAM_ID)

    assert caught.value.status == 500


def test_a_hanging_platform_is_a_network_error(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    rest = make_platform(sandbox.rest_url, http_timeout=0.3).rest
    rest.get_person("~")  # log in before the fault
    sandbox.control.fail("GET", POSTS, hang=2)

    with pytest.raises(NetworkError):
        rest.list_posts(GENERAL_TEAM_ID)


def test_a_closed_port_is_a_network_error(make_platform: PlatformFactory) -> None:
    rest = make_platform(f"http://127.0.0.1:{free_port()}", http_timeout=2).rest

    with pytest.raises(NetworkError):
        rest.get_person("~")


def test_an_unknown_chat_is_not_found(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    rest = make_platform(sandbox.rest_url).rest

    with pytest.raises(NotFoundError) as caught:
        rest.create_post("999999999", "hi")

    assert caught.value.status == 404


def test_an_expired_token_is_refreshed_mid_flight(
    sandbox: SandboxProcess, make_platform: PlatformFactory
) -> None:
    """Given a stored token the platform has expired, a call refreshes once and succeeds."""
    platform = make_platform(sandbox.rest_url)
    chat = platform.rest.create_group("PrivateChat", [SMARTFRIEND_ID, JOHN_ID])
    sandbox.control.expire_tokens()

    post = platform.rest.create_post(chat["id"], "still here")

    assert post["text"] == "still here"
    grants = [
        r["body"]["grant_type"] for r in sandbox.control.requests(path="/restapi/oauth/token")
    ]
    assert grants == ["password", "refresh_token"]
    assert platform.tokens.counters() == {"logins": 1, "refreshes": 1}
    statuses = [r["status"] for r in sandbox.control.requests(path=POSTS, method="POST")]
    assert statuses == [401, 200]
