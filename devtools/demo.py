"""``make demo`` / ``make up`` / ``make down``: the whole system on this machine, offline.

Starts Redis (a throwaway ``redis-server`` unless ``REDIS_URL`` is set), the
sandbox, the listener, two Celery workers, beat and Flower, each as its own
program, exactly as an operator would start them. ``demo`` then plays the
seed's scenario as John Smith through the sandbox's REST API and prints the
conversation. Programs are started by command line, never imported, each in
a process group of its own (:mod:`devtools.processes`), so that ``make up``
can return while they go on and ``down`` stops each with its children.

State lives in ``.run/``: one log file per program, ``stack.json`` (pids and
URLs, for ``down``; written as each program starts, so that nothing runs
unrecorded) and ``env`` (the settings, and this interpreter's ``bin`` first
on ``PATH``, to ``source`` in a plain shell and run ``python -m tasks.ops``
or ``celery -A worker …`` against the stack).

``demo`` stops everything it started when it ends, however it ends: Ctrl-C,
SIGTERM, a closed terminal (SIGHUP), an error. ``up`` leaves the stack
running only once it is ready; a program that exits or is not ready in time
is named with the last lines of its log, and everything is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from devtools.interrupts import Interrupted, StopSignals
from devtools.localredis import find_redis_server, redis_argv
from devtools.ports import free_port
from devtools.processes import (
    ManagedProcess,
    ProcessGroup,
    ProcessStartError,
    WaitTimeoutError,
    stop_all,
    wait_for,
)
from devtools.scenario import ScenarioError, play_scenario, transcript
from glipbot.errors import ConfigError
from glipbot.settings import Settings

RUN_DIR = Path(".run")
STACK_FILE = RUN_DIR / "stack.json"
ENV_FILE = RUN_DIR / "env"
#: ``down`` stops the producers first, so nothing new is enqueued while the
#: workers finish, and Redis last.
STOP_ORDER = ("listener", "sandbox", "beat", "flower", "worker1", "worker2", "redis")
SANDBOX_TIMEOUT = 20.0
READY_TIMEOUT = 60.0
STOP_GRACE = 15.0
#: Log lines shown for a program that failed to come up.
TAIL_LINES = 20
WORKERS = ("worker1", "worker2")


class DemoError(RuntimeError):
    """Something did not come up or did not answer; the message says what and where to look."""


def _python() -> str:
    return sys.executable


def _celery() -> list[str]:
    return [_python(), "-m", "celery", "-A", "worker"]


def _spawn(name: str, argv: list[str], env: dict[str, str], **kwargs: Any) -> ManagedProcess:
    log = RUN_DIR / f"{name}.log"
    return ManagedProcess(argv, name=name, env=env, log=log, **kwargs).start()


def up(signals: StopSignals | None = None) -> dict[str, Any]:
    """Start every program in the background; return the stack's description.

    Each pid is written to ``.run/stack.json`` as its program starts (with
    ``signals``, a stop signal waits until it is written). If anything fails,
    or a stop signal arrives, what was started is stopped before the
    exception goes on.
    """
    if STACK_FILE.exists():
        raise DemoError(f"a stack is already up ({STACK_FILE}); run `make down` first")
    RUN_DIR.mkdir(exist_ok=True)
    stack: dict[str, Any] = {"pids": {}}
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_FORMAT": "console"}

    def spawn(name: str, argv: list[str], env: dict[str, str], **kwargs: Any) -> ManagedProcess:
        with signals.deferred() if signals else contextlib.nullcontext():
            process = _spawn(name, argv, env, **kwargs)
            stack["pids"][name] = process.pid
            _save(stack)
        return process

    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            port = free_port()
            spawn("redis", redis_argv(find_redis_server(), "127.0.0.1", port, RUN_DIR), env)
            redis_url = f"redis://127.0.0.1:{port}/0"
        sandbox = _start_sandbox(spawn, env)
        health_port, flower_port = free_port(), free_port()
        flower_auth = f"demo:{secrets.token_urlsafe(9)}"
        settings = {
            "RINGCENTRAL_SERVER_URL": sandbox["rest_url"],
            "PUBNUB_ORIGIN": sandbox["pubnub_origin"],
            "PUBNUB_SSL": "false",
            "REDIS_URL": redis_url,
            "LISTENER_HEALTH_PORT": str(health_port),
        }
        env.update(settings)
        spawn("listener", [_python(), "-m", "listener"], env)
        for name in WORKERS:
            argv = [*_celery(), "worker", "-Q", "events,replies,ops", "-c", "2"]
            spawn(name, [*argv, "-n", f"{name}@%h", "--loglevel", "INFO"], env)
        beat_argv = [*_celery(), "beat", "--loglevel", "INFO"]
        spawn("beat", [*beat_argv, "--schedule", str(RUN_DIR / "beat-schedule")], env)
        flower_env = {**env, "FLOWER_BASIC_AUTH": flower_auth}
        flower_argv = [*_celery(), "flower", "--address=127.0.0.1", f"--port={flower_port}"]
        spawn("flower", flower_argv, flower_env)
        stack.update(
            sandbox=sandbox,
            settings=settings,
            health_url=f"http://127.0.0.1:{health_port}/healthz",
            transport=env.get("NOTIFICATION_TRANSPORT") or "pubnub",
            flower_url=f"http://127.0.0.1:{flower_port}",
            flower_auth=flower_auth,
        )
        _save(stack)
        ENV_FILE.write_text(env_script(settings))
    except BaseException:
        if signals:
            signals.ignore()
        down()
        raise
    return stack


def env_script(settings: dict[str, str]) -> str:
    """``.run/env``: the settings, and this interpreter's ``bin`` first on ``PATH``.

    With it, ``python``, ``celery`` and ``glipbot-ops`` in a plain shell are
    the virtualenv's, without activating it.
    """
    lines = [f"export {k}={shlex.quote(v)}\n" for k, v in settings.items()]
    bin_dir = shlex.quote(os.path.dirname(os.path.abspath(sys.executable)))
    lines.append(f'export PATH={bin_dir}"${{PATH:+:$PATH}}"\n')
    return "".join(lines)


def _save(stack: dict[str, Any]) -> None:
    # Written whole and then renamed: `down` never reads half a file.
    partial = STACK_FILE.with_suffix(".tmp")
    partial.write_text(json.dumps(stack, indent=2))
    partial.replace(STACK_FILE)


def _start_sandbox(spawn: Callable[..., ManagedProcess], env: dict[str, str]) -> dict[str, Any]:
    # The JSON line goes to a file, not a pipe: the sandbox outlives this launcher after `up`.
    argv = [_python(), "-m", "sandbox", "--port", "0"]
    sandbox = spawn("sandbox", argv, env, stdout=RUN_DIR / "sandbox.json")
    try:
        return dict(json.loads(sandbox.read_line(SANDBOX_TIMEOUT)))
    except ProcessStartError as exc:
        raise DemoError(str(exc)) from None


def wait_ready(stack: dict[str, Any], timeout: float = READY_TIMEOUT) -> None:
    """Wait until the listener leads with a live subscription and Flower sees both workers.

    Raises :class:`DemoError`, with the last lines of the log of each program
    that exited or is not ready after ``timeout`` seconds.
    """
    waiting: dict[str, str] = {}

    def ready() -> bool:
        _check_alive(stack)
        waiting.clear()
        waiting.update(_not_ready(stack))
        return not waiting

    try:
        wait_for(ready, timeout, 0.5)
    except WaitTimeoutError:
        raise DemoError(
            f"the stack was not ready within {timeout:g} s:"
            + "".join(f"\n  {name}: {why}" for name, why in waiting.items())
            + "".join(_log_tail(name) for name in waiting)
        ) from None


def _not_ready(stack: dict[str, Any]) -> dict[str, str]:
    """Each program that is not ready yet, and what it has not done."""
    waiting = {}
    try:
        health = requests.get(stack["health_url"], timeout=2).json()
    except (requests.RequestException, ValueError):
        health = {}
    if not (health.get("role") == "leader" and health.get("status") == "ok"):
        seen = f"{health.get('role')}, {health.get('status')}" if health else "no answer"
        waiting["listener"] = f"not leading with a live subscription ({seen})"
    workers = _flower_workers(stack)
    if workers is None:
        waiting["flower"] = f"no answer from {stack['flower_url']}/api/workers"
    else:
        for name in WORKERS:
            if not any(worker.startswith(f"{name}@") for worker in workers):
                waiting[name] = "not seen by Flower"
    return waiting


def _flower_workers(stack: dict[str, Any]) -> list[str] | None:
    try:
        resp = requests.get(
            f"{stack['flower_url']}/api/workers",
            params={"refresh": "1"},
            auth=tuple(stack["flower_auth"].split(":", 1)),
            timeout=5,
        )
        return list(resp.json()) if resp.ok else None
    except (requests.RequestException, ValueError):
        return None


def _check_alive(stack: dict[str, Any]) -> None:
    for name, pid in stack["pids"].items():
        if not ProcessGroup(pid).running():
            raise DemoError(f"{name} exited while the stack was starting" + _log_tail(name))


def _log_tail(name: str) -> str:
    """The last lines of a program's log, under a header naming the file."""
    log = RUN_DIR / f"{name}.log"
    try:
        lines = log.read_text(errors="replace").splitlines()[-TAIL_LINES:]
    except OSError:
        lines = []
    return f"\n--- last lines of {log} ---\n" + "\n".join(lines or ["(empty)"])


