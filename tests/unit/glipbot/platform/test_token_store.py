"""TokenStore: one shared token in Redis, refreshed single-flight under a lock."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import redis
from platform_fakes import FakeAuth, FakeClock
from structlog.testing import capture_logs

from glipbot.errors import AuthError, LoginRefusedError, TransientError
from glipbot.platform.tokens import Token, TokenStore
from glipbot.settings import Settings
from glipbot.state.keys import Keys

SETTINGS = Settings(key_prefix="test:")
KEYS = Keys.from_settings(SETTINGS)


def _store(
    redis_client: redis.Redis,
    auth: FakeAuth,
    clock: FakeClock,
    settings: Settings = SETTINGS,
    **kw: float,
) -> TokenStore:
    return TokenStore(settings, redis_client, auth, clock, **kw)  # type: ignore[arg-type]


def test_the_first_call_logs_in_and_shares_the_token(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(), FakeClock()

    token = _store(redis_client, auth, clock).access_token()

    assert token == "access-1-login"
    stored = json.loads(redis_client.get(KEYS.token))
    assert stored["access_token"] == token
    assert stored["expires_at"] == clock.now + 3600
    assert stored["owner_id"] == "bot-1"
    assert _store(redis_client, FakeAuth(), clock).access_token() == token
    assert auth.calls == ["login"]
    assert _store(redis_client, auth, clock).counters() == {"logins": 1, "refreshes": 0}


def test_a_fresh_token_is_used_without_any_call(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(), FakeClock()
    store = _store(redis_client, auth, clock)
    first = store.access_token()

    clock.advance(3600 - 61)

    assert store.access_token() == first
    assert auth.calls == ["login"]


def test_a_token_about_to_expire_is_refreshed(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(), FakeClock()
    store = _store(redis_client, auth, clock)
    store.access_token()

    clock.advance(3600 - 59)

    assert store.access_token() == "access-2-refresh"
    assert auth.calls == ["login", "refresh"]
    assert store.counters() == {"logins": 1, "refreshes": 1}


def test_the_margin_is_capped_at_half_a_short_lifetime(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(expires_in=4), FakeClock()
    store = _store(redis_client, auth, clock)
    store.access_token()

    clock.advance(1.9)
    assert store.access_token() == "access-1-login"
    clock.advance(0.2)
    assert store.access_token() == "access-2-refresh"


def test_a_refused_refresh_falls_back_to_logging_in(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(refuse_refresh=True), FakeClock()
    store = _store(redis_client, auth, clock)
    store.access_token()
    clock.advance(3600)

    assert store.access_token() == "access-2-login"
    assert auth.calls == ["login", "refresh-refused", "login"]
    assert store.counters() == {"logins": 2, "refreshes": 0}


def test_an_expired_refresh_token_is_not_tried(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(), FakeClock()
    store = _store(redis_client, auth, clock)
    store.access_token()
    clock.advance(604800 + 1)

    store.access_token()

    assert auth.calls == ["login", "login"]


def test_concurrent_callers_on_an_expired_token_refresh_once(redis_client: redis.Redis) -> None:
    """Given an expired token and eight threads, each with its own store (as processes have),
    when they all ask at once, exactly one refresh happens and all get its token."""
    auth, clock = FakeAuth(delay=0.2), FakeClock()
    _store(redis_client, auth, clock).access_token()
    clock.advance(3600)
    stores = [_store(redis_client, auth, clock) for _ in range(8)]
    start = threading.Barrier(len(stores))

    def ask(store: TokenStore) -> str:
        start.wait()
        return store.access_token()

    with ThreadPoolExecutor(len(stores)) as pool:
        tokens = set(pool.map(ask, stores))

    assert tokens == {"access-2-refresh"}
    assert auth.calls == ["login", "refresh"]


def test_a_stale_401_after_someone_refreshed_costs_nothing(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(), FakeClock()
    worker_a, worker_b = _store(redis_client, auth, clock), _store(redis_client, auth, clock)
    old = worker_a.access_token()
    new = worker_b.on_unauthorized(old)

    assert worker_a.on_unauthorized(old) == new == "access-2-refresh"
    assert auth.calls == ["login", "refresh"]


def test_a_401_on_the_current_token_forces_a_refresh(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(), FakeClock()
    store = _store(redis_client, auth, clock)
    current = store.access_token()

    assert store.on_unauthorized(current) == "access-2-refresh"
    assert store.access_token() == "access-2-refresh"


def test_concurrent_401s_on_the_same_token_refresh_once(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(delay=0.1), FakeClock()
    stale = _store(redis_client, auth, clock).access_token()
    stores = [_store(redis_client, auth, clock) for _ in range(6)]

    with ThreadPoolExecutor(len(stores)) as pool:
        tokens = set(pool.map(lambda s: s.on_unauthorized(stale), stores))

    assert tokens == {"access-2-refresh"}
    assert auth.calls == ["login", "refresh"]


def test_a_busy_lock_without_a_usable_token_is_transient(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(), FakeClock()
    holder = redis_client.lock(KEYS.token_lock, timeout=30)
    assert holder.acquire()
    try:
        with pytest.raises(TransientError):
            _store(redis_client, auth, clock, lock_wait=0.2).access_token()
    finally:
        holder.release()
    assert auth.calls == []


def test_a_busy_lock_leaves_a_not_yet_expired_token_usable(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(), FakeClock()
    token = _store(redis_client, auth, clock).access_token()
    clock.advance(3600 - 30)  # inside the refresh margin, not expired
    holder = redis_client.lock(KEYS.token_lock, timeout=30)
    assert holder.acquire()
    try:
        assert _store(redis_client, auth, clock, lock_wait=0.2).access_token() == token
    finally:
        holder.release()
    assert auth.calls == ["login"]


def test_the_owner_id_comes_from_the_token(redis_client: redis.Redis) -> None:
    auth = FakeAuth(owner="12345")

    assert _store(redis_client, auth, FakeClock()).owner_id() == "12345"
    assert "whoami" not in auth.calls


def test_a_corrupt_stored_token_is_replaced(redis_client: redis.Redis) -> None:
    redis_client.set(KEYS.token, "{not json")
    auth = FakeAuth()

    assert _store(redis_client, auth, FakeClock()).access_token() == "access-1-login"


def test_revoke_ends_the_session_and_forgets_the_token(redis_client: redis.Redis) -> None:
    auth = FakeAuth()
    store = _store(redis_client, auth, FakeClock())
    store.access_token()

    store.revoke()

    assert redis_client.get(KEYS.token) is None
    assert auth.calls == ["login", "revoke"]


BOT = Settings(key_prefix="test:", bot_token="static-bot-token-1")


def test_bot_token_mode_never_logs_in(redis_client: redis.Redis) -> None:
    auth = FakeAuth()
    store = _store(redis_client, auth, FakeClock(), BOT)

    assert store.access_token() == "static-bot-token-1"
    with pytest.raises(AuthError):
        store.on_unauthorized("static-bot-token-1")
    assert auth.calls == []
    assert redis_client.get(KEYS.token) is None


def test_bot_token_mode_learns_its_owner_id_once(redis_client: redis.Redis) -> None:
    auth = FakeAuth(owner="999")

    first = _store(redis_client, auth, FakeClock(), BOT).owner_id()
    second = _store(redis_client, auth, FakeClock(), BOT).owner_id()

    assert first == second == "999"
    assert auth.calls == ["whoami"]


def test_token_round_trips_through_json() -> None:
    token = Token("a", 10.0, "r", 20.0, "o", 1.0)

    assert Token.from_json(token.to_json()) == token


# -- refused credentials: one error line, a slow retry, the cause on record ---------------


def test_a_refused_login_is_logged_once_and_not_tried_again_before_retry_at(
    redis_client: redis.Redis,
) -> None:
    """The Auth group allows 5 logins a minute: callers in a loop must not spend them."""
    auth, clock = FakeAuth(refuse_login="RINGCENTRAL_PASSWORD"), FakeClock()
    store, other_process = _store(redis_client, auth, clock), _store(redis_client, auth, clock)

    with capture_logs() as logs:
        with pytest.raises(LoginRefusedError) as first:
            store.access_token()
        retries = []
        for caller in [store, other_process] * 5:
            clock.advance(10)
            with pytest.raises(LoginRefusedError) as again:
                caller.access_token()
            retries.append(again.value.retry_after)

    assert auth.calls == ["login-refused"]
    assert (first.value.setting, first.value.retry_after) == ("RINGCENTRAL_PASSWORD", 300.0)
    assert retries == [290.0 - 10 * i for i in range(10)]
    assert [(line["event"], line["log_level"], line["setting"]) for line in logs] == [
        ("login_refused", "error", "RINGCENTRAL_PASSWORD")
    ]


def test_refused_credentials_are_tried_again_after_the_interval(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(refuse_login="RINGCENTRAL_JWT"), FakeClock()
    store = _store(redis_client, auth, clock, login_retry_interval=120.0)
    with pytest.raises(LoginRefusedError):
        store.access_token()

    clock.advance(120.0)
    auth.refuse_login = None  # fixed on the platform's side (the JWT re-issued there)

    assert store.access_token() == "access-1-login"
    assert auth.calls == ["login-refused", "login"]
    assert store.login_failure() is None


def test_the_refusal_is_on_record_for_health_and_status(redis_client: redis.Redis) -> None:
    auth, clock = FakeAuth(refuse_login="RINGCENTRAL_CLIENT_SECRET"), FakeClock()
    store = _store(redis_client, auth, clock)
    with pytest.raises(LoginRefusedError):
        store.access_token()

    failure = store.login_failure()

    assert failure is not None
    assert failure.report() == {
        "setting": "RINGCENTRAL_CLIENT_SECRET",
        "message": "login refused (400 invalid_grant OAU-140): fix RINGCENTRAL_CLIENT_SECRET",
        "status": 400,
        "error_code": "OAU-140",
        "failed_at": clock.now,
        "retry_at": clock.now + 300.0,
    }
    stored = str(redis_client.get(KEYS.token_login_failure))
    assert SETTINGS.password not in stored
    assert SETTINGS.client_secret not in stored


def test_fixed_settings_log_in_at_once_and_clear_the_refusal(redis_client: redis.Redis) -> None:
    """A refusal binds the credentials refused, not a process restarted with the right ones."""
    clock = FakeClock()
    wrong = replace(SETTINGS, password="not-the-password")
    refused = _store(redis_client, FakeAuth(refuse_login="RINGCENTRAL_PASSWORD"), clock, wrong)
    with pytest.raises(LoginRefusedError):
        refused.access_token()
    assert refused.login_failure() is not None

    fixed = _store(redis_client, FakeAuth(), clock)
    assert fixed.login_failure() is None
    assert fixed.access_token() == "access-1-login"
    assert refused.login_failure() is None


def test_a_refused_bot_token_is_recorded_and_not_sent_again_before_retry_at(
    redis_client: redis.Redis,
) -> None:
    clock = FakeClock()
    store = _store(redis_client, FakeAuth(), clock, BOT)

    with capture_logs() as logs, pytest.raises(LoginRefusedError) as refused:
        store.on_unauthorized("static-bot-token-1")
    clock.advance(1)
    with pytest.raises(LoginRefusedError) as again:
        store.access_token()  # the REST client asks before every call
    clock.advance(299)

    assert (refused.value.setting, again.value.retry_after) == ("RINGCENTRAL_BOT_TOKEN", 299)
    assert [line["setting"] for line in logs] == ["RINGCENTRAL_BOT_TOKEN"]
    assert store.access_token() == "static-bot-token-1"
