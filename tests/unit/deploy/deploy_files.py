"""The deployment files (``deploy/`` and the ``Procfile``), parsed for the deploy tests.

The checks in the ``test_deploy_*`` modules take a :class:`Sources` and return
their problems, one line each, ``[]`` when all is well: a test runs a check on
the shipped files and another on a deliberately broken copy of them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import flower.options  # noqa: F401 - defines Flower's options on tornado's
import yaml  # type: ignore[import-untyped]  # no stubs in the dev extras
from celery.bin.celery import celery as celery_cli
from tornado.options import options as tornado_options

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
FLOWER_PORT = 5555
VENV_BIN = "/opt/glipbot/.venv/bin/"
#: Values for ${VAR}, $VAR and systemd specifiers, so that commands can be parsed.
PLACEHOLDERS = {"WORKER_CONCURRENCY": "2", "HOSTNAME": "host", "REDIS_PASSWORD": "secret"}


@dataclass
class Command:
    """One command line a deployment file runs, with where it comes from."""

    where: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    main: bool = True  # False for health checks and probes


@dataclass
class Sources:
    """Every deployment file, parsed."""

    compose: dict[str, Any]
    k8s: list[dict[str, Any]]
    units: dict[str, dict[str, list[str]]]
    procfile: dict[str, str]
    env_example: dict[str, str | None]
    sandbox_env: dict[str, str]


# --- loading ------------------------------------------------------------------


def yaml_files(deploy: Path = DEPLOY) -> list[Path]:
    """Every YAML file under ``deploy``."""
    return sorted(p for p in deploy.rglob("*") if p.suffix in (".yaml", ".yml"))


def load_env_file(path: Path) -> dict[str, str | None]:
    """``NAME=value`` lines; a commented ``# NAME=...`` documents NAME (value None)."""
    names: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        set_match = re.match(r"([A-Z][A-Z0-9_]*)=(.*)$", line)
        doc_match = re.match(r"#\s*([A-Z][A-Z0-9_]*)=", line)
        if set_match:
            names[set_match[1]] = set_match[2]
        elif doc_match:
            names.setdefault(doc_match[1], None)
    return names


