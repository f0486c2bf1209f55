"""glipbot.state.installations: one record per bot, replaced on reinstall, kept on removal."""

from __future__ import annotations

import pytest
import redis

from glipbot.state.installations import Installation, InstallationStore
from glipbot.state.keys import Keys


def _store(client: redis.Redis) -> InstallationStore:
    return InstallationStore(client, Keys("t:"), clock=lambda: 500.0)


def _private(bot_id: str = "b1", token: str = "tok-1", at: float = 100.0) -> Installation:  # noqa: S107
    return Installation(bot_id, "acc-1", "private", at, token=token, creator_extension_id="p1")


def test_a_reinstall_replaces_the_token_and_never_adds_a_record(redis_client: redis.Redis) -> None:
    store = _store(redis_client)
    before = store.version()
    assert store.put(_private()) is True
    assert store.put(_private(token="tok-2")) is False
    assert [i.token for i in store.all()] == ["tok-2"]
    assert store.version() == before + 2


def test_removal_keeps_the_record_without_its_token(redis_client: redis.Redis) -> None:
    store = _store(redis_client)
    store.put(_private("b1", at=1.0))
    store.put(_private("b2", at=2.0))
    removed = store.remove("b1", "uninstalled")

    assert removed is not None
    assert (removed.state, removed.token, removed.removed_at) == ("removed", None, 500.0)
    assert store.get("b1") == removed
    assert [i.bot_id for i in store.active()] == ["b2"]
    assert [i.bot_id for i in store.all()] == ["b1", "b2"]
    assert store.remove("nobody", "x") is None


def test_the_public_view_never_shows_the_token() -> None:
    view = _private().public()
    assert "token" not in view
    assert view["has_token"] is True
    assert "tok-1" not in repr(_private())


def test_a_stored_record_round_trips_and_a_bad_one_is_refused() -> None:
    record = _private()
    assert Installation.from_json(record.to_json()) == record
    with pytest.raises(ValueError, match="unknown kind"):
        Installation.from_json(record.to_json().replace('"private"', '"shared"'))
