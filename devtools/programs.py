"""The system's programs as child processes: the listener, Celery workers, beat, Flower.

Each is a :class:`devtools.processes.ManagedProcess` started from the
repository root at once, with its output in a log file that a caller (a
test, the fault matrix) can read, or print when something fails.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from devtools.processes import ManagedProcess, wait_for

ROOT = Path(__file__).resolve().parents[1]
#: Seconds a listener may take to announce its health port.
LISTENER_START = 15.0


class Program(ManagedProcess):
    """One of our programs, started at once; it logs to ``log_dir/<name>.log`` or a temp file."""

    def __init__(
        self, argv: list[str], env: dict[str, str], name: str, log_dir: Path | None = None
    ) -> None:
        log = log_dir / f"{name}.log" if log_dir is not None else None
        super().__init__(argv, name=name, env=env, cwd=ROOT, log=log)
        self.start()

    def json_lines(self) -> Iterator[dict[str, Any]]:
        """The output's JSON log lines (``LOG_FORMAT=json``); other lines are skipped."""
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


class ListenerProcess(Program):
    """``python -m listener``; reads the health port it prints."""

    def __init__(self, env: dict[str, str], name: str, log_dir: Path | None = None) -> None:
        super().__init__([sys.executable, "-m", "listener"], env, f"listener-{name}", log_dir)
        try:
            self.port = int(
                self.wait_ready(self._port, LISTENER_START, what="announcing its health port")
            )
        except BaseException:
            self.close()
            raise

    def _port(self) -> int | None:
        found = re.search(r"^listener health on port (\d+)", self.output(), re.MULTILINE)
        return int(found.group(1)) if found else None

    def health(self, timeout: float = 5) -> tuple[int, dict[str, Any]]:
        """``/healthz``: its status code and body."""
        resp = requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=timeout)
        return resp.status_code, resp.json()

    def metrics(self) -> str:
        """``/metrics`` as Prometheus text."""
        return requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def wait_leader(self, timeout: float = 15) -> dict[str, Any]:
        """Wait until it leads with a live subscription; its health body."""

        def ready() -> dict[str, Any] | None:
            code, body = self.health()
            ok = code == 200 and body["role"] == "leader" and body["status"] == "ok"
            return body if ok else None

        return dict(wait_for(ready, timeout, 0.1))


class WorkerProcess(Program):
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


class BeatProcess(Program):
    """``celery -A worker beat``: sends the reaper and the canary on schedule."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO"]
        argv += ["--schedule", str(log_dir / "beat-schedule")]
        super().__init__(argv, env, "beat", log_dir)


class FlowerProcess(Program):
    """``celery -A worker flower`` on a loopback port."""

    def __init__(
        self, env: dict[str, str], port: int, name: str = "flower", log_dir: Path | None = None
    ) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "worker", "flower"]
        argv += ["--address=127.0.0.1", f"--port={port}"]
        super().__init__(argv, env, name, log_dir)
        self.url = f"http://127.0.0.1:{port}"
