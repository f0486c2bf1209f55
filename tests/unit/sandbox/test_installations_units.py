"""Installations without HTTP: codes, removed tokens, owner indexes, Delete events, settings."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.__main__ import parse_args
from sandbox.auth_codes import AuthCodeTable
from sandbox.config import SEED_PATH, SandboxConfig
from sandbox.errors import ApiError
from sandbox.installation_settings import InstallationSettings
from sandbox.installations import Installations, InstallError
from sandbox.notifications import Notifier
from sandbox.seed import load_seed
from sandbox.store import Store
from sandbox.subscriptions import EXTENSION, GLIP_POSTS, Subscription, SubscriptionTable
from sandbox.tokens import BOT_SCOPE, TokenTable
from tests.support.clock import FakeClock

SEED = load_seed(SEED_PATH)
URI = "https://bots.example/bot/oauth"


def refusal(exc: pytest.ExceptionInfo[ApiError]) -> tuple[int, str]:
    return exc.value.status, exc.value.body["errors"][0]["errorCode"]


def test_a_code_is_exchanged_once() -> None:
    codes = AuthCodeTable(FakeClock())
    code = codes.issue("42", "app", URI, 60)
    assert codes.redeem(code.value, "app", URI) == "42"
    with pytest.raises(ApiError) as again:
        codes.redeem(code.value, "app", URI)
    assert refusal(again) == (400, "OAU-106")
    assert again.value.body["error"] == "invalid_grant"


def test_a_code_expires_and_a_wrong_redirect_uri_does_not_use_it() -> None:
    clock = FakeClock()
    codes = AuthCodeTable(clock)
    code = codes.issue("42", "app", URI, 60)
    with pytest.raises(ApiError) as wrong:
        codes.redeem(code.value, "app", URI + "/")
    assert refusal(wrong) == (400, "OAU-109")
    with pytest.raises(ApiError) as other_app:
        codes.redeem(code.value, "other", URI)
    assert refusal(other_app) == (400, "OAU-110")
    clock.advance(60)
    with pytest.raises(ApiError) as expired:
        codes.redeem(code.value, "app", URI)
    assert refusal(expired) == (400, "OAU-108")
    with pytest.raises(ApiError) as unknown:
        codes.redeem("nope", "app", URI)
    assert refusal(unknown) == (400, "OAU-106")


def test_old_codes_are_forgotten() -> None:
    clock = FakeClock()
    codes = AuthCodeTable(clock)
    old = codes.issue("1", "app", URI, 1)
    clock.advance(3700)
    codes.issue("2", "app", URI, 1)
    with pytest.raises(ApiError, match="Invalid authorization code"):
        codes.redeem(old.value, "app", URI)


def test_a_bot_token_is_permanent_and_a_removed_extension_s_tokens_say_so() -> None:
    clock = FakeClock()
    tokens = TokenTable(SandboxConfig(), clock)
    session = tokens.issue_bot("42", "app")
    answer = session.token_response(clock())
    assert (answer["expires_in"], answer["owner_id"], answer["scope"]) == (
        2147483647,
        "42",
        BOT_SCOPE,
    )
    assert "refresh_token" not in answer
    tokens.issue("43", "app")
    assert tokens.remove_person("42") == 1
    assert tokens.lookup(session.access_token) == ("removed", None)
    assert tokens.sessions(person_id="42") == []
    assert len(tokens.sessions(person_id="43")) == 1
    tokens.reset({}, "app")
    assert tokens.lookup(session.access_token) == ("unknown", None)


def test_subscriptions_are_indexed_by_owner() -> None:
    clock = FakeClock()
    table = SubscriptionTable(SandboxConfig(), clock)
    mine = table.create("42", "app", [GLIP_POSTS], 10, True)
    other = table.create("43", "app", [GLIP_POSTS], 100, True)
    ws = table.create_websocket("42", "app", [EXTENSION], "session", "300")
    assert table.of_owner("42") == [mine, ws]
    clock.advance(10)
    assert table.of_owner("42") == [ws]
    assert table.get(mine.id) is None
    assert table.remove_owner("42") == [ws]
    assert table.of_owner("42") == []
    assert table.live() == [other]


class Hub:
    def __init__(self) -> None:
        self.published: list[tuple[str, object]] = []

    def publish(self, subscribe_key: str, channel: str, message: object) -> object:
        self.published.append((channel, message))
        return "1"


class Sockets:
    def __init__(self) -> None:
        self.delivered: list[dict[str, Any]] = []
        self.detached: list[Subscription] = []

    def deliver(self, subscription: Subscription, envelope: dict[str, Any]) -> None:
        self.delivered.append(envelope)

    def detach(self, subscription: Subscription) -> None:
        self.detached.append(subscription)


def test_delete_goes_only_to_the_bot_s_extension_subscriptions() -> None:
    clock = FakeClock()
    table = SubscriptionTable(SandboxConfig(), clock)
    table.create("42", "app", [GLIP_POSTS], 100, False)
    watching = table.create("42", "app", [GLIP_POSTS, EXTENSION], 100, False)
    table.create("43", "app", [EXTENSION], 100, False)
    hub = Hub()
    assert Notifier(table, hub, clock).extension_deleted("42") == 1
    [(channel, envelope)] = hub.published
    assert channel == watching.address
    assert isinstance(envelope, dict)
    assert envelope["event"] == "/restapi/v1.0/account/~/extension/42"
    assert (envelope["ownerId"], envelope["body"]) == (
        "42",
        {"extensionId": "42", "eventType": "Delete"},
    )


def installations(clock: FakeClock, **config: Any) -> tuple[Installations, Store, TokenTable]:
    settings = SandboxConfig(**config)
    store = Store(SEED, clock)
    tokens = TokenTable(settings, clock)
    table = SubscriptionTable(settings, clock)
    sockets = Sockets()
    notifier = Notifier(table, Hub(), clock, sockets)
    return Installations(settings, store, tokens, table, notifier, sockets, clock), store, tokens


def test_an_install_makes_an_account_a_bot_and_people_and_a_not_ready_window() -> None:
    clock = FakeClock()
    inst, store, _ = installations(clock, bot_not_ready=2.0)
    made = inst.install("public", URI, 2)
    bot = store.person(made.bot_id)
    assert bot is not None
    assert bot.bot
    assert bot.account_id == made.account_id
    assert bot.extension_number == "100"
    assert [p.extension_number for p in made.people] == ["101", "102"]
    assert made.creator_id == made.people[0].id
    assert made.redirect.method == "GET"
    assert "creator_extension_id=" + made.creator_id in made.redirect.url
    assert inst.not_ready(made.bot_id)
    assert not inst.not_ready(made.people[0].id)
    clock.advance(2)
    assert not inst.not_ready(made.bot_id)


def test_one_bot_per_account_and_a_new_account_needs_a_person() -> None:
    inst, _, _ = installations(FakeClock())
    with pytest.raises(InstallError, match="already has a bot"):
        inst.install("public", URI, 0, account_id="300000001")
    with pytest.raises(InstallError, match="at least one person"):
        inst.install("public", URI, 0)
    with pytest.raises(InstallError, match="unknown account"):
        inst.install("public", URI, 1, account_id="1")


def test_uninstall_removes_the_bot_and_its_tokens() -> None:
    clock = FakeClock()
    inst, store, tokens = installations(clock)
    made = inst.install("private", URI, 1)
    assert made.redirect.json is not None
    token = made.redirect.json["access_token"]
    assert tokens.lookup(token)[0] == "ok"
    done = inst.uninstall(made.bot_id)
    assert done is not None
    assert (done["state"], done["tokens_revoked"], done["kind"]) == ("uninstalled", 1, "private")
    assert tokens.lookup(token) == ("removed", None)
    assert store.person(made.bot_id) is None
    assert inst.uninstall(made.bot_id) is None
    assert inst.get(made.bot_id).state == "uninstalled"  # type: ignore[union-attr]
    again = inst.install("private", URI, 0, account_id=made.account_id)
    assert again.people == made.people


def test_settings_validate_and_the_cli_sets_them() -> None:
    settings = InstallationSettings.from_config(SandboxConfig())
    assert settings.to_json() == {
        "notReadySeconds": 2,
        "authCodeLifetime": 60,
        "redirectTimeout": 30,
        "removedErrorCode": "OAU-232",
    }
    changed = settings.updated({"notReadySeconds": 0, "removedErrorCode": "CMN-405"})
    assert (changed.not_ready_seconds, changed.removed_error_code) == (0, "CMN-405")
    for bad in (
        {"notReadySeconds": -1},
        {"authCodeLifetime": 0},
        {"redirectTimeout": True},
        {"removedErrorCode": "OAU-213"},
        {"other": 1},
    ):
        with pytest.raises(ApiError):
            settings.updated(bad)
    config = parse_args(["--bot-not-ready", "0.5", "--auth-code-lifetime", "5"])
    assert (config.bot_not_ready, config.auth_code_lifetime) == (0.5, 5.0)
    with pytest.raises(SystemExit):
        parse_args(["--redirect-timeout", "0"])
