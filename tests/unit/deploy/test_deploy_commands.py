"""Every deployment file parses, and every command it runs would run against this project.

Commands come from compose (commands and health checks), the Kubernetes
manifests (command + args and exec probes), the systemd units' ExecStart and
the Procfile. ``python -m`` modules must exist and have a ``__main__``;
``celery`` command lines are parsed by Celery's own click commands, Flower's
options by Flower's; the sandbox's arguments by its argument parser.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click
import pytest
import yaml  # type: ignore[import-untyped]  # no stubs in the dev extras
from celery import Celery
from celery.app.utils import find_app
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli
from celery.worker.control import Panel
from deploy_files import (
    Command,
    Sources,
    all_commands,
    celery_split,
    container,
    flower_options,
    service,
    yaml_files,
)

from sandbox.__main__ import parse_args

#: Programs outside the project that commands may run; they are not checked.
EXTERNAL_PROGRAMS = frozenset({"sh", "mkdir", "grep", "redis-server", "redis-cli"})


def check_yaml_parses(paths: list[Path]) -> list[str]:
    """Every YAML file parses."""
    problems = []
    for path in paths:
        try:
            list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            problems.append(f"{path}: {exc}")
    return problems


def check_commands_exist(src: Sources) -> list[str]:
    """Every command runs something the project has, with options its CLI accepts."""
    return [p for cmd in all_commands(src) for p in command_problems(cmd)]


def command_problems(cmd: Command) -> list[str]:
    """Why ``cmd`` would not run against this project ([] if it would)."""
    argv = cmd.argv
    if not argv:
        return [f"{cmd.where}: empty command"]
    if argv[0] in EXTERNAL_PROGRAMS:
        return []
    if argv[0] == "celery":
        return [f"{cmd.where}: {p}" for p in _celery_problems(argv)]
    if argv[0] != "python":
        return [f"{cmd.where}: unknown program {argv[0]!r}"]
    if argv[1:2] == ["-c"]:
        try:
            compile(argv[2], cmd.where, "exec")
        except SyntaxError as exc:
            return [f"{cmd.where}: python -c does not compile: {exc}"]
        return []
    if argv[1:2] == ["-m"] and len(argv) > 2:
        return _module_problems(cmd.where, argv[2], argv[3:])
    return [f"{cmd.where}: expected python -m MODULE or python -c CODE"]


def _module_problems(where: str, module: str, args: list[str]) -> list[str]:
    if importlib.util.find_spec(module) is None:
        return [f"{where}: no module {module!r}"]
    if importlib.util.find_spec(f"{module}.__main__") is None:
        return [f"{where}: {module!r} has no __main__, so `python -m {module}` cannot run"]
    if module == "sandbox":
        try:
            parse_args(args)
        except SystemExit:
            return [f"{where}: python -m sandbox rejects {args}"]
    return []


def _celery_problems(argv: list[str]) -> list[str]:
    """Parse ``celery -A worker SUB ...`` with Celery's own click commands."""
    group_args, rest = celery_split(argv)
    try:
        ctx = celery_cli.make_context("celery", list(group_args), resilient_parsing=False)
    except click.UsageError as exc:
        return [f"celery rejects {group_args}: {exc}"]
    if ctx.params["app"] != "worker":
        return [f"expected `celery -A worker`, got -A {ctx.params['app']!r}"]
    app = find_app("worker")
    if not isinstance(app, Celery):
        return ["`celery -A worker` does not find a Celery app in worker.celery"]
    if not rest or rest[0] not in celery_cli.commands:
        return [f"celery has no subcommand {rest[:1]}"]
    name, *rest = rest
    ctx.obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    try:
        sub = celery_cli.commands[name].make_context(name, list(rest), parent=ctx)
    except click.UsageError as exc:
        return [f"celery {name} rejects {rest}: {exc}"]
    if name == "flower":
        return _flower_problems(list(sub.params["tornado_argv"]))
    if name == "inspect" and sub.params["command"] not in Panel.meta:
        return [f"celery inspect has no command {sub.params['command']!r}"]
    return []


