"""CachingDirectory: few platform calls, fresh data after the TTL, bounded memory."""

from __future__ import annotations

import pytest

from glipbot.bot import CachingDirectory, Person
from glipbot.errors import NotFoundError
from glipbot.testing import JOHN_ID, FakeDirectory
from tests.support.clock import FakeClock


def test_repeated_lookups_call_the_platform_once() -> None:
    inner = FakeDirectory.seed()
    cache = CachingDirectory(inner)
    assert cache.person(JOHN_ID) == Person(JOHN_ID, "John", "Smith", "john.smith@example.com")
    cache.person(JOHN_ID)
    cache.get_person(JOHN_ID)
    assert inner.calls == [("person", JOHN_ID)]


def test_entries_expire_after_the_ttl() -> None:
    inner, clock = FakeDirectory.seed(), FakeClock(0.0)
    cache = CachingDirectory(inner, ttl=10, clock=clock)
    cache.person(JOHN_ID)
    clock.now = 9.9
    cache.person(JOHN_ID)
    clock.now = 10.0
    cache.person(JOHN_ID)
    assert inner.calls.count(("person", JOHN_ID)) == 2


def test_the_least_recently_used_entry_is_evicted() -> None:
    inner = FakeDirectory().add_person("a").add_person("b").add_person("c")
    cache = CachingDirectory(inner, maxsize=2)
    cache.person("a")
    cache.person("b")
    cache.person("a")  # a is now the most recent
    cache.person("c")  # evicts b
    cache.person("a")
    cache.person("b")
    assert inner.calls == [("person", p) for p in ("a", "b", "c", "b")]


def test_failures_are_not_cached() -> None:
    inner = FakeDirectory()
    cache = CachingDirectory(inner)
    for _ in range(2):
        with pytest.raises(NotFoundError):
            cache.person("nobody")
    assert len(inner.calls) == 2


def test_groups_are_typed_from_the_platform_json() -> None:
    group = CachingDirectory(FakeDirectory.seed()).group("1234")
    assert (group.type, group.members) == ("PrivateChat", ("1001", "9001"))
