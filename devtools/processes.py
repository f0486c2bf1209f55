"""The one way to run a child program: start it, wait until it is ready, stop it.

A child starts from an argument list (never through a shell) as the leader of
a session, hence of a process group, of its own: stopping it reaches whatever
it forked too (Celery's pool, for one), and a launcher may exit while it goes
on (``make up``). Its output goes to a log file, never to a pipe nobody reads,
which could fill and block it; only a start-up line is read through a pipe,
when asked.

Stopping sends SIGTERM to the whole group, gives the leader a grace period to
exit, then sends SIGKILL to whatever is left of the group. :func:`stop_all`
does this for several groups at once, including groups started by an earlier
run (``make down`` knows only their pids).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from devtools.ports import port_open

STOP_GRACE = 10.0
#: After SIGKILL the leader is gone at once, unless nobody reaps it (it is not our child).
KILL_WAIT = 5.0
TAIL_LINES = 40
POLL_INTERVAL = 0.05


class WaitTimeoutError(AssertionError):
    """:func:`wait_for` gave up.

    An AssertionError, so that a test waiting for a condition fails as a failed assert does.
    """


class ProcessStartError(RuntimeError):
    """A child exited, or was not ready in time; the message ends with its recent output."""


class ProcessExitedError(RuntimeError):
    """A child that should be running has exited; the message ends with its recent output."""


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = POLL_INTERVAL) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Raises :class:`WaitTimeoutError` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


class Stoppable(Protocol):
    """What :func:`stop_all` needs of a process group."""

    def running(self) -> bool:
        """Whether the group's leader is still alive."""
        ...

    def signal(self, sig: int) -> bool:
        """Send ``sig`` to the whole group; False when nobody is left to receive it."""
        ...


def stop_all(groups: Sequence[Stoppable], grace: float = STOP_GRACE) -> list[Stoppable]:
    """Stop several process groups together; return those that were still running.

    SIGTERM goes to every group at once (in the order given), so that they
    shut down in parallel; after every leader has exited, or ``grace`` seconds,
    SIGKILL goes to every group, for a leader that would not stop or a child
    it left behind.
    """
    signalled = [group for group in groups if group.signal(signal.SIGTERM)]
    _wait_leaders(signalled, grace)
    for group in signalled:
        group.signal(signal.SIGKILL)
    _wait_leaders(signalled, KILL_WAIT)
    return signalled


