"""``python -m sandbox`` as a child process of a test or a benchmark.

::

    with SandboxProcess("--token-lifetime", "5") as sb:
        john = as_person(sb.rest_url, "john.smith@sandbox.test", "john")
        sb.control.fail("POST", "/restapi/v1.0/glip/posts", count=1, status=503)

The sandbox is started by command line, never imported, and driven through
its HTTP API with :mod:`sandbox.testing`'s clients.
"""

from __future__ import annotations

import json
import sys
from types import TracebackType
from typing import Any

from devtools.processes import STOP_GRACE, ManagedProcess, ProcessStartError
from sandbox.testing import SandboxControl

START_TIMEOUT = 15.0


class SandboxStartError(ProcessStartError):
    """The sandbox process did not announce its addresses in time."""


class SandboxProcess:
    """``python -m sandbox --port 0 *extra_args`` as a child process (a context manager)."""

    def __init__(self, *extra_args: str, start_timeout: float = START_TIMEOUT) -> None:
        self.args = [sys.executable, "-m", "sandbox", "--port", "0", *extra_args]
        self.start_timeout = start_timeout
        self.process: ManagedProcess | None = None
        self.info: dict[str, Any] = {}

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the REST API."""
        return str(self.info["rest_url"])

    @property
    def pubnub_origin(self) -> str:
        """``127.0.0.1:PORT`` to give the pubnub SDK as ``origin``."""
        return str(self.info["pubnub_origin"])

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT/ws``: the WebSocket gateway (on the REST port)."""
        return str(self.info["ws_url"])

    @property
    def control_url(self) -> str:
        """Base URL of the control API."""
        return str(self.info["control_url"])

    @property
    def pid(self) -> int:
        """The child's process id."""
        if self.process is None:
            raise RuntimeError("the sandbox was not started")
        return self.process.pid

    def start(self) -> SandboxProcess:
        """Start the child and wait for its JSON line (the addresses it listens on)."""
        self.process = ManagedProcess(self.args, name="sandbox", stdout="pipe").start()
        try:
            self.info = json.loads(self.process.read_line(self.start_timeout))
        except ProcessStartError as exc:
            self.stop()
            raise SandboxStartError(str(exc)) from None
        except BaseException:
            self.stop()
            raise
        self.control = SandboxControl(self.control_url)
        return self

    def stderr(self) -> str:
        """Everything the child logged so far (still readable after :meth:`stop`)."""
        return self.process.output() if self.process is not None else ""

    def stop(self, timeout: float = STOP_GRACE) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL if needed."""
        if self.process is not None:
            self.process.close(timeout)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