def _flower_problems(args: list[str]) -> list[str]:
    known = flower_options()
    names = [a[2:].partition("=")[0].replace("-", "_") for a in args if a.startswith("--")]
    return [f"flower has no option --{n}" for n in names if n not in known]


def test_every_yaml_file_under_deploy_parses() -> None:
    paths = yaml_files()
    assert paths, "no YAML files found under deploy/"
    assert check_yaml_parses(paths) == []


def test_a_yaml_file_that_does_not_parse_is_reported(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("services:\n  worker: [ok]\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("services:\n  worker: [unclosed\n")
    (problem,) = check_yaml_parses([good, broken])
    assert problem.startswith(f"{broken}: ")


def test_commands_come_from_every_kind_of_deployment_file(shipped: Sources) -> None:
    """Guards the shipped-commands test against passing because it found nothing to check."""
    places = {cmd.where.split()[0] for cmd in all_commands(shipped)}
    assert places == {"compose", "k8s", "systemd", "Procfile"}


def test_every_shipped_command_runs_against_the_project(shipped: Sources) -> None:
    assert check_commands_exist(shipped) == []


def test_a_compose_service_running_a_missing_module_is_reported(broken: Sources) -> None:
    service(broken, "listener-a")["command"] = ["python", "-m", "no_such_module"]
    assert check_commands_exist(broken) == ["compose listener-a: no module 'no_such_module'"]


def test_an_unknown_celery_option_in_a_manifest_is_reported(broken: Sources) -> None:
    args = container(broken, "worker")["args"]
    args.append("--no-such-option")
    (problem,) = check_commands_exist(broken)
    assert problem.startswith(f"k8s worker/worker: celery worker rejects {args}: No such option")


#: Command lines the project cannot run, and what is reported about each.
UNRUNNABLE: list[tuple[list[str], str]] = [
    ([], "empty command"),
    (["node", "app.js"], "unknown program 'node'"),
    (["python", "app.py"], "expected python -m MODULE or python -c CODE"),
    (["python", "-m", "no_such_module"], "no module 'no_such_module'"),
    (
        ["python", "-m", "glipbot"],
        "'glipbot' has no __main__, so `python -m glipbot` cannot run",
    ),
    (
        ["python", "-m", "sandbox", "--no-such-flag"],
        "python -m sandbox rejects ['--no-such-flag']",
    ),
    (["celery", "-A", "tasks", "worker"], "expected `celery -A worker`, got -A 'tasks'"),
    (["celery", "-A", "worker", "no-such-sub"], "celery has no subcommand ['no-such-sub']"),
    (
        ["celery", "-A", "worker", "inspect", "no_such_command"],
        "celery inspect has no command 'no_such_command'",
    ),
    (
        ["celery", "-A", "worker", "flower", "--no-such-option=1"],
        "flower has no option --no_such_option",
    ),
]


@pytest.mark.parametrize(
    ("argv", "expected"), UNRUNNABLE, ids=[" ".join(a) or "nothing" for a, _ in UNRUNNABLE]
)
def test_a_command_the_project_cannot_run_is_reported(argv: list[str], expected: str) -> None:
    assert command_problems(Command("here", argv)) == [f"here: {expected}"]


def test_an_unknown_celery_group_option_is_reported() -> None:
    (problem,) = command_problems(Command("here", ["celery", "--no-such", "-A", "worker", "beat"]))
    assert problem.startswith("here: celery rejects ['--no-such', '-A', 'worker']: No such option")


def test_python_code_that_does_not_compile_is_reported() -> None:
    (problem,) = command_problems(Command("here", ["python", "-c", "import ("]))
    assert problem.startswith("here: python -c does not compile: ")


def test_programs_outside_the_project_are_not_checked() -> None:
    assert command_problems(Command("here", ["redis-cli", "--no-such-option"])) == []
