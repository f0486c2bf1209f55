"""worker.installations: every bot id routes to its own installation, or to none."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from fake_accounts import Accounts, FakeAccount

from glipbot.bot import CachingDirectory, InstallationInfo, PermanentHandlerError
from glipbot.errors import NetworkError, NotFoundError, TokenRefusedError, UnauthorizedError
from glipbot.platform.installed import InstallationToken, token_refused
from glipbot.state.installations import Installation, InstallationStore
from glipbot.state.keys import Keys
from glipbot.testing import FakeDirectory
from tests.support.clock import FakeClock
from worker.errors import UnknownInstallationError
from worker.installations import Installations, Route

KEYS = Keys("test:")
CONFIGURED_ID = "b1"


def _private(bot_id: str = "b2", token: str = "tok-2", account: str = "acc-2") -> Installation:  # noqa: S107
    return Installation(bot_id, account, "private", 1.0, token=token)


class World:
    """A store, the configured bot's route, two accounts with an installed bot each."""

    def __init__(self, client: redis.Redis) -> None:
        self.store = InstallationStore(client, KEYS)
        self.clock = FakeClock(100.0)
        self.accounts = Accounts(
            b2=FakeAccount(FakeDirectory().add_person("p1", "Paula"), "tok-2"),
            b3=FakeAccount(FakeDirectory().add_person("p1", "Quentin"), "tok-3"),
        )
        self.owner_asked = 0
        self.configured_directory = CachingDirectory(FakeDirectory.seed())
        configured = Route(None, "configured-rest", self.configured_directory, self._owner)
        self.installations = Installations(
            self.store, configured, self.accounts.connect, clock=self.clock
        )

    def _owner(self) -> str:
        self.owner_asked += 1
        return CONFIGURED_ID


@pytest.fixture
def world(redis_client: redis.Redis) -> World:
    return World(redis_client)


def test_the_configured_bot_routes_to_the_process_client_whose_owner_is_asked_once(
    world: World,
) -> None:
    world.store.ensure_configured(CONFIGURED_ID, "acc-1")

    route = world.installations.route(CONFIGURED_ID)
    again = world.installations.route(CONFIGURED_ID)

    assert (route.scope, route.rest, route.directory) == (
        None,
        "configured-rest",
        world.configured_directory,
    )
    assert route.info() == InstallationInfo(CONFIGURED_ID, "acc-1", "configured")
    assert again.info() == route.info()
    assert world.owner_asked == 1
    assert world.installations.scope_of(CONFIGURED_ID) is None
    assert world.accounts.connected == []


def test_a_reply_that_names_no_bot_is_the_configured_bots(world: World) -> None:
    assert world.installations.route(None).scope is None
    assert world.owner_asked == 0  # nothing to check: no id was given


def test_an_installed_bot_routes_to_its_own_client_token_and_directory(world: World) -> None:
    world.store.put(_private())

    route = world.installations.route("b2")

    assert route.scope == "b2"
    assert route.info() == InstallationInfo("b2", "acc-2", "private")
    assert route.rest.tokens.access_token() == "tok-2"
    assert route.directory.person("p1").first_name == "Paula"
    assert world.installations.scope_of("b2") == "b2"
    assert world.owner_asked == 0  # the configured bot's token is never needed


def test_two_installations_never_share_a_directory(world: World) -> None:
    """The same person id in two accounts: each bot sees its own, each cached apart."""
    world.store.put(_private())
    world.store.put(_private("b3", "tok-3", "acc-3"))

    paula = world.installations.route("b2").directory.person("p1")
    quentin = world.installations.route("b3").directory.person("p1")
    world.installations.route("b2").directory.person("p1")

    assert (paula.first_name, quentin.first_name) == ("Paula", "Quentin")
    assert world.accounts.accounts["b2"].directory.calls == [("person", "p1")]
    assert world.accounts.accounts["b3"].directory.calls == [("person", "p1")]


