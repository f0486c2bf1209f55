"""devtools.processes: start a child in its own group, wait until it is ready, stop the group."""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from devtools.processes import (
    ManagedProcess,
    ProcessExitedError,
    ProcessGroup,
    ProcessStartError,
    WaitTimeoutError,
    stop_all,
    wait_for,
)

#: Starts a grandchild that ignores SIGTERM, prints its pid, then waits to be stopped.
WITH_STUBBORN_GRANDCHILD = """
import subprocess, sys, time
ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
child = subprocess.Popen([sys.executable, "-c", ignore])
print(child.pid, flush=True)
time.sleep(60)
"""


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_start_up_line_is_read_from_a_pipe_and_sigterm_stops_the_child() -> None:
    code = "import sys, time; print('ready on 1234', flush=True); time.sleep(60)"
    with ManagedProcess(python(code), name="announcer", stdout="pipe") as proc:
        assert proc.read_line(10) == "ready on 1234"
        assert proc.running()
        status = proc.stop()

    assert status == -signal.SIGTERM
    assert not proc.running()


def test_the_start_up_line_can_go_to_a_file(tmp_path: Path) -> None:
    """For a child that outlives its launcher (``make up``), which cannot keep a pipe open."""
    line_file = tmp_path / "line.json"
    code = "import time; print('{\"port\": 1}', flush=True); time.sleep(60)"
    with ManagedProcess(python(code), log=tmp_path / "x.log", stdout=line_file) as proc:
        assert proc.read_line(10) == '{"port": 1}'


def test_a_child_that_exits_before_it_is_ready_fails_with_its_stderr() -> None:
    code = "import sys; print('no config file', file=sys.stderr); sys.exit(3)"
    proc = ManagedProcess(python(code), name="broken", stdout="pipe").start()

    with pytest.raises(ProcessStartError) as failure:
        proc.read_line(10)
    proc.close()

    message = str(failure.value)
    assert message.startswith("broken exited with status 3 before printing its start-up line")
    assert message.endswith("--- last output of broken ---\nno config file")
    assert proc.output() == "no config file\n"  # kept after close() deleted the temporary log


def test_a_child_that_never_gets_ready_times_out_with_its_recent_output(tmp_path: Path) -> None:
    code = "import sys, time; print('still loading', file=sys.stderr, flush=True); time.sleep(60)"
    log = tmp_path / "slow.log"
    started = time.monotonic()
    with ManagedProcess(python(code), name="slow", log=log) as proc:
        with pytest.raises(ProcessStartError) as failure:
            proc.wait_ready(lambda: False, 0.5, what="answering PING")
        assert proc.running()  # the caller decides whether to stop it

    assert time.monotonic() - started < 10
    assert str(failure.value).startswith("slow timed out after 0.5 s before answering PING")
    assert f"--- last output of slow ({log}) ---\nstill loading" in str(failure.value)
    assert log.read_text() == "still loading\n"  # a log of the caller's is kept


def test_wait_port_waits_for_the_child_to_listen() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import socket, time; time.sleep(0.3); s = socket.socket();"
        f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)"
    )
    with ManagedProcess(python(code), name="server") as proc:
        proc.wait_port("127.0.0.1", port, 10)


def test_stop_kills_the_whole_group_even_a_grandchild_that_ignores_sigterm() -> None:
    with ManagedProcess(python(WITH_STUBBORN_GRANDCHILD), stdout="pipe") as proc:
        grandchild = int(proc.read_line(10))
        assert alive(grandchild)
        proc.stop(grace=5)

    wait_for(lambda: not alive(grandchild), 5)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print(1, flush=True); time.sleep(60)"
    )
    with ManagedProcess(python(code), stdout="pipe") as proc:
        proc.read_line(10)  # SIGTERM is ignored from now on
        started = time.monotonic()
        status = proc.stop(grace=0.5)

    assert status == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 5


def test_check_running_reports_an_exit_with_the_output() -> None:
    proc = ManagedProcess(python("print('bye')"), name="short").start()
    wait_for(lambda: not proc.running(), 10)

    with pytest.raises(ProcessExitedError, match=r"short exited with status 0\n.*\nbye"):
        proc.check_running()
    proc.close()


def test_groups_known_only_by_pid_are_stopped_together() -> None:
    """As ``make down`` does with the pids ``make up`` wrote down."""
    procs = [ManagedProcess(python("import time; time.sleep(60)")).start() for _ in range(2)]
    groups = [ProcessGroup(p.pid) for p in procs]

    assert stop_all(groups, grace=5) == groups
    assert not any(g.running() for g in groups)
    assert stop_all(groups, grace=5) == []  # nothing left to stop
    for proc in procs:
        proc.close()


def test_a_group_id_of_zero_is_refused() -> None:
    """killpg(0) would signal the caller's own group."""
    with pytest.raises(ValueError, match="not a process id"):
        ProcessGroup(0)


def test_wait_for_returns_the_first_truthy_value_or_fails_like_an_assert() -> None:
    values = iter([None, 0, "ready"])
    assert wait_for(lambda: next(values), 5, 0.01) == "ready"
    with pytest.raises(AssertionError, match=r"condition not met within 0\.1 s"):
        wait_for(lambda: False, 0.1, 0.01)
    assert issubclass(WaitTimeoutError, AssertionError)


def test_a_program_that_does_not_exist_fails_at_start_and_leaves_no_log() -> None:
    proc = ManagedProcess(["/nonexistent/program"])
    with pytest.raises(FileNotFoundError):
        proc.start()
    assert not proc.log_path.exists()
