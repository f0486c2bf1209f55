"""CPU time spent by this program's child processes, by role, read from ``/proc`` (Linux).

A benchmark takes a :func:`snapshot` before and after a phase; :func:`spent`
gives the CPU seconds (user + system) each role used in between, whatever
process of that role started or ended meanwhile (a prefork worker's pool
processes count as the worker's). Roles are told apart by their command
line (:data:`ROLES`); a descendant that matches none is ``other``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: (role, a piece of its command line), the first match wins.
ROLES = (
    ("worker", "celery -A worker worker"),
    ("beat", "celery -A worker beat"),
    ("listener", "-m listener"),
    ("sandbox", "-m sandbox"),
    ("naive bot", "bench.naive_bot"),
    ("redis", "redis-server"),
)
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(pid: str) -> tuple[int, str, float] | None:
    """(parent pid, command line, CPU seconds) of process ``pid``, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    return int(fields[1]), cmdline, (int(fields[11]) + int(fields[12])) / _TICKS


def role_of(cmdline: str) -> str:
    """The role a command line names (``other`` when none)."""
    return next((role for role, part in ROLES if part in cmdline), "other")


def snapshot(root: int | None = None) -> dict[int, tuple[str, float]]:
    """Every descendant of ``root`` (default: this process): its role and CPU seconds so far."""
    root = os.getpid() if root is None else root
    found: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (read := _read(entry)) is not None:
            found[int(entry)] = read
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in found.items():
        children.setdefault(parent, []).append(pid)
    out: dict[int, tuple[str, float]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        _, cmdline, cpu = found[pid]
        out[pid] = (role_of(cmdline), cpu)
        todo += children.get(pid, [])
    return out


def spent(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds each role used between two snapshots (a process that ended meanwhile is
    not counted past the first snapshot)."""
    total: dict[str, float] = {}
    for pid, (role, cpu) in after.items():
        total[role] = total.get(role, 0.0) + cpu - before.get(pid, (role, 0.0))[1]
    return total
