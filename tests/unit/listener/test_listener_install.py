"""``/bot/oauth`` on the listener's HTTP port: private and public installs, and refusals.

The platform calls are a fake (:class:`FakeInstallPlatform`); the store is a
real ``InstallationStore`` on the test's redis-server; the handler is served
by the listener's own :class:`~listener.health.HealthServer` on a free port.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import redis
from structlog.testing import capture_logs

from glipbot.errors import (
    AuthError,
    NetworkError,
    PlatformError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
)
from glipbot.platform.installs import BotIdentity
from glipbot.redaction import REDACTED, clear_secrets, redact_text
from glipbot.settings import Settings
from glipbot.state.installations import Installation, InstallationStore
from glipbot.state.keys import Keys
from listener.health import HealthServer
from listener.install import INSTALL_PATH, MAX_BODY, InstallHandler
from listener.metrics import Metrics

KEYS = Keys("t:")
CLIENT_ID = "the-apps-client-id"
BOT_TOKEN = "private-bot-token-0123456789"
PUBLIC_TOKEN = "public-bot-token-9876543210"
CODE = "one-time-code-abcdef"
NOW = 1_700_000_000.0
#: What the platform says the tokens are (the request's own ids are never trusted).
BOT = BotIdentity("707406005", "707406001", "Bot")
PUBLIC_BOT = BotIdentity("266262004", "266262001", "Bot")
PRIVATE_BODY = {
    "access_token": BOT_TOKEN,
    "creator_extension_id": "230919004",
    "creator_account_id": "999999999",  # forged: the stored account is the platform's
    "client_id": CLIENT_ID,
}


@dataclass
class FakeInstallPlatform:
    """Answers ``whoami`` from ``identities`` and ``exchange_code`` from ``codes``.

    ``failure`` is raised by every call instead.
    """

    identities: dict[str, BotIdentity] = field(
        default_factory=lambda: {BOT_TOKEN: BOT, PUBLIC_TOKEN: PUBLIC_BOT}
    )
    codes: dict[str, str] = field(default_factory=lambda: {CODE: PUBLIC_TOKEN})
    failure: PlatformError | None = None
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def exchange_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        self.calls.append(("exchange_code", code, redirect_uri))
        if self.failure is not None:
            raise self.failure
        if code not in self.codes:
            raise AuthError("400 invalid_grant", status=400, error_code="OAU-251")
        return {"access_token": self.codes.pop(code), "owner_id": "x", "expires_in": 2147483647}

    def whoami(self, access_token: str) -> BotIdentity:
        self.calls.append(("whoami", access_token))
        if self.failure is not None:
            raise self.failure
        if access_token not in self.identities:
            raise UnauthorizedError("401 OAU-149", status=401, error_code="OAU-149")
        return self.identities[access_token]


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Listener:
    """The handler under test, its fakes and what it recorded."""

    platform: FakeInstallPlatform
    store: InstallationStore
    metrics: Metrics
    settings: Settings

    def installs(self, kind: str, result: str) -> float:
        return self.metrics.get("installs", kind=kind, result=result)

    def request(self, *requests: tuple[str, str, dict[str, Any]]) -> list[Answer]:
        """Serve the handler on a free port and send ``(method, path, aiohttp kwargs)`` in turn."""
        handler = InstallHandler(
            self.settings, self.platform, self.store, self.metrics, clock=lambda: NOW
        )
        server = HealthServer(
            lambda: {"status": "ok"},
            self.metrics,
            host="127.0.0.1",
            port=0,
            routes=handler.routes(),
        )

        async def scenario() -> list[Answer]:
            port = await server.start()
            answers = []
            try:
                async with aiohttp.ClientSession() as http:
                    for method, path, kwargs in requests:
                        url = f"http://127.0.0.1:{port}{path}"
                        async with http.request(method, url, **kwargs) as resp:
                            body = await resp.text()
                            answers.append(Answer(resp.status, body, dict(resp.headers)))
            finally:
                await server.stop()
            return answers

        return asyncio.run(scenario())

    def one(self, method: str, path: str = INSTALL_PATH, **kwargs: Any) -> Answer:
        return self.request((method, path, kwargs))[0]


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


@pytest.fixture
def make_listener(redis_client: redis.Redis) -> Callable[..., Listener]:
    def make(**settings: Any) -> Listener:
        return Listener(
            FakeInstallPlatform(),
            InstallationStore(redis_client, KEYS, clock=lambda: NOW),
            Metrics(),
            Settings(client_id=CLIENT_ID, **settings),
        )

    return make


@pytest.fixture
def listener(make_listener: Callable[..., Listener]) -> Listener:
    return make_listener()


# -- installs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"json": PRIVATE_BODY}, id="json"),
        pytest.param({"data": PRIVATE_BODY}, id="form"),
    ],
)
def test_a_private_install_stores_the_token_under_the_platforms_ids(
    listener: Listener, body: dict[str, Any]
) -> None:
    answer = listener.one("POST", **body)

    assert (answer.status, answer.body) == (200, "")
    assert listener.store.all() == [
        Installation(
            BOT.bot_id,
            BOT.account_id,
            "private",
            NOW,
            token=BOT_TOKEN,
            creator_extension_id="230919004",
        )
    ]
    assert listener.platform.calls == [("whoami", BOT_TOKEN)]
    assert listener.installs("private", "installed") == 1


def test_a_public_install_trades_the_code_with_the_url_it_arrived_at(listener: Listener) -> None:
    query = {"code": CODE, "creator_extension_id": "230919004"}

    answer = listener.one("GET", params=query)

    assert (answer.status, answer.body) == (200, "")
    (_, code, redirect_uri), whoami = listener.platform.calls
    assert code == CODE
    assert redirect_uri.startswith("http://127.0.0.1:")
    assert redirect_uri.endswith(INSTALL_PATH)
    assert whoami == ("whoami", PUBLIC_TOKEN)
    [stored] = listener.store.all()
    assert (stored.bot_id, stored.account_id, stored.kind, stored.token) == (
        PUBLIC_BOT.bot_id,
        PUBLIC_BOT.account_id,
        "public",
        PUBLIC_TOKEN,
    )
    assert stored.creator_extension_id == "230919004"
    assert listener.installs("public", "installed") == 1


def test_a_public_install_sends_the_configured_redirect_uri(
    make_listener: Callable[..., Listener],
) -> None:
    listener = make_listener(bot_redirect_uri="https://bots.example.com/bot/oauth")

    assert listener.one("GET", params={"code": CODE}).status == 200
    assert listener.platform.calls[0] == (
        "exchange_code",
        CODE,
        "https://bots.example.com/bot/oauth",
    )


def test_installing_again_replaces_the_token_and_adds_no_record(listener: Listener) -> None:
    listener.platform.identities["second-token-123456"] = BOT
    again = {**PRIVATE_BODY, "access_token": "second-token-123456"}
    before = listener.store.version()

    answers = listener.request(
        ("POST", INSTALL_PATH, {"json": PRIVATE_BODY}), ("POST", INSTALL_PATH, {"json": again})
    )

    assert [a.status for a in answers] == [200, 200]
    assert [i.token for i in listener.store.all()] == ["second-token-123456"]
    assert listener.store.version() == before + 2
    assert listener.installs("private", "installed") == 1
    assert listener.installs("private", "reinstalled") == 1


# -- refusals -------------------------------------------------------------------------


def _json(body: str) -> dict[str, Any]:
    return {"data": body, "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize(
    ("method", "kwargs", "failure", "status", "cause", "result"),
    [
        pytest.param(
            "POST",
            {"json": {"client_id": CLIENT_ID}},
            None,
            400,
            "missing_fields",
            "bad_request",
            id="no-token",
        ),
        pytest.param(
            "POST", _json("{oops"), None, 400, "unparseable_body", "bad_request", id="bad-json"
        ),
        pytest.param(
            "POST", _json("[1, 2]"), None, 400, "unparseable_body", "bad_request", id="not-object"
        ),
        pytest.param(
            "POST",
            {"data": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            None,
            400,
            "unparseable_body",
            "bad_request",
            id="not-utf8",
        ),
        pytest.param(
            "POST",
            {"json": {**PRIVATE_BODY, "client_id": "another-app"}},
            None,
            403,
            "wrong_client_id",
            "wrong_client",
            id="wrong-client",
        ),
        pytest.param(
            "POST",
            {"json": {**PRIVATE_BODY, "access_token": "unknown-token-000000"}},
            None,
            401,
            "token_refused",
            "refused",
            id="token-refused",
        ),
        pytest.param(
            "POST",
            {"json": {**PRIVATE_BODY, "padding": "x" * MAX_BODY}},
            None,
            413,
            "too_large",
            "too_large",
            id="too-large",
        ),
        pytest.param("GET", {}, None, 400, "missing_fields", "bad_request", id="no-code"),
        pytest.param(
            "GET",
            {"params": {"code": "used-code-000000"}},
            None,
            401,
            "code_refused",
            "refused",
            id="code-refused",
        ),
        pytest.param(
            "POST",
            {"json": PRIVATE_BODY},
            ServerError("503 CMN-211", status=503),
            502,
            "platform_unavailable",
            "platform_error",
            id="platform-5xx",
        ),
        pytest.param(
            "GET",
            {"params": {"code": CODE}},
            NetworkError("timed out"),
            502,
            "platform_unavailable",
            "platform_error",
            id="platform-unreachable",
        ),
        pytest.param(
            "POST",
            {"json": PRIVATE_BODY},
            RateLimitedError("429", retry_after=12.5, group="Light"),
            503,
            "rate_limited",
            "unavailable",
            id="rate-limited",
        ),
        pytest.param("PUT", {}, None, 405, "method_not_allowed", "method_not_allowed", id="put"),
    ],
)
def test_a_refused_install_answers_a_short_json_error_logs_its_cause_and_stores_nothing(
    listener: Listener,
    method: str,
    kwargs: dict[str, Any],
    failure: PlatformError | None,
    status: int,
    cause: str,
    result: str,
) -> None:
    listener.platform.failure = failure

    with capture_logs() as logs:
        answer = listener.one(method, **kwargs)

    assert answer.status == status
    assert answer.json()["error"] == cause
    assert set(answer.json()) == {"error", "message"}
    assert listener.store.all() == []
    [line] = [entry for entry in logs if entry["event"].startswith("install_")]
    expected_event = "install_refused" if status < 500 else "install_failed"
    assert (line["event"], line["cause"], line["status"]) == (expected_event, cause, status)
    kind = {"GET": "public", "POST": "private"}.get(method, "unknown")
    assert listener.installs(kind, result) == 1


def test_a_wrong_client_id_is_refused_before_the_token_is_tried(listener: Listener) -> None:
    listener.one("POST", json={**PRIVATE_BODY, "client_id": "another-app"})

    assert listener.platform.calls == []


def test_a_token_that_is_no_bots_is_refused(listener: Listener) -> None:
    listener.platform.identities[BOT_TOKEN] = BotIdentity("400000002", "400000001", "User")

    answer = listener.one("POST", json=PRIVATE_BODY)

    assert (answer.status, answer.json()["error"]) == (403, "not_a_bot")
    assert listener.store.all() == []


def test_other_methods_are_told_which_are_allowed(listener: Listener) -> None:
    answer = listener.one("DELETE")

    assert (answer.status, answer.headers["Allow"]) == (405, "GET, POST")


def test_a_rate_limited_platform_says_when_to_come_back(listener: Listener) -> None:
    listener.platform.failure = RateLimitedError("429", retry_after=12.5, group="Light")

    assert listener.one("POST", json=PRIVATE_BODY).headers["Retry-After"] == "13"


def test_a_redirect_uri_mismatch_names_the_setting_to_fix(listener: Listener) -> None:
    listener.platform.failure = AuthError(
        "400 invalid_grant OAU-109 Redirect URIs do not match", status=400, error_code="OAU-109"
    )

    with capture_logs() as logs:
        answer = listener.one("GET", params={"code": CODE})

    assert answer.status == 401
    [line] = [entry for entry in logs if entry["event"] == "install_refused"]
    assert line["error_code"] == "OAU-109"
    assert line["redirect_uri"].endswith(INSTALL_PATH)
    assert "BOT_REDIRECT_URI" in line["hint"]


def test_redis_down_answers_503(make_listener: Callable[..., Listener]) -> None:
    listener = make_listener()
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens on port 1
    listener.store = InstallationStore(dead, KEYS)

    answer = listener.one("POST", json=PRIVATE_BODY)

    assert (answer.status, answer.json()["error"]) == (503, "redis_unavailable")
    assert listener.installs("private", "unavailable") == 1


# -- secrets --------------------------------------------------------------------------


def test_no_token_or_code_is_ever_logged_and_both_are_masked(listener: Listener) -> None:
    listener.platform.identities["user-token-55555555"] = BotIdentity("1", "2", "User")
    with capture_logs() as logs:
        listener.request(
            ("POST", INSTALL_PATH, {"json": PRIVATE_BODY}),
            ("POST", INSTALL_PATH, {"data": {**PRIVATE_BODY, "client_id": "other"}}),
            ("POST", INSTALL_PATH, {"json": {**PRIVATE_BODY, "access_token": "forged-token-777"}}),
            (
                "POST",
                INSTALL_PATH,
                {"json": {**PRIVATE_BODY, "access_token": "user-token-55555555"}},
            ),
            ("GET", INSTALL_PATH, {"params": {"code": CODE, "creator_extension_id": "3"}}),
            ("GET", INSTALL_PATH, {"params": {"code": CODE}}),  # used: refused
        )

    logged = repr(logs)
    assert [entry["event"] for entry in logs if entry["event"].startswith("install_")] == [
        "install_accepted",
        "install_refused",
        "install_refused",
        "install_refused",
        "install_accepted",
        "install_refused",
    ]
    for secret in (BOT_TOKEN, PUBLIC_TOKEN, CODE, "forged-token-777", "user-token-55555555"):
        assert secret not in logged
        assert redact_text(f"seen {secret}") == f"seen {REDACTED}"
