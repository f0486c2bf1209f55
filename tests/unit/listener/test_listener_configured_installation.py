"""The configured bot (``RINGCENTRAL_*``) is one installation, recorded at start, retried
until the platform and Redis answer, without a second record or a needless change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis
from structlog.testing import capture_logs

from glipbot.errors import LoginRefusedError, NetworkError, UnauthorizedError
from glipbot.platform.installs import BotIdentity, configured_identity
from glipbot.state.installations import Installation, InstallationStore
from glipbot.state.keys import Keys
from listener.configured import CONFIGURED_RETRY, keep_configured
from listener.metrics import Metrics

KEYS = Keys("t:")
CONFIGURED = BotIdentity("400000001", "400000000", "User")  # a user login works, as today


def _store(client: redis.Redis, now: float = 100.0) -> InstallationStore:
    return InstallationStore(client, KEYS, clock=lambda: now)


def _run(
    identify: Callable[[], BotIdentity], store: InstallationStore, metrics: Metrics
) -> tuple[Installation, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    installation = asyncio.run(keep_configured(identify, store, metrics, sleep=sleep))
    return installation, slept


def test_the_configured_bot_is_recorded_as_an_installation_without_its_token(
    redis_client: redis.Redis,
) -> None:
    store, metrics = _store(redis_client), Metrics()

    installation, slept = _run(lambda: CONFIGURED, store, metrics)

    assert store.all() == [installation]
    assert installation == Installation("400000001", "400000000", "configured", 100.0, token=None)
    assert slept == []
    assert metrics.get("installs", kind="configured", result="registered") == 1


def test_outages_are_logged_and_retried_with_back_off_until_it_is_recorded(
    redis_client: redis.Redis,
) -> None:
    failures: list[Exception] = [
        NetworkError("connection refused"),
        redis.ConnectionError("redis down"),
        LoginRefusedError("refused", setting="RINGCENTRAL_JWT", status=400),
    ]

    def identify() -> BotIdentity:
        if failures:
            raise failures.pop(0)
        return CONFIGURED

    store, metrics = _store(redis_client), Metrics()
    with capture_logs() as logs:
        installation, slept = _run(identify, store, metrics)

    assert store.get("400000001") == installation
    assert len(slept) == 3
    assert 0 < slept[0] < slept[1] < CONFIGURED_RETRY.cap
    assert slept[2] == CONFIGURED_RETRY.cap  # a refusal is tried again, slowly
    assert [line["event"] for line in logs] == [
        "configured_installation_failed",
        "configured_installation_failed",
        "configured_installation_failed",
        "configured_installation_registered",
    ]
    assert metrics.get("installs", kind="configured", result="failed") == 3


def test_a_restart_changes_nothing_and_keeps_the_install_time(redis_client: redis.Redis) -> None:
    _run(lambda: CONFIGURED, _store(redis_client, now=100.0), Metrics())
    store = _store(redis_client, now=500.0)
    version = store.version()

    installation, _ = _run(lambda: CONFIGURED, store, Metrics())

    assert (installation.installed_at, store.version()) == (100.0, version)


def test_a_removed_configured_bot_is_active_again_at_the_next_start(
    redis_client: redis.Redis,
) -> None:
    store = _store(redis_client)
    _run(lambda: CONFIGURED, store, Metrics())
    store.remove("400000001", "removed by ops")

    installation, _ = _run(lambda: CONFIGURED, store, Metrics())

    assert installation.active
    assert [i.bot_id for i in store.active()] == ["400000001"]


def test_another_bot_configured_before_is_removed(redis_client: redis.Redis) -> None:
    store = _store(redis_client)
    _run(lambda: BotIdentity("400000099", "400000000", "Bot"), store, Metrics())

    _run(lambda: CONFIGURED, store, Metrics())

    old = store.get("400000099")
    assert old is not None
    assert (old.state, old.removed_reason) == ("removed", "no longer the configured bot")
    assert [i.bot_id for i in store.active()] == ["400000001"]


class FakeTokens:
    """The configured bot's token store: ``stale`` is refused once."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def access_token(self) -> str:
        return "stale"

    def on_unauthorized(self, stale_token: str) -> str:
        self.refused.append(stale_token)
        return "fresh"

    def owner_id(self) -> str:
        return "400000001"


class FakeWhoami:
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def exchange_code(self, code: str, redirect_uri: str) -> dict[str, str]:
        raise AssertionError("the configured bot exchanges no code")

    def whoami(self, access_token: str) -> BotIdentity:
        self.tokens.append(access_token)
        if access_token == "stale":
            raise UnauthorizedError("401 OAU-128", status=401)
        return BotIdentity("400000001", "400000000", "Bot")


def test_the_configured_identity_is_the_token_owner_in_the_account_whoami_names() -> None:
    tokens, platform = FakeTokens(), FakeWhoami()

    identity = configured_identity(tokens, platform)

    assert identity == BotIdentity("400000001", "400000000", "Bot")
    assert (tokens.refused, platform.tokens) == (["stale"], ["stale", "fresh"])
