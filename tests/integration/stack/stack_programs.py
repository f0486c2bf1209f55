"""Programs some stack tests add to a :class:`~tests.support.stack.Stack`.

Beat (its reaper), and workers on some queues only.

Each is appended to the stack's processes, so the stack stops it with the rest.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.programs import Program, WorkerProcess
from tests.support.stack import Stack


class BeatProcess(Program):
    """``celery -A worker beat``: sends the reaper every 15 s (and the canary)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO"]
        argv += ["--schedule", str(log_dir / "beat-schedule")]
        super().__init__(argv, env, "beat", log_dir)


class QueueWorkerProcess(WorkerProcess):
    """A :class:`WorkerProcess` on the named queues only."""

    def __init__(
        self, env: dict[str, str], name: str, queues: tuple[str, ...], log_dir: Path
    ) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "worker", "worker"]
        argv += ["-Q", ",".join(queues), "-c", "1", "-n", f"{name}@%h"]
        argv += ["--without-mingle", "--without-gossip", "--pool", "prefork"]
        Program.__init__(self, argv, env, name, log_dir)


def start_beat(stack: Stack) -> BeatProcess:
    """Start beat for ``stack`` (stopped with it)."""
    beat = BeatProcess(stack.env, stack.log_dir)
    stack.processes.append(beat)
    return beat


def start_workers(stack: Stack, names: list[str], queues: tuple[str, ...] | None = None) -> None:
    """Start workers (on every queue, or on ``queues``), wait until they answer a ping.

    They join ``stack.workers``, so their logs are searched with the others'.
    """
    started: list[WorkerProcess] = []
    for name in names:
        if queues is None:
            started.append(stack.start_worker(name))
        else:
            worker = QueueWorkerProcess(stack.env, name, queues, stack.log_dir)
            stack.processes.append(worker)
            started.append(worker)
    stack.workers.extend(started)
    stack.wait_workers(started)


def stop_workers(stack: Stack) -> None:
    """Stop every running worker of ``stack`` (a warm shutdown: nothing is left unacked)."""
    for worker in stack.workers:
        if worker.running():
            worker.stop()
