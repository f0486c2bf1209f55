"""Unit tests of the sandbox's pure parts, with an injected clock."""

from __future__ import annotations

import pytest

from sandbox import crypto
from sandbox.__main__ import parse_args
from sandbox.batch import multipart_response, parse_multipart
from sandbox.config import SandboxConfig
from sandbox.faults import Fault, FaultTable
from sandbox.oauth import _verify_jwt, make_jwt
from sandbox.ratelimit import RateLimiter, group_of
from sandbox.subscriptions import normalize_filter
from sandbox.tokens import TokenTable


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_encrypt_then_decrypt_round_trips_a_notification() -> None:
    """AES-128-ECB/PKCS7/base64 round-trips, with a fresh 16-byte key."""
    key = crypto.new_key()
    assert len(__import__("base64").b64decode(key)) == 16
    event = {"uuid": "u", "body": {"text": "héllo"}}
    assert crypto.decrypt_notification(key, crypto.encrypt_notification(key, event)) == event


def test_rate_limiter_window_and_restarting_penalty() -> None:
    """The 41st Medium hit is refused; a hit during the penalty restarts it."""
    clock = FakeClock()
    limiter = RateLimiter(60, clock)
    assert [limiter.hit("john", "Medium").remaining for _ in range(40)][-1] == 0
    assert not limiter.hit("john", "Medium").allowed
    clock.now += 59
    assert not limiter.hit("john", "Medium").allowed  # restarts: now ends at +119
    clock.now += 59
    assert not limiter.hit("john", "Medium").allowed
    clock.now += 61
    assert limiter.hit("john", "Medium").allowed


def test_route_groups_follow_the_spec() -> None:
    """Renew is Light, create subscription Medium, token Auth, post edits Medium."""
    assert group_of("POST", "/restapi/v1.0/subscription/x/renew") == "Light"
    assert group_of("POST", "/restapi/v1.0/subscription") == "Medium"
    assert group_of("POST", "/restapi/oauth/token") == "Auth"
    assert group_of("PUT", "/restapi/v1.0/glip/groups/1/bulk-assign") == "Medium"
    assert group_of("PUT", "/restapi/v1.0/glip/groups/1/posts/2/text") == "Medium"
    assert group_of("GET", "/restapi/v1.0/glip/chats/1/posts/2") == "Light"
    assert group_of("PATCH", "/restapi/v1.0/glip/chats/1/posts/2") == "Medium"
    assert group_of("DELETE", "/restapi/v1.0/glip/chats/1/posts/2") == "Medium"


def test_refresh_rotation_and_grace() -> None:
    """Refresh kills the old access token; the old refresh token answers until the grace ends."""
    clock = FakeClock()
    table = TokenTable(SandboxConfig(refresh_grace=10), clock)
    session = table.issue("1", "app")
    old_access, old_refresh = session.access_token, session.refresh_token
    assert old_refresh is not None
    assert table.refresh(old_refresh, "app") is session
    assert table.lookup(old_access) == ("unknown", None)
    assert table.refresh(old_refresh, "app") is session
    clock.now += 11
    assert table.refresh(old_refresh, "app") is None


def test_session_limit_revokes_the_oldest() -> None:
    """A sixth session of a person and app revokes the first."""
    table = TokenTable(SandboxConfig(max_sessions=5), FakeClock())
    sessions = [table.issue("1", "app") for _ in range(6)]
    assert table.lookup(sessions[0].access_token)[0] == "unknown"
    assert table.lookup(sessions[1].access_token)[0] == "ok"


def test_fault_table_spends_counts_and_matches_globs() -> None:
    """A rule matches its method and glob, and disappears after count uses."""
    table = FaultTable()
    table.add(Fault(path="/restapi/v1.0/glip/*", count=2, method="POST", status=503))
    assert table.take("GET", "/restapi/v1.0/glip/posts") is None
    assert table.take("POST", "/restapi/v1.0/glip/posts") is not None
    assert table.take("POST", "/restapi/v1.0/glip/groups/1/bulk-assign") is not None
    assert table.take("POST", "/restapi/v1.0/glip/posts") is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/restapi/v1.0/glip/posts", "/restapi/v1.0/glip/posts"),
        ("/glip/groups", "/restapi/v1.0/glip/groups"),
        ("/restapi/v1.0/account/~/extension/~", "/restapi/v1.0/account/~/extension/~"),
        ("/account/123/extension/456", "/restapi/v1.0/account/~/extension/~"),
        ("/glip/chats", None),
    ],
)
def test_event_filters_are_normalized(raw: str, canonical: str | None) -> None:
    """Filters are accepted with or without the /restapi/v1.0 prefix."""
    assert normalize_filter(raw) == canonical


def test_jwt_is_hs256_with_the_secret() -> None:
    """make_jwt's tokens verify with the same secret only."""
    token = make_jwt({"sub": "1"}, "s3cret")
    assert _verify_jwt(token, "s3cret") == {"sub": "1"}
    assert _verify_jwt(token, "other") is None
    assert _verify_jwt("a.b", "s3cret") is None


def test_multipart_round_trip() -> None:
    """A 207 batch answer parses back to its summary and parts."""
    resp = multipart_response([(200, {"id": "1"}), (404, {"errorCode": "CMN-102"})])
    assert resp.status == 207
    assert resp.body is not None
    parts = parse_multipart(resp.headers["Content-Type"], bytes(resp.body))  # type: ignore[arg-type]
    assert parts == [
        {"response": [{"status": 200}, {"status": 404}]},
        {"id": "1"},
        {"errorCode": "CMN-102"},
    ]


def test_rate_limit_flag_sets_one_group_and_keeps_the_others() -> None:
    """``--rate-limit Light=20`` (repeatable) limits Light to 20 per window; Medium keeps 40."""
    config = parse_args(["--rate-limit", "Light=20", "--rate-limit", "Heavy=3"])
    assert config.rate_limits == {"Light": 20, "Medium": 40, "Heavy": 3, "Auth": 5}
    limiter = RateLimiter(config.rate_window, FakeClock(), config.rate_limits)
    assert [limiter.hit("john", "Light").allowed for _ in range(21)] == [True] * 20 + [False]
    assert parse_args([]).rate_limits == {"Light": 50, "Medium": 40, "Heavy": 10, "Auth": 5}


@pytest.mark.parametrize("bad", ["Lite=20", "Light=0", "Light=x", "Light"])
def test_rate_limit_flag_rejects_unknown_groups_and_bad_counts(bad: str) -> None:
    """A group the platform does not have, or a count that is not positive, stops the CLI."""
    with pytest.raises(SystemExit):
        parse_args(["--rate-limit", bad])
