"""bench.cpu: the CPU a benchmark's child processes spent, by role."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench import cpu

#: Burns this much CPU (its own clock), then waits for stdin to close.
_BURN = """
import sys, time
while time.process_time() < 0.3:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        ("python -m celery -A worker worker -Q events -c 2", "worker"),
        ("python -m celery -A worker beat --loglevel INFO", "beat"),
        ("/venv/bin/python -m listener", "listener"),
        ("python -m sandbox --port 0", "sandbox"),
        ("python -m bench.naive_bot --rest-url x", "naive bot"),
        ("/usr/bin/redis-server 127.0.0.1:5000", "redis"),
        ("python -c pass", "other"),
    ],
)
def test_roles_are_told_apart_by_command_line(cmdline: str, role: str) -> None:
    assert cpu.role_of(cmdline) == role


def test_a_childs_cpu_between_two_snapshots_is_counted_under_its_role() -> None:
    before = cpu.snapshot()
    child = subprocess.Popen(
        [sys.executable, "-c", _BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "burnt"
        after = cpu.snapshot()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()

    assert child.pid in after
    assert child.pid not in before
    assert cpu.spent(before, after).get("other", 0.0) >= 0.25  # /proc counts in clock ticks
