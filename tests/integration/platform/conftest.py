"""Fixtures of the platform client's integration tests: a real sandbox, real Redis."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from platform_it import SMARTFRIEND, PlatformFactory

from devtools.sandbox_process import SandboxProcess
from glipbot.platform import Platform, connect
from glipbot.platform.http import RequestHook
from glipbot.settings import Settings


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxProcess]:
    """One sandbox for a test module; see ``sandbox`` for the per-test reset."""
    with SandboxProcess("--rate-window", "5") as sb:
        yield sb


@pytest.fixture
def sandbox(shared_sandbox: SandboxProcess) -> SandboxProcess:
    """The module's sandbox, back in its seed state (no tokens, faults or records)."""
    shared_sandbox.control.reset()
    return shared_sandbox


@pytest.fixture
def make_platform(redis_url: str) -> Iterator[PlatformFactory]:
    """Build a connected :class:`Platform` from settings overrides; all closed afterwards."""
    made: list[Platform] = []

    def make(rest_url: str, hooks: Sequence[RequestHook] = (), **overrides: Any) -> Platform:
        values: dict[str, Any] = {"server_url": rest_url, "redis_url": redis_url, **SMARTFRIEND}
        values.update(overrides)
        platform = connect(Settings(**values), hooks=hooks)
        made.append(platform)
        return platform

    yield make
    for platform in made:
        platform.close()
