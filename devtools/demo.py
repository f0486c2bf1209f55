"""``make demo`` / ``make up`` / ``make down``: the whole system on this machine, offline.

Starts Redis (a throwaway ``redis-server`` unless ``REDIS_URL`` is set), the
sandbox, the listener, two Celery workers, beat and Flower, each as its own
program, exactly as an operator would start them. ``demo`` then plays the
seed's scenario as John Smith through the sandbox's REST API and prints the
conversation. Programs are started by command line, never imported, each in
a process group of its own (:mod:`devtools.processes`), so that ``make up``
can return while they go on and ``down`` stops each with its children.

State lives in ``.run/``: one log file per program, ``stack.json`` (pids and
URLs, for ``down``) and ``env`` (the settings, to ``source`` in a shell and
run ``python -m tasks.ops`` or ``celery -A worker …`` against the stack).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import requests

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
from sandbox.testing import API_PREFIX, BOT_TOKEN, as_person

RUN_DIR = Path(".run")
STACK_FILE = RUN_DIR / "stack.json"
#: ``down`` stops the producers first, so nothing new is enqueued while the
#: workers finish, and Redis last.
STOP_ORDER = ("listener", "sandbox", "beat", "flower", "worker1", "worker2", "redis")
JOHN = ("john.smith@sandbox.test", "john")
FLIGHT_REQUEST = (  # the seed's own words, en dash and odd spacing included
    "Hi SmartFriend! Please book me a flight New York – San Francisco 05/  06/17, ID #5674028947"  # noqa: RUF001
)
SANDBOX_TIMEOUT = 20.0
READY_TIMEOUT = 60.0
REPLY_TIMEOUT = 30.0
STOP_GRACE = 15.0


class DemoError(RuntimeError):
    """Something did not come up or did not answer; the message says what and where to look."""


def _python() -> str:
    return sys.executable


def _celery() -> list[str]:
    return [_python(), "-m", "celery", "-A", "worker"]


def _spawn(name: str, argv: list[str], env: dict[str, str], **kwargs: Any) -> ManagedProcess:
    log = RUN_DIR / f"{name}.log"
    return ManagedProcess(argv, name=name, env=env, log=log, **kwargs).start()


def up() -> dict[str, Any]:
    """Start every program in the background; return the stack's description."""
    if STACK_FILE.exists():
        raise DemoError(f"a stack is already up ({STACK_FILE}); run `make down` first")
    RUN_DIR.mkdir(exist_ok=True)
    procs: dict[str, int] = {}
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_FORMAT": "console"}
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            port = free_port()
            argv = redis_argv(find_redis_server(), "127.0.0.1", port, RUN_DIR)
            procs["redis"] = _spawn("redis", argv, env).pid
            redis_url = f"redis://127.0.0.1:{port}/0"
        sandbox = _start_sandbox(env, procs)
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
        procs["listener"] = _spawn("listener", [_python(), "-m", "listener"], env).pid
        for n in (1, 2):
            argv = [*_celery(), "worker", "-Q", "events,replies,ops", "-c", "2"]
            argv += ["-n", f"worker{n}@%h", "--loglevel", "INFO"]
            procs[f"worker{n}"] = _spawn(f"worker{n}", argv, env).pid
        beat_argv = [*_celery(), "beat", "--loglevel", "INFO"]
        beat_argv += ["--schedule", str(RUN_DIR / "beat-schedule")]
        procs["beat"] = _spawn("beat", beat_argv, env).pid
        flower_env = {**env, "FLOWER_BASIC_AUTH": flower_auth}
        flower_argv = [*_celery(), "flower", "--address=127.0.0.1", f"--port={flower_port}"]
        procs["flower"] = _spawn("flower", flower_argv, flower_env).pid
    except Exception:
        _stop(procs)
        raise
    stack = {
        "pids": procs,
        "sandbox": sandbox,
        "settings": settings,
        "health_url": f"http://127.0.0.1:{health_port}/healthz",
        "flower_url": f"http://127.0.0.1:{flower_port}",
        "flower_auth": flower_auth,
    }
    STACK_FILE.write_text(json.dumps(stack, indent=2))
    (RUN_DIR / "env").write_text(
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in settings.items())
    )
    return stack


def _start_sandbox(env: dict[str, str], procs: dict[str, int]) -> dict[str, Any]:
    # The JSON line goes to a file, not a pipe: the sandbox outlives this launcher after `up`.
    argv = [_python(), "-m", "sandbox", "--port", "0"]
    sandbox = _spawn("sandbox", argv, env, stdout=RUN_DIR / "sandbox.json")
    procs["sandbox"] = sandbox.pid
    try:
        return dict(json.loads(sandbox.read_line(SANDBOX_TIMEOUT)))
    except ProcessStartError as exc:
        raise DemoError(str(exc)) from None


def wait_ready(stack: dict[str, Any]) -> None:
    """Wait until the listener leads with a live subscription and both workers answer."""

    def ready() -> bool:
        _check_alive(stack)
        try:
            health = requests.get(stack["health_url"], timeout=2).json()
        except (requests.RequestException, ValueError):
            health = {}
        return (
            health.get("role") == "leader" and health.get("status") == "ok" and _workers_up(stack)
        )

    try:
        wait_for(ready, READY_TIMEOUT, 0.5)
    except WaitTimeoutError:
        raise DemoError(
            f"the stack was not ready within {READY_TIMEOUT:g} s; see .run/*.log"
        ) from None


