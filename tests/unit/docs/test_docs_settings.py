"""The operator's guide (and the README's configuration table) agree with the code.

* the guide's settings table, and the README's "Configuration" table when the
  README has one, list exactly the variables the deployment reads (the
  ``setting()`` fields of the platform's and SmartFriend's settings, see
  ``tasks.deployment_variables``), each with the default in effect in the code;
* the README's table says what each variable is for in the words of its field's
  description;
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

from glipbot.settings import Variable
from tasks import deployment_variables
from tasks.ops.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "operators-guide.md"
README = ROOT / "README.md"

VARIABLES: dict[str, Variable] = {v.name: v for v in deployment_variables()}
SETTINGS = frozenset(VARIABLES)
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


def _table_rows(markdown: str, first_header: str) -> list[list[str]]:
    """The body rows of every table of ``markdown`` whose first column is ``first_header``."""
    return [
        row
        for header, rows in _tables(markdown)
        if header and header[0].lower() == first_header
        for row in rows
    ]


def _readme_rows() -> list[list[str]]:
    return [row for _, rows in _tables(_section(_readme(), "Configuration")) for row in rows]


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _documented_default(cell: str) -> str | None:
    """The default a table cell states: "" for a cell that says empty, else its first code span."""
    if re.match(r"\(?empty\b", cell, re.IGNORECASE):
        return ""
    found = re.search(r"`([^`]*)`", cell)
    return found.group(1) if found else None


def _states(documented: str | None, default: object) -> bool:
    """Whether the documented text is the code's default (``15`` or ``15.0`` for 15.0)."""
    if documented is None:
        return False
    if isinstance(default, bool):
        return documented.lower() == str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(documented) == default
        except ValueError:
            return False
    return documented == default


def _wrong_defaults(rows: list[list[str]], column: int) -> list[str]:
    """``NAME: the docs say ..., the code ...`` for each row whose default differs from the code."""
    wrong = []
    for row in rows:
        for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row[0]):
            if name in VARIABLES and not _states(
                _documented_default(row[column]), VARIABLES[name].default
            ):
                wrong.append(
                    f"{name}: the docs say {row[column]!r}, the code {VARIABLES[name].default!r}"
                )
    return wrong


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


def test_the_guides_settings_table_states_each_default_as_the_code_does() -> None:
    rows = _table_rows(_guide(), "setting")
    header = next(h for h, _ in _tables(_guide()) if h and h[0].lower() == "setting")
    assert _wrong_defaults(rows, header.index("default")) == []


def test_the_readmes_configuration_table_lists_every_setting_once_and_nothing_else() -> None:
    rows = _readme_rows()
    if not rows:
        pytest.skip("README.md has no Configuration table yet")
    assert _difference(_first_column_names(rows)) == {"missing": [], "unknown": [], "twice": []}


def test_the_readmes_configuration_table_states_each_default_as_the_code_does() -> None:
    assert _wrong_defaults(_readme_rows(), 1) == []


def test_the_readmes_configuration_table_describes_each_setting_as_its_field_does() -> None:
    """The meaning column is the ``setting()`` description: one text, in the code."""
    different = [
        f"{name}: the README says {row[2]!r}, the field {VARIABLES[name].description!r}"
        for row in _readme_rows()
        for name in _first_column_names([row])
        if name in VARIABLES and row[2] != VARIABLES[name].description
    ]
    assert different == []


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
