"""Log event names live in ``glipbot.log_events``, one style, each used where it is logged."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from glipbot import log_events

ROOT = Path(__file__).resolve().parents[3]
#: The platform's own code; a bot's events (``tasks/smartfriend``) are the bot's to name.
PLATFORM = ["glipbot", "worker", "listener", "tasks/events.py", "tasks/replies.py", "tasks/ops"]
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


def _modules() -> list[Path]:
    paths: list[Path] = []
    for entry in PLATFORM:
        path = ROOT / entry
        paths += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return paths


def literal_log_events(source: str) -> list[str]:
    """String literals passed as the event of a ``*log*.<level>(...)`` call."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        is_log = (
            isinstance(func, ast.Attribute)
            and func.attr in LOG_METHODS
            and "log" in ast.unparse(func.value).lower()
        )
        first = node.args[0]
        if is_log and isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append(first.value)
    return found


def test_every_event_name_is_snake_case_and_named_once() -> None:
    names = {k: v for k, v in vars(log_events).items() if k.isupper()}

    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", value) for value in names.values()), names
    assert {k: v.upper() for k, v in names.items()} == {k: k for k in names}
    assert len(set(names.values())) == len(names)


def test_the_platform_logs_no_event_name_of_its_own() -> None:
    literals = {
        str(path.relative_to(ROOT)): literal_log_events(path.read_text())
        for path in _modules()
        if literal_log_events(path.read_text())
    }

    assert literals == {}


def test_a_literal_event_name_is_found() -> None:
    source = 'log.info("event_handled", replies=1)\n_log.warning(ev.EVENT_RETRY)\n'

    assert literal_log_events(source) == ["event_handled"]
