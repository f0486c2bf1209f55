"""Programs of the system started as child processes by integration tests.

Each process writes its output to a log file (never a pipe, so a chatty child
cannot block on a full buffer) that a test can read or print when it fails;
:meth:`ManagedProcess.stop` sends SIGTERM, waits, and falls back to SIGKILL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT = 10.0


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


class ManagedProcess:
    """A child process started from an argument list, with its output in a log file."""

    def __init__(
        self, argv: list[str], env: dict[str, str], name: str, log_dir: Path | None = None
    ) -> None:
        self.name = name
        if log_dir is None:
            self._tmp = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log")  # noqa: SIM115 - closed in close()
            self.log_path = Path(self._tmp.name)
        else:
            self._tmp = None
            self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace")

    def json_lines(self) -> Iterator[dict[str, Any]]:
        """The output's JSON log lines (``LOG_FORMAT=json``); other lines are skipped."""
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue

    def assert_running(self) -> None:
        assert self.proc.poll() is None, f"{self.name} exited:\n{self.output()[-5000:]}"

    def terminate(self) -> None:
        """Send SIGTERM (without waiting), e.g. to stop several processes at once."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def close(self) -> None:
        """Stop the process and delete a temporary log."""
        self.stop()
        if self._tmp is not None:
            self._tmp.close()


class ListenerProcess(ManagedProcess):
    """``python -m listener``; reads the health port it prints."""

    def __init__(self, env: dict[str, str], name: str, log_dir: Path | None = None) -> None:
        super().__init__([sys.executable, "-m", "listener"], env, f"listener-{name}", log_dir)
        self.port = int(wait_for(self._port, 15))

    def _port(self) -> int | None:
        self.assert_running()
        for line in self.output().splitlines():
            if line.startswith("listener health on port "):
                return int(line.rsplit(" ", 1)[1])
        return None

    def health(self) -> tuple[int, dict[str, Any]]:
        resp = requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5)
        return resp.status_code, resp.json()

    def metrics(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def wait_leader(self, timeout: float = 15) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            code, body = self.health()
            ok = code == 200 and body["role"] == "leader" and body["status"] == "ok"
            return body if ok else None

        return dict(wait_for(ready, timeout, 0.1))


class WorkerProcess(ManagedProcess):
    """``celery -A worker worker`` on every queue with one prefork pool process."""

    def __init__(self, env: dict[str, str], name: str, log_dir: Path | None = None) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "worker", "worker"]
        argv += ["-Q", "events,replies,ops", "-c", "1", "-n", f"{name}@%h"]
        argv += ["--without-mingle", "--without-gossip", "--pool", "prefork"]
        super().__init__(argv, env, name, log_dir)

    def pool_pids(self) -> list[int]:
        """The pids of the worker's pool processes (its children)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


class FlowerProcess(ManagedProcess):
    """``celery -A worker flower`` on a loopback port."""

    def __init__(
        self, env: dict[str, str], port: int, name: str = "flower", log_dir: Path | None = None
    ) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "worker", "flower"]
        argv += ["--address=127.0.0.1", f"--port={port}"]
        super().__init__(argv, env, name, log_dir)
        self.url = f"http://127.0.0.1:{port}"
