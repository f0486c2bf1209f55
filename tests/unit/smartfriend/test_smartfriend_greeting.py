"""SmartFriend says hello when added to a chat, as in the seed."""

from __future__ import annotations

from glipbot.testing import BOT_ID, JOHN_ID, FakeDirectory, simulate_join, simulate_post
from tasks.smartfriend import bot


def test_joining_johns_private_chat_greets_john_exactly_as_the_seed() -> None:
    replies = simulate_join(bot)
    assert [r.text for r in replies] == ["Hi John, Nice to meet you! How can I help you?"]


def test_joining_a_group_greets_the_other_members_by_first_name() -> None:
    directory = FakeDirectory.seed().add_person("1002", "Jane").add_person("1003", "Bob")
    replies = simulate_join(bot, members=(JOHN_ID, "1002", "1003", BOT_ID), directory=directory)
    assert replies[0].text == "Hi John, Jane and Bob, Nice to meet you! How can I help you?"


def test_joining_a_big_group_greets_everyone() -> None:
    members = (JOHN_ID, "1002", "1003", "1004", BOT_ID)
    directory = FakeDirectory.seed()
    for person in members[1:-1]:
        directory.add_person(person, f"P{person}")
    replies = simulate_join(bot, members=members, directory=directory)
    assert replies[0].text == "Hi everyone, Nice to meet you! How can I help you?"


def test_an_unknown_person_is_greeted_generically() -> None:
    replies = simulate_join(bot, members=("4242", BOT_ID))
    assert replies[0].text == "Hi there, Nice to meet you! How can I help you?"


def test_a_bare_hi_gets_a_hello_by_first_name() -> None:
    assert simulate_post(bot, "Hi SmartFriend!")[0].text.startswith("Hi John! How can I help you?")