def load_unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit as key -> values (keys may repeat), sections merged."""
    keys: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def load_sources(deploy: Path = DEPLOY, procfile: Path = ROOT / "Procfile") -> Sources:
    """Parse every deployment file."""
    k8s = [
        doc
        for path in sorted((deploy / "k8s").glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    procs = {}
    for line in procfile.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_-]+):\s*(.+)$", line)
        if match:
            procs[match[1]] = match[2]
    sandbox_env = load_env_file(deploy / "sandbox.env")
    return Sources(
        compose=yaml.safe_load((deploy / "compose.yaml").read_text()),
        k8s=k8s,
        units={p.name: load_unit(p) for p in sorted((deploy / "systemd").glob("*.service"))},
        procfile=procs,
        env_example=load_env_file(deploy / "env.example"),
        sandbox_env={k: v or "" for k, v in sandbox_env.items()},
    )


# --- commands -----------------------------------------------------------------


def substitute(word: str) -> str:
    """``word`` with ${VAR}, $VAR, $$VAR and %i / %H replaced by placeholder values."""

    def value(match: re.Match[str]) -> str:
        return match[3] if match[3] is not None else PLACEHOLDERS.get(match[1], "x")

    word = re.sub(r"\$\$?\{?([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}?", value, word)
    return word.replace("%i", "1").replace("%H", "host")


def split_command(where: str, argv: list[str], main: bool) -> Iterator[Command]:
    """``argv`` as commands: shells unwrapped, ``&&`` split, ``NAME=value`` prefixes taken off."""
    if argv[:2] == ["sh", "-c"]:
        argv = shlex.split(argv[2])
    words = [substitute(w) for w in argv]
    while words:
        cut = words.index("&&") if "&&" in words else len(words)
        part, words = words[:cut], words[cut + 1 :]
        if part[:1] == ["exec"]:
            part = part[1:]
        env = {}
        while part and re.match(r"[A-Z_][A-Z0-9_]*=", part[0]):
            name, _, val = part.pop(0).partition("=")
            env[name] = val
        if part and part[0].startswith(VENV_BIN):
            part[0] = part[0].removeprefix(VENV_BIN)
        yield Command(where, part, env, main)


def _health_argv(test: list[str] | str) -> list[str]:
    if isinstance(test, str):
        return ["sh", "-c", test]
    return ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]


def compose_commands(compose: dict[str, Any]) -> Iterator[Command]:
    """The command and the health check of every compose service."""
    for name, service in compose["services"].items():
        cmd = service.get("command")
        if cmd:
            yield from split_command(
                f"compose {name}", cmd if isinstance(cmd, list) else shlex.split(cmd), True
            )
        if "healthcheck" in service:
            argv = _health_argv(service["healthcheck"]["test"])
            yield from split_command(f"compose {name} healthcheck", argv, False)


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, container) for every container of every Deployment and StatefulSet."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc, container


def k8s_commands(docs: list[dict[str, Any]]) -> Iterator[Command]:
    """The command + args and the exec probes of every container."""
    for doc, c in containers(docs):
        where = f"k8s {doc['metadata']['name']}/{c['name']}"
        yield from split_command(where, c.get("command", []) + c.get("args", []), True)
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if "exec" in c.get(probe, {}):
                yield from split_command(f"{where} {probe}", c[probe]["exec"]["command"], False)


def unit_commands(units: dict[str, dict[str, list[str]]]) -> Iterator[Command]:
    """Every ExecStart of the systemd units."""
    for name, keys in units.items():
        for line in keys.get("ExecStart", []):
            yield from split_command(f"systemd {name}", shlex.split(line), True)


def procfile_commands(procfile: dict[str, str]) -> Iterator[Command]:
    """Every Procfile line."""
    for name, line in procfile.items():
        yield from split_command(f"Procfile {name}", shlex.split(line), True)


def all_commands(src: Sources) -> list[Command]:
    """Every command of every deployment file."""
    return [
        *compose_commands(src.compose),
        *k8s_commands(src.k8s),
        *unit_commands(src.units),
        *procfile_commands(src.procfile),
    ]


def celery_split(argv: list[str]) -> tuple[list[str], list[str]]:
    """``celery GROUP-OPTIONS SUB SUB-ARGS`` -> (group options, [SUB, *SUB-ARGS])."""
    takes_value = {
        opt
        for p in celery_cli.params
        if isinstance(p, click.Option) and not p.is_flag
        for opt in p.opts
    }
    words, i = argv[1:], 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in takes_value else 1
    return words[:i], words[i:]


def role_of(argv: list[str]) -> str | None:
    """listener, worker, beat, flower, sandbox or redis; None for anything else."""
    if argv[:2] == ["python", "-m"] and len(argv) > 2:
        return argv[2]
    if argv and argv[0] == "redis-server":
        return "redis"
    if argv and argv[0] == "celery":
        rest = celery_split(argv)[1]
        sub = rest[0] if rest else None
        return sub if sub in ("worker", "beat", "flower") else None
    return None


def roles(commands: list[Command]) -> dict[str, list[str]]:
    """role -> where it runs, for the main commands."""
    found: dict[str, list[str]] = {}
    for cmd in commands:
        role = role_of(cmd.argv) if cmd.main else None
        if role:
            found.setdefault(role, []).append(cmd.where)
    return found


def flag(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``argv``."""
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(name + "="):
            return word.partition("=")[2]
    return None


def flower_options() -> set[str]:
    """Flower's option names (tornado options, with underscores)."""
    return {name.replace("-", "_") for name in tornado_options._options}


# --- reaching into a copy to break it -------------------------------------------


def service(src: Sources, name: str) -> dict[str, Any]:
    """The compose service ``name``."""
    found: dict[str, Any] = src.compose["services"][name]
    return found


def workload(src: Sources, name: str) -> dict[str, Any]:
    """The Kubernetes Deployment or StatefulSet ``name``."""
    return next(d for d, _ in containers(src.k8s) if d["metadata"]["name"] == name)


def container(src: Sources, name: str) -> dict[str, Any]:
    """The first container of the Kubernetes workload ``name``."""
    found: dict[str, Any] = workload(src, name)["spec"]["template"]["spec"]["containers"][0]
    return found


def k8s_doc(src: Sources, kind: str, name: str) -> dict[str, Any]:
    """The Kubernetes object of ``kind`` called ``name``."""
    return next(d for d in src.k8s if d["kind"] == kind and d["metadata"]["name"] == name)