def describe(stack: dict[str, Any]) -> str:
    """Where everything is and how to log in."""
    user, password = stack["flower_auth"].split(":", 1)
    rows = [
        ("Sandbox REST", stack["sandbox"]["rest_url"]),
        ("Sandbox PubNub", stack["sandbox"]["pubnub_origin"]),
        ("Sandbox gateway", stack["sandbox"].get("ws_url", "-")),
        ("Listener health", f"{stack['health_url']}  (events over {stack['transport']})"),
        ("Flower", f"{stack['flower_url']}  (user {user}, password {password})"),
        ("Redis", stack["settings"]["REDIS_URL"]),
        ("Sign in as", "john.smith@sandbox.test / john (app sandbox-client-id)"),
        ("Settings", f"source {RUN_DIR}/env  # then: python -m tasks.ops status"),
        ("Logs", f"{RUN_DIR}/*.log"),
    ]
    return "\n".join(f"  {name:<16} {value}" for name, value in rows)


def down() -> list[str]:
    """Stop everything ``up`` started (by pid, from ``.run/stack.json``); remove its state."""
    if not STACK_FILE.exists():
        return []
    stack = json.loads(STACK_FILE.read_text())
    stopped = _stop(stack["pids"])
    STACK_FILE.unlink()
    ENV_FILE.unlink(missing_ok=True)  # its settings point at programs that are gone
    return stopped


