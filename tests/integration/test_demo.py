"""`make demo` as a new user runs it: the whole stack comes up, talks, and goes away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _running_in(folder: Path) -> list[str]:
    """Processes working in ``folder`` or below (every program the demo starts)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cwd").resolve().is_relative_to(folder.resolve()):
                found.append((proc / "cmdline").read_text().replace("\0", " "))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def test_the_demo_plays_the_seed_scenario_and_stops_everything(tmp_path: Path) -> None:
    """Given no configuration, when the demo runs, then John is greeted, his flight is
    booked, the transcript shows both, and every program it started is gone afterwards."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}

    done = subprocess.run(
        [sys.executable, "-m", "devtools.demo", "demo", "--exit"],
        cwd=tmp_path,  # state goes to ./.run, as in a fresh clone
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in tmp_path.glob(".run/*.log"))
    assert done.returncode == 0, done.stdout + done.stderr + logs
    out = done.stdout
    assert "SmartFriend Bot │ Hi John, Nice to meet you! How can I help you?" in out
    assert "John Smith │ Hi SmartFriend! Please book me a flight New York" in out
    assert "Your flight is booked!" in out
    assert "Ticket number:" in out
    assert "Watch the tasks in Flower: http://127.0.0.1:" in out
    assert not (tmp_path / ".run" / "stack.json").exists()
    assert _running_in(tmp_path) == []


def test_make_down_with_nothing_up_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devtools.demo", "down"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert done.stdout.strip() == "stopped: nothing was running"