def _workers_up(stack: dict[str, Any]) -> bool:
    try:
        resp = requests.get(
            f"{stack['flower_url']}/api/workers",
            params={"refresh": "1"},
            auth=tuple(stack["flower_auth"].split(":", 1)),
            timeout=5,
        )
        return resp.ok and len(resp.json()) >= 2
    except (requests.RequestException, ValueError):
        return False


def _check_alive(stack: dict[str, Any]) -> None:
    for name, pid in stack["pids"].items():
        if not ProcessGroup(pid).running():
            raise DemoError(f"{name} exited; see .run/{name}.log")


def play_scenario(stack: dict[str, Any]) -> list[tuple[str, str]]:
    """John opens a chat with SmartFriend, is greeted, and books the seed's flight."""
    rest = stack["sandbox"]["rest_url"]
    john = as_person(rest, *JOHN)
    me = john.get("/glip/persons/~").json()
    bot = requests.get(
        f"{rest}{API_PREFIX}/glip/persons/~",
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},  # the seed's static bot token
        timeout=10,
    ).json()
    people = {me["id"]: me, bot["id"]: bot}
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [bot["id"]]})
    chat.raise_for_status()
    group_id = chat.json()["id"]
    _wait_for_posts(john, group_id, 1, "the greeting")
    sent = john.post("/glip/posts", json={"groupId": group_id, "text": FLIGHT_REQUEST})
    sent.raise_for_status()
    posts = _wait_for_posts(john, group_id, 3, "the booking")
    return [(_name(people.get(p["creatorId"])), p.get("text") or "") for p in posts]


def _wait_for_posts(john: Any, group_id: str, count: int, what: str) -> list[dict[str, Any]]:
    def posts() -> list[dict[str, Any]] | None:
        records = john.get("/glip/posts", params={"groupId": group_id}).json()["records"]
        return list(reversed(records)) if len(records) >= count else None  # oldest first

    try:
        return list(wait_for(posts, REPLY_TIMEOUT, 0.1))
    except WaitTimeoutError:
        raise DemoError(f"no {what} within {REPLY_TIMEOUT:g} s; see .run/worker*.log") from None


def _name(person: dict[str, Any] | None) -> str:
    if not person:
        return "?"
    return " ".join(filter(None, (person.get("firstName"), person.get("lastName")))).strip()


def transcript(lines: list[tuple[str, str]]) -> str:
    """The conversation as a chat transcript."""
    out = []
    for who, text in lines:
        first, *rest = text.splitlines() or [""]
        out.append(f"{who:>16} │ {first}")
        out.extend(f"{'':>16} │ {line}" for line in rest)
    return "\n".join(out)


def describe(stack: dict[str, Any]) -> str:
    """Where everything is and how to log in."""
    user, password = stack["flower_auth"].split(":", 1)
    rows = [
        ("Sandbox REST", stack["sandbox"]["rest_url"]),
        ("Sandbox PubNub", stack["sandbox"]["pubnub_origin"]),
        ("Listener health", stack["health_url"]),
        ("Flower", f"{stack['flower_url']}  (user {user}, password {password})"),
        ("Redis", stack["settings"]["REDIS_URL"]),
        ("Sign in as", "john.smith@sandbox.test / john (app sandbox-client-id)"),
        ("Settings", f"source {RUN_DIR}/env  # then: python -m tasks.ops status"),
        ("Logs", f"{RUN_DIR}/*.log"),
    ]
    return "\n".join(f"  {name:<16} {value}" for name, value in rows)


def down() -> list[str]:
    """Stop everything ``up`` started (by pid, from ``.run/stack.json``)."""
    if not STACK_FILE.exists():
        return []
    stack = json.loads(STACK_FILE.read_text())
    stopped = _stop(stack["pids"])
    STACK_FILE.unlink()
    return stopped


def _stop(pids: dict[str, int]) -> list[str]:
    order = sorted(pids, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else 0)
    groups = {name: ProcessGroup(pids[name]) for name in order}
    stopped = stop_all(list(groups.values()), STOP_GRACE)
    return [name for name, group in groups.items() if group in stopped]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__)
    parser.add_argument("command", choices=["demo", "up", "down"])
    parser.add_argument(
        "--exit", action="store_true", help="demo: stop everything after the scenario"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "down":
            stopped = down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
            return 0
        stack = up()
        print("Starting Redis, the sandbox, the listener, 2 workers, beat and Flower…")
        wait_ready(stack)
        print("The stack is up:\n" + describe(stack))
        if args.command == "up":
            print("Stop it with: make down")
            return 0
        print("\nJohn Smith opens a private chat with SmartFriend:\n")
        print(transcript(play_scenario(stack)))
        print(f"\nWatch the tasks in Flower: {stack['flower_url']}")
        if args.exit:
            return 0
        print("Talk to SmartFriend as John through the sandbox's REST API; Ctrl-C stops it.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.command == "demo":
            down()


if __name__ == "__main__":
    sys.exit(main())
