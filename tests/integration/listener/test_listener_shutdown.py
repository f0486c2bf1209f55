"""SIGTERM ends the listener within the watchdog's bound even when a step is stuck."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from listener.watchdog import EXIT_STATUS, SHUTDOWN_BOUND

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)  # connections complete in the kernel's backlog; nobody reads them
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def test_sigterm_ends_a_listener_stuck_in_a_step_with_the_watchdogs_status(
    start_listener: Any, silent_redis: str
) -> None:
    """Given a listener whose first Redis call hangs (a silent Redis, a two-minute socket
    timeout), when it gets SIGTERM it cannot finish the step it is in; the watchdog ends
    it at the shutdown bound, with status 70 and one line naming the step."""
    listener = start_listener("a", REDIS_URL=silent_redis, REDIS_SOCKET_TIMEOUT="120")

    status = listener.stop(grace=SHUTDOWN_BOUND + 30)  # SIGKILL only after that

    assert status == EXIT_STATUS
    exits = [e for e in listener.json_lines() if e["event"] == "watchdog_exit"]
    assert [(e["loop"], e["step"]) for e in exits] == [("shutdown", "acquiring")]
