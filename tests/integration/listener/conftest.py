"""Fixtures of the listener's integration tests: sandbox, listener processes, John's chat."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devtools.sandbox_process import SandboxProcess
from sandbox.testing import as_person
from tests.integration.listener.listener_support import (
    BOT_ID,
    LEASE_TTL,
    SUBSCRIPTION_LIFETIME,
    ListenerProcess,
)


@pytest.fixture
def sandbox() -> Iterator[SandboxProcess]:
    """A sandbox whose subscriptions live 6 s (renewals happen during every test)."""
    with SandboxProcess(
        "--subscription-max-lifetime", SUBSCRIPTION_LIFETIME, "--rate-window", "10"
    ) as sb:
        yield sb


@pytest.fixture
def listener_env(sandbox: SandboxProcess, redis_url: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RINGCENTRAL_", "REDIS_"))},
        "RINGCENTRAL_SERVER_URL": sandbox.rest_url,
        "PUBNUB_ORIGIN": sandbox.pubnub_origin,
        "REDIS_URL": redis_url,
        "LISTENER_HEALTH_PORT": "0",
        "LISTENER_LEASE_TTL": LEASE_TTL,
        "SUBSCRIPTION_EXPIRES_IN": SUBSCRIPTION_LIFETIME,
        # A third of the lifetime: the margin the keeper would use anyway (at most that).
        "SUBSCRIPTION_RENEW_MARGIN": str(float(SUBSCRIPTION_LIFETIME) / 3),
        "SUBSCRIPTION_CHECK_INTERVAL": "1",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def start_listener(listener_env: dict[str, str]) -> Iterator[Callable[..., ListenerProcess]]:
    """Start listener processes; every one is stopped at teardown."""
    started: list[ListenerProcess] = []

    def start(name: str = "a", **env: str) -> ListenerProcess:
        proc = ListenerProcess({**listener_env, "LISTENER_INSTANCE": name, **env}, name)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


@pytest.fixture
def john_chat(sandbox: SandboxProcess) -> tuple[Any, str]:
    """John's session and his private chat with the bot."""
    john = as_person(sandbox.rest_url, "john.smith@sandbox.test", "john")
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [{"id": BOT_ID}]})
    chat.raise_for_status()
    return john, str(chat.json()["id"])
