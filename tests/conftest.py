"""Fixtures shared by every test: a real redis-server on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from devtools.localredis import LocalRedis
from devtools.sandbox_process import SandboxProcess


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LocalRedis]:
    """One real redis-server for the whole run, on a free loopback port."""
    with LocalRedis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: LocalRedis) -> Iterator[str]:
    """The URL of a Redis database that is empty when the test starts."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    """One sandbox (``python -m sandbox --port 0``) for the whole run.

    Shared: call ``sandbox.control.reset()`` at the start of each test that needs
    the seed state. Tests that need other flags start their own SandboxProcess.
    """
    with SandboxProcess() as proc:
        yield proc