def test_an_unknown_bot_has_no_route_and_no_other_bots_token(world: World) -> None:
    with pytest.raises(UnknownInstallationError) as caught:
        world.installations.route("b9")

    assert (caught.value.bot_id, caught.value.state) == ("b9", "unknown")
    assert world.installations.scope_of("b9") is None
    assert world.accounts.connected == []


def test_a_removed_installation_has_no_route(world: World) -> None:
    world.store.put(_private())
    world.installations.route("b2")
    world.store.remove("b2", "uninstalled")
    world.clock.now += 1.0  # the version is looked at again

    with pytest.raises(UnknownInstallationError, match="removed"):
        world.installations.route("b2")
    assert world.installations.scope_of("b2") == "b2"  # its events keep their ids


def test_a_configured_record_of_another_bot_than_the_token_owner_has_no_route(
    world: World,
) -> None:
    """The settings changed: the record names the old bot, whose token the store no longer has."""
    world.store.ensure_configured("b0", "acc-0")

    with pytest.raises(UnknownInstallationError, match="not_configured"):
        world.installations.route("b0")


def test_a_new_installation_answers_at_once_and_a_reinstall_within_the_next_look(
    world: World,
) -> None:
    with pytest.raises(UnknownInstallationError):
        world.installations.route("b2")
    world.store.put(_private())
    first = world.installations.route("b2")  # not known: read again at once

    world.store.put(_private(token="tok-2b"))
    cached = world.installations.route("b2")  # within REFRESH_INTERVAL: the record is trusted
    world.clock.now += 1.0
    fresh = world.installations.route("b2")

    assert cached is first
    assert fresh.rest.tokens.access_token() == "tok-2b"
    assert world.accounts.connected == ["b2", "b2"]


def test_an_unchanged_installation_keeps_its_client_and_warm_directory(world: World) -> None:
    world.store.put(_private())
    first = world.installations.route("b2")
    world.store.put(_private("b3", "tok-3", "acc-3"))  # another change moves the version
    world.clock.now += 1.0

    assert world.installations.route("b2") is first


def test_a_refused_token_is_read_again_and_a_reinstalls_token_is_used(world: World) -> None:
    world.store.put(_private(token="tok-old"))
    route = world.installations.route("b2")
    world.store.put(_private(token="tok-2"))  # reinstalled; the account takes the new token

    person = route.directory.person("p1")

    assert person.first_name == "Paula"
    assert route.rest.tokens.access_token() == "tok-2"


def test_a_refused_token_of_a_removed_bot_is_a_permanent_refusal(world: World) -> None:
    world.store.put(_private(token="tok-gone"))
    route = world.installations.route("b2")

    with pytest.raises(TokenRefusedError) as caught:
        route.directory.person("p1")

    assert caught.value.bot_id == "b2"
    assert "tok-gone" not in str(caught.value)
    assert token_refused(caught.value, "b2")


def test_the_token_source_replaces_a_refused_token_only_by_another() -> None:
    stored: dict[str, Any] = {"b2": "tok-2"}
    source = InstallationToken("b2", "tok-2", stored.get)

    with pytest.raises(TokenRefusedError):
        source.on_unauthorized("tok-2")
    stored["b2"] = "tok-3"
    assert source.on_unauthorized("tok-2") == "tok-3"
    assert source.access_token() == "tok-3"


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (TokenRefusedError("b2"), True),
        (UnauthorizedError("401", status=401), True),
        (NotFoundError("404 OAU-232", status=404, error_code="OAU-232"), True),
        (NotFoundError("404 CMN-102", status=404, error_code="CMN-102"), False),
        (NetworkError("timed out"), False),
    ],
)
def test_what_counts_as_a_refused_token(error: Exception, refused: bool) -> None:
    wrapped = PermanentHandlerError("failed", handler="h", event_uuid="u", group_id="g")
    wrapped.__cause__ = error  # as ``raise ... from error`` chains it

    assert token_refused(wrapped, "b2") is refused
    assert token_refused(wrapped, None) is False  # the configured bot's: the token store's
