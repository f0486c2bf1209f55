"""Accounts: who belongs where, new ids, logins, and the indexes that keep many accounts cheap."""

from __future__ import annotations

from dataclasses import replace

from sandbox.accounts import Account, Directory
from sandbox.config import SEED_PATH
from sandbox.seed import SeedPerson, load_seed
from sandbox.store import Store
from tests.support.clock import FakeClock

SEED = load_seed(SEED_PATH)


def person(directory: Directory, account: Account, email: str, number: str = "") -> SeedPerson:
    return directory.add_person(
        SeedPerson(
            id=directory.new_person_id(),
            first_name="A",
            last_name="B",
            email=email,
            password="pw",
            extension_number=number,
            account_id=account.id,
        )
    )


def test_the_seed_people_form_the_seed_account() -> None:
    directory = Directory(SEED)
    assert list(directory.accounts) == ["300000001"]
    assert {p.account_id for p in directory.persons.values()} == {"300000001"}
    assert [p.id for p in directory.members("300000001")][:2] == ["400000001", "400000002"]
    assert directory.accounts["300000001"].next_extension == 105


def test_new_ids_follow_the_seed_and_survive_a_reset() -> None:
    """An id given out before a reset is never given out again."""
    directory = Directory(SEED)
    assert (directory.new_account_id(), directory.new_person_id()) == ("300000002", "400000006")
    directory.reset(SEED)
    assert (directory.new_account_id(), directory.new_person_id()) == ("300000003", "400000007")


def test_people_of_two_accounts_are_not_in_the_same_account() -> None:
    directory = Directory(SEED)
    other = directory.add_account(Account(directory.new_account_id(), "Other"))
    stranger = person(directory, other, "s@other.test")
    assert directory.same_account("400000002", "400000003")
    assert not directory.same_account("400000002", stranger.id)
    assert not directory.same_account("400000002", "999")
    assert directory.remove_person(stranger.id) == stranger
    assert directory.person_by_email("s@other.test") is None
    assert list(directory.members(other.id)) == []


def test_main_number_logins_look_only_in_the_account_of_that_number() -> None:
    """Extension 101 of another account is not John, whose account owns the main number."""
    directory = Directory(SEED)
    other = directory.add_account(Account(directory.new_account_id(), "Other", "+16505550999"))
    twin = person(directory, other, "twin@other.test", "101")
    assert directory.find_login("+16505550100", "101").id == "400000002"  # type: ignore[union-attr]
    assert directory.find_login("+16505550999", "101") == twin
    assert directory.find_login("+16505550999", "102") is None
    assert directory.find_login("TWIN@other.test", "") == twin
    assert directory.find_login("+16505550102", "").id == "400000003"  # type: ignore[union-attr]


def test_the_store_indexes_chats_per_person() -> None:
    """Listing and finding chats look at the person's chats only; bulk changes keep the index."""
    store = Store(SEED, FakeClock())
    team = store.create_group("Team", ["400000002", "400000003"], name="T")
    chat = store.create_group("PrivateChat", ["400000002", "400000001"])
    assert [g.id for g in store.groups_of("400000002")][:2] == [chat.id, team.id]
    assert store.find_private_chat("400000001", "400000002") is chat
    store.change_members(team, ["400000004"], ["400000003"])
    assert store.visible_group(team.id, "400000004") is team
    assert store.visible_group(team.id, "400000003") is None
    assert team.id not in {g.id for g in store.groups_of("400000003")}


def test_a_person_shows_the_company_of_their_account() -> None:
    store = Store(SEED, FakeClock())
    other = store.directory.add_account(Account(store.directory.new_account_id(), "Other"))
    added = store.add_person(
        replace(SEED.persons[1], id="400000099", email="x@y.test", account_id=other.id)
    )
    assert store.person_json(added)["companyId"] == other.id
    assert store.person_json(store.person("400000002"))["companyId"] == "300000001"  # type: ignore[arg-type]
    store.reset(SEED)
    assert store.person("400000099") is None
