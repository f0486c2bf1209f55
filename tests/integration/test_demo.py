"""`make demo`, `make up` and `make down` as a new user runs them, in a fresh directory.

Every program the launcher starts works in the test's directory and is
recorded in its ``.run/stack.json``; each test checks that none of them, nor
anything they forked, outlives the launcher's end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.processes import ManagedProcess, ProcessGroup, wait_for

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
#: Bounds, not expectations: a loaded machine may need most of them.
UP_TIMEOUT = 180.0
GONE_TIMEOUT = 60.0


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


def _alive_in_groups(pgids: set[int]) -> list[str]:
    """Live processes (zombies do not count) of the process groups ``pgids``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            # pid (comm) state ppid pgrp ...: split after the command name, which may hold spaces.
            state, _ppid, pgrp = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            if int(pgrp) in pgids and state != "Z":
                found.append(f"{proc.name}: {(proc / 'cmdline').read_text().replace(chr(0), ' ')}")
        except (OSError, ValueError):
            continue
    return found


def _readme_transcript() -> str:
    """The conversation the README shows under "Quick start"."""
    text = README.read_text(encoding="utf-8")
    after = text.split("plays the seed's scenario as John Smith and prints it:\n\n```\n", 1)[1]
    return after.split("\n```", 1)[0]


def _env() -> dict[str, str]:
    """This environment without REDIS_URL, so that the launcher starts its own Redis."""
    return {k: v for k, v in os.environ.items() if k != "REDIS_URL"}


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in folder.glob(".run/*.log"))


def _launch(folder: Path, *args: str, env: dict[str, str] | None = None) -> ManagedProcess:
    """``python -m devtools.demo *args`` in ``folder``, its output in ``folder/launcher.log``."""
    argv = [sys.executable, "-m", "devtools.demo", *args]
    return ManagedProcess(
        argv, name="demo", env=env or _env(), cwd=folder, log=folder / "launcher.log"
    ).start()