def _wait_leaders(groups: Sequence[Stoppable], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(group.running() for group in groups) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class ProcessGroup:
    """A process group known only by its leader's pid, e.g. one a previous run started."""

    def __init__(self, pid: int) -> None:
        if pid <= 0:  # killpg(0) would signal our own group
            raise ValueError(f"not a process id: {pid}")
        self.pid = pid

    def running(self) -> bool:
        """Whether the leader is alive (a zombie child of ours is reaped, and is not)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:  # not our child: its own parent reaps it
            return True

    def signal(self, sig: int) -> bool:
        """Send ``sig`` to every process of the group; False when none is left."""
        return _signal_group(self.pid, sig)


class ManagedProcess:
    """A child program in a process group of its own, with its output in a log file.

    ``log`` is appended to; without one, a temporary file is used and deleted
    by :meth:`close` (:meth:`output` still answers afterwards). ``stdout``
    says where the child's standard output goes: ``"log"`` (with its standard
    error), ``"pipe"`` (for :meth:`read_line`), or a file (truncated first,
    also readable with :meth:`read_line`); its standard error always goes to
    the log. Use it as a context manager, or call :meth:`start` and
    :meth:`close`.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        log: Path | None = None,
        stdout: Literal["log", "pipe"] | Path = "log",
    ) -> None:
        self.argv = list(argv)
        self.name = name or Path(self.argv[0]).name
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._stdout = stdout
        self._owns_log = log is None
        if log is None:
            fd, path = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")
            os.close(fd)
            log = Path(path)
        self.log_path = log
        self._popen: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._line = b""
        self._final_output: str | None = None

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> ManagedProcess:
        """Start the child; return self."""
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was started already")
        try:
            with self.log_path.open("ab") as log:
                if isinstance(self._stdout, Path):
                    with self._stdout.open("wb") as out:
                        self._popen = self._spawn(out, log)
                elif self._stdout == "pipe":
                    self._popen = self._spawn(subprocess.PIPE, log)
                else:
                    self._popen = self._spawn(log, subprocess.STDOUT)
        except BaseException:  # e.g. no such program: leave no temporary log behind
            self.close()
            raise
        return self

    def _spawn(self, stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM to the group, SIGKILL to what is left after ``grace``; the exit status.

        The status is the leader's (negative: killed by that signal); None if
        it was never started.
        """
        if self._popen is None:
            return None
        stop_all([self], grace)
        self._popen.wait()
        self._stopped = True
        if self._popen.stdout is not None:
            self._popen.stdout.close()
        return self._popen.returncode

    def close(self, grace: float = STOP_GRACE) -> None:
        """Stop the child and delete a temporary log."""
        self.stop(grace)
        if self._owns_log and self._final_output is None:
            self._final_output = self.output()
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> ManagedProcess:
        return self if self._popen is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- state ----------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The child's process id, which is also its process group's id."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited and was reaped, else None."""
        return self._popen.returncode if self._popen is not None else None

    def running(self) -> bool:
        """Whether the child (the group's leader) is still alive."""
        return self._popen is not None and self._popen.poll() is None

    def signal(self, sig: int) -> bool:
        """Send ``sig`` to the child's whole group; False when there is nothing to signal."""
        if self._popen is None or self._stopped:
            return False
        return _signal_group(self._popen.pid, sig)

    def check_running(self) -> None:
        """Raise :class:`ProcessExitedError`, with the child's recent output, if it exited."""
        if not self.running():
            raise ProcessExitedError(
                f"{self.name} exited with status {self.returncode}" + self._tail()
            )

    # -- output ---------------------------------------------------------------------

    def output(self) -> str:
        """Everything the child wrote to its log so far."""
        if self._final_output is not None:
            return self._final_output
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` lines of :meth:`output`."""
        return "\n".join(self.output().splitlines()[-lines:])

    def _tail(self) -> str:
        where = "" if self._owns_log else f" ({self.log_path})"
        return f"\n--- last output of {self.name}{where} ---\n{self.tail()}"

    # -- readiness ------------------------------------------------------------------

    def wait_ready(
        self,
        predicate: Callable[[], Any],
        timeout: float,
        *,
        interval: float = POLL_INTERVAL,
        what: str = "becoming ready",
    ) -> Any:
        """Poll ``predicate`` until it returns something truthy, and return that.

        Raises :class:`ProcessStartError` if the child exits first or
        ``timeout`` seconds pass; its message says ``what`` was awaited (e.g.
        "answering PING") and ends with the child's recent output.
        """

        def ready() -> Any:
            value = predicate()
            if not value and not self.running():
                raise ProcessStartError(
                    f"{self.name} exited with status {self.returncode} before {what}" + self._tail()
                )
            return value

        try:
            return wait_for(ready, timeout, interval)
        except WaitTimeoutError:
            raise ProcessStartError(
                f"{self.name} timed out after {timeout:g} s before {what}" + self._tail()
            ) from None

    def wait_port(self, host: str, port: int, timeout: float) -> None:
        """Wait until the child accepts TCP connections on ``host:port``."""
        self.wait_ready(
            lambda: port_open(host, port), timeout, what=f"accepting connections on {host}:{port}"
        )

    def read_line(self, timeout: float) -> str:
        """Wait for the first line the child writes to its standard output; return it.

        Only with ``stdout="pipe"`` or a file; raises :class:`ProcessStartError`
        as :meth:`wait_ready` does.
        """
        if self._stdout == "log":
            raise RuntimeError(f"{self.name}: standard output goes to the log; nothing to read")
        line = self.wait_ready(self._first_line, timeout, what="printing its start-up line")
        return str(line)

    def _first_line(self) -> str | None:
        if isinstance(self._stdout, Path):
            data = self._stdout.read_bytes()
        else:
            self._read_pipe()
            data = self._line
        if b"\n" not in data:
            return None
        return data.split(b"\n", 1)[0].decode()

    def _read_pipe(self) -> None:
        if self._popen is None or self._popen.stdout is None:
            return
        fd = self._popen.stdout.fileno()
        while b"\n" not in self._line and select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:  # the child closed its end: nothing more will come
                return
            self._line += chunk