def _stop(pids: dict[str, int]) -> list[str]:
    order = sorted(pids, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else 0)
    groups = {name: ProcessGroup(pids[name]) for name in order}
    stopped = stop_all(list(groups.values()), STOP_GRACE)
    return [name for name, group in groups.items() if group in stopped]


def _say(text: str, *, error: bool = False) -> None:
    # After SIGHUP the terminal is gone and writing to it fails; stopping must go on.
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr if error else sys.stdout, flush=True)


def settings_problem(environ: dict[str, str] | None = None) -> str | None:
    """What is wrong with the settings the stack's programs would run with, or None.

    The variables the demo sets itself (the sandbox's addresses, the health
    port, the log format) are left out: only the operator's own count.
    """
    own = {
        "RINGCENTRAL_SERVER_URL": "http://127.0.0.1:1",
        "PUBNUB_ORIGIN": "127.0.0.1:1",
        "PUBNUB_SSL": "false",
        "LISTENER_HEALTH_PORT": "0",
        "LOG_FORMAT": "console",
    }
    try:
        Settings.from_env({**(os.environ if environ is None else environ), **own})
    except ConfigError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``make demo``, ``make up`` and ``make down``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__)
    parser.add_argument("command", choices=["demo", "up", "down"])
    parser.add_argument(
        "--exit", action="store_true", help="demo: stop everything after the scenario"
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=READY_TIMEOUT,
        help=f"seconds the stack may take to come up ({READY_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if args.command == "down":
        stopped = down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if STACK_FILE.exists():  # someone else's stack: never stop it from here
        _say(f"error: a stack is already up ({STACK_FILE}); run `make down` first", error=True)
        return 1
    problem = settings_problem()
    if problem is not None:  # before anything starts
        _say(f"error: {problem}", error=True)
        return 2
    signals = StopSignals().install()
    status = 1
    try:
        status = _run(args.command, args.ready_timeout, args.exit, signals)
        return status
    except Interrupted as exc:
        signals.ignore()  # a second signal must not cut the clean-up short
        _say(f"{exc}: stopping everything", error=True)
        # The demo runs until it is told to stop; `up` was stopped before it was up.
        return 0 if args.command == "demo" else 128 + exc.signum
    except (DemoError, ScenarioError) as exc:
        signals.ignore()
        _say(f"error: {exc}\nStopping everything it started.", error=True)
        return 1
    finally:
        if not (args.command == "up" and status == 0):  # only a ready `up` leaves it running
            signals.ignore()
            down()


def _run(command: str, ready_timeout: float, exit_after: bool, signals: StopSignals) -> int:
    _say("Starting Redis, the sandbox, the listener, 2 workers, beat and Flower…")
    stack = up(signals)
    wait_ready(stack, ready_timeout)
    _say("The stack is up:\n" + describe(stack))
    if command == "up":
        _say("Stop it with: make down")
        return 0
    _say("\nJohn Smith opens a private chat with SmartFriend:\n")
    _say(transcript(play_scenario(stack)))
    _say(f"\nWatch the tasks in Flower: {stack['flower_url']}")
    if exit_after:
        return 0
    _say("Talk to SmartFriend as John through the sandbox's REST API; Ctrl-C stops it.")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
