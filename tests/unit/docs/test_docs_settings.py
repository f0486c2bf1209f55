"""The operator's guide (and the README's configuration table) agree with the code.

* the guide's settings table, and the README's "Configuration" table when the
  README has one, list exactly the variables of ``glipbot.settings.ENV_NAMES``;
* the guide's table of deployment-only variables lists none of them;
* every ``python -m tasks.ops ...`` command line in the guide parses with the
  CLI's own parser;
* every task name the guide mentions (``tasks.ops.status``, ...) is registered
  in the Celery app.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from glipbot.settings import ENV_NAMES
from tasks.ops.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "operators-guide.md"
README = ROOT / "README.md"

SETTINGS = frozenset(ENV_NAMES.values())
#: Options of ``python -m tasks.ops`` that print help and exit instead of running.
HELP_FLAGS = frozenset({"-h", "--help"})
_CLI = "python -m tasks.ops"
_TASK_NAME = re.compile(r"\btasks\.(?:events|replies|ops)\.[a-z_]+\b")


def _tables(markdown: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every pipe table of ``markdown`` as ``(header cells, body rows of cells)``."""
    tables: list[tuple[list[str], list[list[str]]]] = []
    block: list[str] = []
    for line in [*markdown.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            block.append(line.strip())
            continue
        if len(block) >= 2 and set(block[1].replace("|", "").strip()) <= set("-: "):
            rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in block]
            tables.append((rows[0], rows[2:]))
        block = []
    return tables


def _first_column_names(rows: list[list[str]]) -> list[str]:
    """The backticked variable names of each row's first cell."""
    return [name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row[0])]


def _section(markdown: str, heading: str) -> str:
    """The text under the ``## heading`` (up to the next ``## ``), or ``""``."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    return match.group(1) if match else ""


def _guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _table_names(markdown: str, first_header: str) -> list[str]:
    names: list[str] = []
    for header, rows in _tables(markdown):
        if header and header[0].lower() == first_header:
            names += _first_column_names(rows)
    return names


def _difference(listed: list[str]) -> dict[str, list[str]]:
    return {
        "missing": sorted(SETTINGS - set(listed)),
        "unknown": sorted(set(listed) - SETTINGS),
        "twice": sorted({n for n in listed if listed.count(n) > 1}),
    }


def test_the_guides_settings_table_lists_every_setting_once_and_nothing_else() -> None:
    listed = _table_names(_guide(), "setting")
    assert listed, "the guide has no table whose first column is 'setting'"
    assert _difference(listed) == {"missing": [], "unknown": [], "twice": []}


def test_the_readmes_configuration_table_lists_every_setting_once_and_nothing_else() -> None:
    section = _section(README.read_text(encoding="utf-8"), "Configuration")
    tables = _tables(section)
    if not tables:
        pytest.skip("README.md has no Configuration table yet")
    listed = [name for _, rows in tables for name in _first_column_names(rows)]
    assert _difference(listed) == {"missing": [], "unknown": [], "twice": []}


def test_the_deployment_only_variables_are_not_settings() -> None:
    listed = _table_names(_guide(), "variable (deployment only)")
    assert listed, "the guide has no table of deployment-only variables"
    assert sorted(SETTINGS & set(listed)) == []


def _cli_lines(markdown: str) -> list[str]:
    """The argument text after each ``python -m tasks.ops`` (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", markdown)
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("usage:"):
            continue  # the CLI's own --help output, quoted
        for match in re.finditer(re.escape(_CLI), line):
            rest = line[match.end() :]
            # Stop at the end of inline code, a table cell, a shell comment or operator.
            rest = re.split(r"`|\||\s#|;|&&", rest, maxsplit=1)[0]
            found.append(rest.strip())
    return found


def test_every_ops_command_line_in_the_guide_parses() -> None:
    parser = build_parser()
    commands = set()
    failures = []
    for rest in _cli_lines(_guide()):
        argv = shlex.split(rest)
        if not argv or HELP_FLAGS & set(argv):
            continue  # the program named in prose, or its --help
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            failures.append(rest)
            continue
        commands.add(args.command)
    assert failures == []
    assert commands, "the guide shows no python -m tasks.ops command"


def _is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:
        return False


def test_every_task_name_in_the_guide_is_registered() -> None:
    import tasks.ops  # noqa: F401 - registers the ops tasks (and the events and replies tasks)
    from worker.celery import app

    mentioned = {name for name in _TASK_NAME.findall(_guide()) if not _is_module(name)}
    assert mentioned, "the guide names no task"
    assert sorted(mentioned - set(app.tasks.keys())) == []
