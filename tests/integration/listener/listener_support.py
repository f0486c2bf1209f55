"""Helpers of the listener's integration tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import requests

from sandbox.testing import SandboxProcess

ROOT = Path(__file__).resolve().parents[3]
BOT_ID = "400000001"
#: The short lifetimes the issue asks for; the lease TTL is short so takeover tests are quick.
SUBSCRIPTION_LIFETIME = "6"
LEASE_TTL = "3"


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


def queued_events(client: redis.Redis, queue: str = "events") -> list[dict[str, Any]]:
    """Every Celery message in ``queue``, oldest first, as ``{uuid, fence, envelope, message}``."""
    out = []
    for raw in reversed(client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        env = kwargs["envelope"]
        out.append(
            {"uuid": env["uuid"], "fence": kwargs["fence"], "envelope": env, "message": message}
        )
    return out


def posts_in_queue(client: redis.Redis) -> dict[str, int]:
    """``text → count`` of the ``PostAdded`` events in the queue."""
    counts: dict[str, int] = {}
    for item in queued_events(client):
        body = item["envelope"]["body"]
        if body.get("eventType") == "PostAdded":
            counts[body["text"]] = counts.get(body["text"], 0) + 1
    return counts


class ListenerProcess:
    """``python -m listener`` with its output in a file; reads the health port it prints."""

    def __init__(self, env: dict[str, str], name: str) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"listener-{name}-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "listener"],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.port = int(wait_for(self._port, 15))

    def _port(self) -> int | None:
        assert self.proc.poll() is None, self.output()
        for line in self.output().splitlines():
            if line.startswith("listener health on port "):
                return int(line.rsplit(" ", 1)[1])
        return None

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

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

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def close(self) -> None:
        """Stop the process and delete its log."""
        self.stop()
        self.log.close()


def bot_subscription(sandbox: SandboxProcess, subscription_id: str) -> dict[str, Any]:
    """The platform's SubscriptionInfo (with address, subscriberKey, encryptionKey)."""
    answer = sandbox.control.act(BOT_ID, "GET", f"/restapi/v1.0/subscription/{subscription_id}")
    assert answer["status"] == 200, answer
    return dict(answer["body"])
