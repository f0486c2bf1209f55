"""Every entry point refuses invalid settings before it does anything, in one line.

Each program runs as an operator starts it, in an empty directory (no
``.env``), under an audit hook (``audited.py``) that writes down every TCP
connection it attempts and every program it starts: a refusal must come
before any of them, so nothing can reach a broker, Celery's default
``amqp://localhost`` included.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from devtools.ports import free_port
from glipbot.contracts import EVENTS_QUEUE, HANDLE_EVENT, OPS_QUEUE
from tests.support.programs import ROOT, WorkerProcess

pytestmark = pytest.mark.integration

AUDITED = Path(__file__).with_name("audited.py")
#: Bounds, not expectations: a refusal takes about as long as the imports.
RUN_TIMEOUT = 60.0

#: Every entry point, as ``python -m MODULE ARGS``.
ENTRY_POINTS: dict[str, list[str]] = {
    "celery worker": ["celery", "-A", "worker", "worker", "-Q", "events,replies,ops", "-c", "1"],
    "celery beat": ["celery", "-A", "worker", "beat"],
    "celery flower": ["celery", "-A", "worker", "flower", "--address=127.0.0.1", "--port=0"],
    "celery call": ["celery", "-A", "worker", "call", "tasks.ops.status"],
    "celery inspect": ["celery", "-A", "worker", "inspect", "ping", "--timeout", "1"],
    "ops CLI": ["tasks.ops", "status"],
    "listener": ["listener"],
    "demo": ["devtools.demo", "up"],
}


def _env(**settings: str) -> dict[str, str]:
    """A clean environment: our code on the path, ``settings``, nothing else of ours."""
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LOG_FORMAT": "json", **settings}


def _audited(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, list[Any]]:
    """Run ``python -m argv`` under the audit hook: exit status, stderr, what it connected to."""
    log = cwd / "audit.jsonl"
    done = subprocess.run(
        [sys.executable, str(AUDITED), str(log), *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    audit = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done.returncode, done.stderr, audit


@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        (
            "RINGCENTRAL_HTTP_TIMEOUT",
            "fifteen",
            "RINGCENTRAL_HTTP_TIMEOUT must be a number, not 'fifteen'",
        ),
        ("DEAD_LETTERS_MAX", "-5", "DEAD_LETTERS_MAX must be at least 1, not -5"),
    ],
)
def test_an_invalid_setting_stops_every_entry_point_with_one_line_before_any_connection(
    entry_point: str, variable: str, value: str, problem: str, tmp_path: Path
) -> None:
    env = _env(**{variable: value, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})

    try:
        status, stderr, audit = _audited(ENTRY_POINTS[entry_point], env, tmp_path)
    finally:
        if entry_point == "demo":  # had it started the stack after all, stop it
            _demo_down(env, tmp_path)

    assert status == 2, stderr
    [line] = stderr.splitlines()  # one line, no traceback
    assert line.endswith(f": {problem}")
    assert audit == []  # no broker, no Redis, no program: nothing was started or contacted


def _demo_down(env: dict[str, str], cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "devtools.demo", "down"],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_the_audit_sees_the_connection_a_valid_call_makes(redis_url: str, tmp_path: Path) -> None:
    """The control: with valid settings ``celery call`` sends, and the audit records it."""
    port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["port"]

    status, stderr, audit = _audited(
        ENTRY_POINTS["celery call"], _env(REDIS_URL=redis_url), tmp_path
    )

    assert status == 0, stderr
    assert {"connect": ["127.0.0.1", port]} in audit
    assert redis.Redis.from_url(redis_url).llen(OPS_QUEUE) == 1


def test_misspelt_variables_are_warned_about_and_the_command_goes_on(
    redis_url: str, tmp_path: Path
) -> None:
    """``python -m tasks.ops`` knows the deployment's variables: SmartFriend's too."""
    (tmp_path / ".env").write_text("BIRTHDAYS_FLIE=/srv/birthdays.json\n")
    env = _env(REDIS_URL=redis_url, REDIS_ULR="redis://elsewhere:6379/0")

    status, stderr, _ = _audited(["tasks.ops", "--no-wait", "status"], env, tmp_path)

    assert status == 0, stderr
    warnings = [json.loads(line) for line in stderr.splitlines() if "setting_unknown" in line]
    assert [(w["variable"], w["did_you_mean"], w["level"]) for w in warnings] == [
        ("BIRTHDAYS_FLIE", "BIRTHDAYS_FILE", "warning"),
        ("REDIS_ULR", "REDIS_URL", "warning"),
    ]


def _enqueue_event(redis_url: str) -> bytes:
    """Put one ``handle_event`` message on the ``events`` queue, as the listener does."""
    sender = Celery("config-test", broker=redis_url, set_as_current=False)
    envelope = {"uuid": "u-config-1", "event": "/restapi/v1.0/glip/posts", "body": {}}
    sender.send_task(HANDLE_EVENT, args=[envelope], queue=EVENTS_QUEUE)
    sender.close()
    [message] = redis.Redis.from_url(redis_url).lrange(EVENTS_QUEUE, 0, -1)
    return bytes(message)


def test_a_worker_whose_bot_app_names_no_bot_refuses_to_start_and_consumes_nothing(
    redis_url: str, tmp_path: Path
) -> None:
    message = _enqueue_event(redis_url)
    argv = [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "events", "-c", "1"]
    env = _env(REDIS_URL=redis_url, BOT_APP="no_such_bots:bot")

    done = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    named = [line for line in done.stderr.splitlines() if "BOT_APP" in line]
    assert named == [
        "celery worker: BOT_APP='no_such_bots:bot' names no bot: No module named 'no_such_bots'"
    ]
    client = redis.Redis.from_url(redis_url)
    assert client.lrange(EVENTS_QUEUE, 0, -1) == [message]  # still there, as it was
    assert client.hlen("unacked") == 0  # and never taken


def test_a_worker_loads_its_bot_at_start_and_warns_of_the_deployments_misspelt_variables(
    redis_url: str, tmp_path: Path
) -> None:
    env = _env(
        REDIS_URL=redis_url,
        BIRTHDAYS_FLIE="/srv/birthdays.json",
        # Not the sandbox's default, "smartfriend": as a secret it would be masked in
        # every log line, "tasks.smartfriend:bot" included.
        RINGCENTRAL_PASSWORD="not-used-at-start",
    )
    worker = WorkerProcess(env, "config-worker", log_dir=tmp_path)
    try:
        lines = worker.wait_ready(
            lambda: _events(worker, {"bot_loaded", "setting_unknown"}) or None,
            RUN_TIMEOUT,
            what="loading its bot",
        )
    finally:
        worker.close()

    assert [(line["event"], line.get("bot_app")) for line in lines][:1] == [
        ("bot_loaded", "tasks.smartfriend:bot")
    ]
    assert [(line["variable"], line["did_you_mean"]) for line in lines[1:]] == [
        ("BIRTHDAYS_FLIE", "BIRTHDAYS_FILE")
    ]


def _events(worker: WorkerProcess, names: set[str]) -> list[dict[str, Any]]:
    """The worker's log lines of the events ``names`` once both kinds are there, else []."""
    lines = [line for line in worker.json_lines() if line.get("event") in names]
    return lines if {line["event"] for line in lines} == names else []
