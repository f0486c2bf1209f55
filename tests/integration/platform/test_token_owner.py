"""One login owner across real OS processes sharing one Redis and one sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from platform_it import PlatformFactory

from devtools.sandbox_process import SandboxProcess

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("token_user_child.py")
ROOT = Path(__file__).resolve().parents[3]
TOKEN_PATH = "/restapi/oauth/token"


def _run_children(
    count: int, rest_url: str, redis_url: str, duration: float, during: Any = None
) -> list[dict[str, Any]]:
    """Start ``count`` child processes together, call ``during()`` a second in, collect reports."""
    start_at = time.time() + 2.0  # time for the interpreters to start
    config = {
        "rest_url": rest_url,
        "redis_url": redis_url,
        "start_at": start_at,
        "duration": duration,
        "interval": 0.25,
    }
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), json.dumps(config)],
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        if during is not None:
            time.sleep(max(0.0, start_at + 1.0 - time.time()))
            during()
        outputs = [child.communicate(timeout=duration + 60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    reports = []
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


@pytest.fixture
def short_token_sandbox() -> Iterator[SandboxProcess]:
    """Access tokens live 3 s; a 2 s rate window keeps the Auth group (5 per window) clear."""
    with SandboxProcess("--token-lifetime", "3", "--rate-window", "2") as sb:
        yield sb


def _times(records: list[dict[str, Any]]) -> list[float]:
    return [datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp() for r in records]


def test_short_lived_tokens_are_refreshed_by_one_process_at_a_time(
    short_token_sandbox: SandboxProcess, redis_url: str, make_platform: PlatformFactory
) -> None:
    """Given two processes calling the platform for 8 s with 3 s tokens,
    then each expiry is answered by exactly one refresh, made by one process,
    and neither process ever sees an error."""
    reports = _run_children(2, short_token_sandbox.rest_url, redis_url, duration=8.0)

    token_calls = short_token_sandbox.control.requests(path=TOKEN_PATH)
    grants = [r["body"]["grant_type"] for r in token_calls]
    counters = make_platform(short_token_sandbox.rest_url).tokens.counters()
    assert [r["errors"] for r in reports] == [{}, {}]
    assert all(r["calls"] > 10 for r in reports)
    assert grants[0] == "password"
    assert grants.count("password") == 1
    assert grants.count("refresh_token") >= 3
    assert counters == {"logins": 1, "refreshes": grants.count("refresh_token")}
    per_process = [r["grants"].get("login", 0) + r["grants"].get("refresh", 0) for r in reports]
    assert sum(per_process) == len(token_calls)
    # Single flight: a duplicate refresh would follow the previous grant within
    # milliseconds; each grant must have served about half a token lifetime.
    times = _times(token_calls)
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert min(gaps) > 1.0, gaps
    assert all(r["status"] == 200 for r in token_calls)


def test_a_token_expired_under_two_processes_is_refreshed_once(
    sandbox: SandboxProcess, redis_url: str, make_platform: PlatformFactory
) -> None:
    """Given a shared token and two processes using it, when the platform expires it,
    then both get 401, exactly one refresh happens, and every call still succeeds."""
    owner = make_platform(sandbox.rest_url)
    owner.tokens.access_token()  # the token both children will share

    reports = _run_children(
        2, sandbox.rest_url, redis_url, duration=3.0, during=sandbox.control.expire_tokens
    )

    grants = [r["body"]["grant_type"] for r in sandbox.control.requests(path=TOKEN_PATH)]
    refused = [r for r in sandbox.control.requests(path="/restapi/v1.0/*") if r["status"] == 401]
    assert [r["errors"] for r in reports] == [{}, {}]
    assert grants == ["password", "refresh_token"]
    assert owner.tokens.counters() == {"logins": 1, "refreshes": 1}
    assert sum(r["grants"].get("refresh", 0) for r in reports) == 1
    assert all(r["grants"].get("login", 0) == 0 for r in reports)
    assert 1 <= len(refused) <= 2
