"""Sandbox processes for the sandbox's own end-to-end tests.

One default sandbox serves the whole session (reset before each test); a
second, "short" one with lifetimes of seconds serves the expiry tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.sandbox_process import SandboxProcess
from sandbox.testing import Person, as_person

SHORT_ARGS = (
    "--token-lifetime",
    "2",
    "--refresh-grace",
    "1",
    "--subscription-max-lifetime",
    "3",
    "--rate-window",
    "3",
)


@pytest.fixture(scope="session")
def sandbox_process(sandbox: SandboxProcess) -> SandboxProcess:
    """The default sandbox (seed accounts, default lifetimes), shared with tests/conftest.py."""
    return sandbox


@pytest.fixture
def sb(sandbox_process: SandboxProcess) -> SandboxProcess:
    """The default sandbox, back to its seed state."""
    sandbox_process.control.reset()
    return sandbox_process


@pytest.fixture
def gw(sb: SandboxProcess) -> Iterator[SandboxProcess]:
    """The shared sandbox from its seed state, reset again afterwards (gateway settings too).

    The sandbox must log no error while the test runs.
    """
    logged = len(sb.stderr())
    yield sb
    sb.control.reset()
    new_output = sb.stderr()[logged:]
    assert "Traceback" not in new_output, new_output
    assert " ERROR " not in new_output, new_output


@pytest.fixture(scope="session")
def short_process() -> Iterator[SandboxProcess]:
    """A sandbox whose tokens, subscriptions and rate window last seconds."""
    with SandboxProcess(*SHORT_ARGS) as proc:
        yield proc


@pytest.fixture
def short(short_process: SandboxProcess) -> SandboxProcess:
    """The short-lived sandbox, back to its seed state."""
    short_process.control.reset()
    return short_process


@pytest.fixture
def john(sb: SandboxProcess) -> Person:
    """John Smith, logged in to the default sandbox."""
    return as_person(sb.rest_url, "john.smith@sandbox.test", "john")


@pytest.fixture
def bot(sb: SandboxProcess) -> Person:
    """SmartFriend, logged in to the default sandbox."""
    return as_person(sb.rest_url, "smartfriend@sandbox.test", "smartfriend")