def _run(
    folder: Path, *args: str, env: dict[str, str] | None = None, timeout: float = UP_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.demo", *args],
        cwd=folder,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory for the launcher's ``.run/``; whatever a failed test left running
    is stopped afterwards (by ``down``, then SIGKILL to every recorded group)."""
    yield tmp_path
    stack_file = tmp_path / ".run" / "stack.json"
    if stack_file.exists():
        pids = json.loads(stack_file.read_text())["pids"].values()
        _run(tmp_path, "down", timeout=60)
        for pid in pids:
            ProcessGroup(pid).signal(signal.SIGKILL)


@pytest.mark.parametrize("transport", ["pubnub", "websocket"])
def test_the_demo_plays_the_seed_scenario_and_stops_everything(
    folder: Path, transport: str
) -> None:
    """Given no configuration (or only NOTIFICATION_TRANSPORT), when the demo runs, then
    John is greeted, his flight is booked in the seed's words, the transcript is the
    README's, and every program it started is gone afterwards."""
    env = {**_env(), "NOTIFICATION_TRANSPORT": transport}
    done = _run(folder, "demo", "--exit", env=env)

    assert done.returncode == 0, done.stdout + done.stderr + _logs(folder)
    out = done.stdout
    assert _readme_transcript() in out
    assert "SmartFriend Bot │ Hi John, Nice to meet you! How can I help you?" in out
    assert "SmartFriend Bot │ Absolutely! Your flight is booked \N{EN DASH} " in out
    assert "Watch the tasks in Flower: http://127.0.0.1:" in out
    assert not (folder / ".run" / "stack.json").exists()
    assert _running_in(folder) == []
    listener_log = (folder / ".run" / "listener.log").read_text()
    assert ("websocket_subscribed" in listener_log) == (transport == "websocket")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_to_the_demo_stops_every_program_it_started(
    folder: Path, sig: signal.Signals
) -> None:
    """Given a running demo, when it gets SIGTERM (kill, a supervisor) or SIGHUP (its
    terminal closed), then it stops every program it started, with whatever they forked,
    removes its state file and exits 0."""
    launcher = _launch(folder, "demo")
    try:
        launcher.wait_ready(
            lambda: "The stack is up:" in launcher.output(), UP_TIMEOUT, what="the stack up"
        )
        pids = set(json.loads((folder / ".run" / "stack.json").read_text())["pids"].values())
        assert len(pids) == 7, pids  # redis, sandbox, listener, 2 workers, beat, flower
        assert all(ProcessGroup(pid).running() for pid in pids)

        os.kill(launcher.pid, sig)
        wait_for(lambda: not launcher.running(), GONE_TIMEOUT)
    except BaseException:
        print(launcher.output() + _logs(folder))
        raise
    finally:
        launcher.close()

    assert launcher.returncode == 0, launcher.output()
    assert f"{sig.name}: stopping everything" in launcher.output()
    wait_for(lambda: not _alive_in_groups(pids), GONE_TIMEOUT)
    assert not (folder / ".run" / "stack.json").exists()
    assert not (folder / ".run" / "env").exists()
    assert _running_in(folder) == []


def test_make_up_then_a_plain_shell_sources_run_env_and_make_down_stops_it_all(
    folder: Path,
) -> None:
    """Given `make up`, a shell without the virtualenv on its PATH can `source .run/env`
    and run `python -m tasks.ops status` against the stack; `make down` then stops
    every program, and removes the state."""
    started = _run(folder, "up")
    assert started.returncode == 0, started.stdout + started.stderr + _logs(folder)
    assert "Stop it with: make down" in started.stdout
    pids = set(json.loads((folder / ".run" / "stack.json").read_text())["pids"].values())

    # No virtualenv on PATH, nothing of the stack's settings (PYTHONPATH passes: it says
    # which tree is under test, not where Python is).
    plain = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}
    plain.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})
    status = subprocess.run(
        ["bash", "-c", "source .run/env && python -m tasks.ops --json status"],
        cwd=folder,
        env=plain,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    stopped = _run(folder, "down", timeout=120)

    assert status.returncode == 0, status.stdout + status.stderr
    answer = json.loads(status.stdout)
    assert answer["leader"]
    assert answer["subscription"]["id"]
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("stopped: ")
    wait_for(lambda: not _alive_in_groups(pids), GONE_TIMEOUT)
    assert not (folder / ".run" / "stack.json").exists()
    assert not (folder / ".run" / "env").exists()
    assert _running_in(folder) == []


def _fake_redis_server(folder: Path) -> dict[str, str]:
    """An environment whose ``redis-server`` on PATH writes one line and exits 1."""
    bin_dir = folder / "fake-bin"
    bin_dir.mkdir()
    fake = bin_dir / "redis-server"
    fake.write_text("#!/bin/sh\necho 'fake redis-server: cannot listen (test double)'\nexit 1\n")
    fake.chmod(0o755)
    return {**_env(), "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_make_up_with_a_program_that_exits_names_it_shows_its_log_and_stops_the_rest(
    folder: Path,
) -> None:
    """Given a Redis that cannot start, `make up` exits non-zero naming redis with the
    last lines of its log, and leaves nothing running."""
    done = _run(folder, "up", env=_fake_redis_server(folder))

    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: redis exited while the stack was starting" in done.stderr
    assert "--- last lines of .run/redis.log ---" in done.stderr
    assert "fake redis-server: cannot listen (test double)" in done.stderr
    assert "Stopping everything it started." in done.stderr
    assert not (folder / ".run" / "stack.json").exists()
    assert _running_in(folder) == []


def test_make_up_that_is_not_ready_in_time_shows_the_laggards_log_and_stops_everything(
    folder: Path,
) -> None:
    """Given a listener that cannot log in (wrong password), `make up` gives up after
    its ready timeout, exits non-zero with the listener's last log lines, and leaves
    nothing running."""
    env = {**_env(), "RINGCENTRAL_PASSWORD": "not-the-password"}

    done = _run(folder, "up", "--ready-timeout", "20", env=env)

    assert done.returncode == 1, done.stdout + done.stderr
    header = "--- last lines of .run/listener.log ---\n"
    assert header in done.stderr
    section = done.stderr.split(header, 1)[1].split("\nStopping everything it started.")[0]
    shown = section.split("\n--- ", 1)[0].splitlines()
    log = (folder / ".run" / "listener.log").read_text()
    assert shown
    assert all(line in log for line in shown), shown
    assert not (folder / ".run" / "stack.json").exists()
    assert _running_in(folder) == []


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
