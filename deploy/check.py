"""Check the deployment files against the project: ``python deploy/check.py``.

No container engine or cluster is needed. Every check reads the files in
``deploy/`` (and the ``Procfile``) and compares them with the code: the
commands they run exist, the variables they set are settings
(``glipbot.settings.ENV_NAMES``) or in :data:`EXTRA_ENV`, and compose, the
Kubernetes manifests, the systemd units and the Procfile agree on roles,
settings, instance counts, grace periods and ports. Exit status 1 lists the
problems, one per line.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no stubs in the dev extras

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python deploy/check.py` puts deploy/, not the root, first
    sys.path.insert(0, str(ROOT))

from glipbot.settings import DEFAULT_HEALTH_PORT, ENV_NAMES  # noqa: E402
from sandbox import config as sandbox_config  # noqa: E402
from worker.celery import LONGEST_TASK  # noqa: E402

DEPLOY = ROOT / "deploy"
ROLES = frozenset({"listener", "worker", "beat", "flower"})
FLOWER_PORT = 5555
VENV_BIN = "/opt/glipbot/.venv/bin/"

#: Variables the deployment sets that are not settings of the code, and why.
EXTRA_ENV = {
    "FLOWER_BASIC_AUTH": "Flower's login; Flower reads FLOWER_* variables itself",
    "REDIS_PASSWORD": "Redis' --requirepass; compose builds REDIS_URL from it",
    "REDISCLI_AUTH": "the password redis-cli uses in Redis' health check",
    "PYTHONUNBUFFERED": "logs leave the process at once",
    "WORKER_CONCURRENCY": "--concurrency of a worker container or systemd instance",
    "COMPOSE_PROFILES": "sandbox.env turns the sandbox profile on",
    "GLIPBOT_ENV_FILE": "sandbox.env hands its settings to the app services",
}
#: Never a literal value in a manifest (sandbox.env's public seed values aside).
SECRETS = frozenset(
    {
        "RINGCENTRAL_CLIENT_SECRET",
        "RINGCENTRAL_PASSWORD",
        "RINGCENTRAL_JWT",
        "RINGCENTRAL_BOT_TOKEN",
        "REDIS_URL",
        "REDIS_PASSWORD",
        "FLOWER_BASIC_AUTH",
        "REDISCLI_AUTH",
    }
)
#: Programs outside the project that commands may run; they are not checked.
EXTERNAL_PROGRAMS = frozenset({"sh", "mkdir", "grep", "redis-server", "redis-cli"})
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


def _substitute(word: str) -> str:
    def value(match: re.Match[str]) -> str:
        return match[3] if match[3] is not None else PLACEHOLDERS.get(match[1], "x")

    word = re.sub(r"\$\$?\{?([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}?", value, word)
    return word.replace("%i", "1").replace("%H", "host")


def _split(where: str, argv: list[str], main: bool) -> Iterator[Command]:
    """``argv`` as commands: shells unwrapped, ``&&`` split, ``NAME=value`` prefixes taken off."""
    if argv[:2] == ["sh", "-c"]:
        argv = shlex.split(argv[2])
    words = [_substitute(w) for w in argv]
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
            yield from _split(
                f"compose {name}", cmd if isinstance(cmd, list) else shlex.split(cmd), True
            )
        if "healthcheck" in service:
            argv = _health_argv(service["healthcheck"]["test"])
            yield from _split(f"compose {name} healthcheck", argv, False)


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
        yield from _split(where, c.get("command", []) + c.get("args", []), True)
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if "exec" in c.get(probe, {}):
                yield from _split(f"{where} {probe}", c[probe]["exec"]["command"], False)


def unit_commands(units: dict[str, dict[str, list[str]]]) -> Iterator[Command]:
    """Every ExecStart of the systemd units."""
    for name, keys in units.items():
        for line in keys.get("ExecStart", []):
            yield from _split(f"systemd {name}", shlex.split(line), True)


def procfile_commands(procfile: dict[str, str]) -> Iterator[Command]:
    """Every Procfile line."""
    for name, line in procfile.items():
        yield from _split(f"Procfile {name}", shlex.split(line), True)


def all_commands(src: Sources) -> list[Command]:
    """Every command of every deployment file."""
    return [
        *compose_commands(src.compose),
        *k8s_commands(src.k8s),
        *unit_commands(src.units),
        *procfile_commands(src.procfile),
    ]


def role_of(argv: list[str]) -> str | None:
    """listener, worker, beat, flower, sandbox or redis; None for anything else."""
    if argv[:2] == ["python", "-m"] and len(argv) > 2:
        return argv[2]
    if argv and argv[0] == "redis-server":
        return "redis"
    if argv and argv[0] == "celery":
        sub = _celery_subcommand(argv)
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
        from sandbox.__main__ import parse_args

        try:
            parse_args(args)
        except SystemExit:
            return [f"{where}: python -m sandbox rejects {args}"]
    return []


def _celery_split(argv: list[str]) -> tuple[list[str], list[str]]:
    """``celery GROUP-OPTIONS SUB SUB-ARGS`` -> (group options, [SUB, *SUB-ARGS])."""
    import click  # celery's CLI loads only when a command names it
    from celery.bin.celery import celery as cli

    takes_value = {
        opt for p in cli.params if isinstance(p, click.Option) and not p.is_flag for opt in p.opts
    }
    words, i = argv[1:], 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in takes_value else 1
    return words[:i], words[i:]


def _celery_subcommand(argv: list[str]) -> str | None:
    rest = _celery_split(argv)[1]
    return rest[0] if rest else None


def _celery_problems(argv: list[str]) -> list[str]:
    """Parse ``celery -A worker SUB ...`` with Celery's own click commands."""
    import click
    from celery import Celery
    from celery.app.utils import find_app
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery as cli

    group_args, rest = _celery_split(argv)
    try:
        ctx = cli.make_context("celery", group_args, resilient_parsing=False)
    except click.UsageError as exc:
        return [f"celery rejects {group_args}: {exc}"]
    if ctx.params["app"] != "worker":
        return [f"expected `celery -A worker`, got -A {ctx.params['app']!r}"]
    app = find_app("worker")
    if not isinstance(app, Celery):
        return ["`celery -A worker` does not find a Celery app in worker.celery"]
    if not rest or rest[0] not in cli.commands:
        return [f"celery has no subcommand {rest[:1]}"]
    name, *rest = rest
    ctx.obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    try:
        sub = cli.commands[name].make_context(name, rest, parent=ctx)
    except click.UsageError as exc:
        return [f"celery {name} rejects {rest}: {exc}"]
    if name == "flower":
        return _flower_problems(list(sub.params["tornado_argv"]))
    if name == "inspect":
        from celery.worker.control import Panel

        if sub.params["command"] not in Panel.meta:
            return [f"celery inspect has no command {sub.params['command']!r}"]
    return []


def flower_options() -> set[str]:
    """Flower's option names (tornado options, with underscores)."""
    import flower.options  # noqa: F401 - defines Flower's options on tornado's
    from tornado.options import options

    return {name.replace("-", "_") for name in options._options}


def _flower_problems(args: list[str]) -> list[str]:
    known = flower_options()
    names = [a[2:].partition("=")[0].replace("-", "_") for a in args if a.startswith("--")]
    return [f"flower has no option --{n}" for n in names if n not in known]


# --- the checks: each returns its problems, [] when all is well ----------------


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


def configured_env(src: Sources) -> dict[str, set[str]]:
    """Where -> the variables set there (empty values and comments are not set)."""
    found: dict[str, set[str]] = {
        "env.example": {k for k, v in src.env_example.items() if v is not None},
        "sandbox.env": set(src.sandbox_env),
    }
    for name, service in src.compose["services"].items():
        found[f"compose {name}"] = set(service.get("environment") or {})
    for doc in src.k8s:
        if doc["kind"] in ("ConfigMap", "Secret"):
            data = {**doc.get("data", {}), **doc.get("stringData", {})}
            found[f"k8s {doc['kind']} {doc['metadata']['name']}"] = set(data)
    for doc, c in containers(src.k8s):
        found[f"k8s {doc['metadata']['name']}/{c['name']}"] = {e["name"] for e in c.get("env", [])}
    for name, keys in src.units.items():
        found[f"systemd {name}"] = {e.partition("=")[0] for e in keys.get("Environment", [])}
    for cmd in all_commands(src):
        found.setdefault(cmd.where, set()).update(cmd.env)
    return found


def check_env_names_known(src: Sources) -> list[str]:
    """Every variable set anywhere is a setting (ENV_NAMES) or in EXTRA_ENV."""
    known = set(ENV_NAMES.values()) | set(EXTRA_ENV)
    return [
        f"{where}: {name} is neither a setting (glipbot.settings.ENV_NAMES) nor in EXTRA_ENV"
        for where, names in configured_env(src).items()
        for name in sorted(names - known)
    ]


def check_flower_env_names(src: Sources) -> list[str]:
    """FLOWER_* variables name Flower options: Flower stops at start on any other."""
    names = set().union(*configured_env(src).values())
    known = flower_options()
    return [
        f"{name} is not a Flower option"
        for name in sorted(n for n in names if n.startswith("FLOWER_"))
        if name.removeprefix("FLOWER_").lower() not in known
    ]


def check_env_example_documents_settings(src: Sources) -> list[str]:
    """env.example names every setting, set or commented with its default."""
    return [
        f"env.example does not document {name}"
        for name in sorted(set(ENV_NAMES.values()) - set(src.env_example))
    ]


def _settings(names: set[str]) -> set[str]:
    return names & set(ENV_NAMES.values())


def check_settings_agree(src: Sources) -> list[str]:
    """compose (env.example + environment) and Kubernetes configure the same settings."""
    env = configured_env(src)
    compose = _settings(
        env["env.example"].union(*(v for k, v in env.items() if k.startswith("compose ")))
    )
    k8s = _settings(set().union(*(v for k, v in env.items() if k.startswith("k8s "))))
    problems = [f"set for compose, not for Kubernetes: {n}" for n in sorted(compose - k8s)]
    return problems + [f"set for Kubernetes, not for compose: {n}" for n in sorted(k8s - compose)]


def check_roles_agree(src: Sources) -> list[str]:
    """compose, Kubernetes, systemd and the Procfile each run exactly the four roles."""
    profiled = {n for n, s in src.compose["services"].items() if s.get("profiles")}
    compose = [c for c in compose_commands(src.compose) if c.where.split()[1] not in profiled]
    places = {
        "compose": compose,
        "Kubernetes": list(k8s_commands(src.k8s)),
        "systemd": list(unit_commands(src.units)),
        "Procfile": list(procfile_commands(src.procfile)),
    }
    problems = []
    for place, commands in places.items():
        found = set(roles(commands)) - {"redis"}
        if found != ROLES:
            problems.append(f"{place} runs {sorted(found)}, expected {sorted(ROLES)}")
    return problems


def check_two_listeners(src: Sources) -> list[str]:
    """Two listeners everywhere: a leader and a standby."""
    counts = {
        "compose": sum(
            (s.get("deploy") or {}).get("replicas", 1)
            for s in src.compose["services"].values()
            if role_of(next(_split("", s.get("command", ["-"]), True)).argv) == "listener"
        ),
        "Kubernetes": sum(
            d["spec"].get("replicas", 1)
            for d, c in containers(src.k8s)
            if role_of(next(_split("", c.get("command", []) + c.get("args", []), True)).argv)
            == "listener"
        ),
        "Procfile": len(roles(list(procfile_commands(src.procfile))).get("listener", [])),
    }
    problems = [f"{p} runs {n} listeners, expected 2" for p, n in counts.items() if n != 2]
    if not any(name.startswith("glipbot-listener@") for name in src.units):
        problems.append("systemd: the listener unit is not a template (glipbot-listener@.service)")
    return problems


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)\s*(s|m|min)?", str(value).strip())
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return int(match[1]) * (60 if match[2] in ("m", "min") else 1)


def check_worker_grace(src: Sources) -> list[str]:
    """Workers get longer than the longest task to stop, everywhere."""
    graces = {
        "compose worker stop_grace_period": src.compose["services"]["worker"].get(
            "stop_grace_period", "10s"
        ),
        **{
            f"k8s {d['metadata']['name']} terminationGracePeriodSeconds": d["spec"]["template"][
                "spec"
            ].get("terminationGracePeriodSeconds", 30)
            for d, c in containers(src.k8s)
            if role_of(c.get("command", []) + c.get("args", [])) == "worker"
        },
        **{
            f"systemd {name} TimeoutStopSec": keys.get("TimeoutStopSec", ["90"])[-1]
            for name, keys in src.units.items()
            if "worker" in name
        },
    }
    if len(graces) < 3:
        return [f"worker grace periods found only in {sorted(graces)}"]
    return [
        f"{where} is {value}, not longer than LONGEST_TASK ({LONGEST_TASK} s)"
        for where, value in graces.items()
        if _seconds(value) <= LONGEST_TASK
    ]


def _flag(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``argv``."""
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(name + "="):
            return word.partition("=")[2]
    return None


def check_ports(src: Sources) -> list[str]:
    """Listener health, Flower and sandbox ports match the code's defaults everywhere."""
    problems = []
    health = str(DEFAULT_HEALTH_PORT)
    for where, value in [
        ("env.example", src.env_example.get("LISTENER_HEALTH_PORT")),
        ("sandbox.env", src.sandbox_env.get("LISTENER_HEALTH_PORT")),
        *[
            (f"k8s ConfigMap {d['metadata']['name']}", d["data"].get("LISTENER_HEALTH_PORT"))
            for d in src.k8s
            if d["kind"] == "ConfigMap"
        ],
    ]:
        if value not in (None, health):
            problems.append(f"{where}: LISTENER_HEALTH_PORT={value}, the default is {health}")
    for doc, c in containers(src.k8s):
        ports = {p["containerPort"] for p in c.get("ports", [])}
        role = role_of(c.get("command", []) + c.get("args", []))
        want = {"listener": DEFAULT_HEALTH_PORT, "flower": FLOWER_PORT}.get(role or "")
        if want and ports != {want}:
            problems.append(f"k8s {doc['metadata']['name']}: containerPort {ports}, want {want}")
    for doc in src.k8s:
        served = [p["port"] for p in doc["spec"].get("ports", [])] if "spec" in doc else []
        if doc["kind"] == "Service" and doc["metadata"]["name"] == "flower" and served != [5555]:
            problems.append(f"k8s Service flower does not serve port {FLOWER_PORT}")
    for cmd in all_commands(src):
        if cmd.main and role_of(cmd.argv) == "flower" and _flag(cmd.argv, "--port") != "5555":
            problems.append(f"{cmd.where}: Flower's --port is not {FLOWER_PORT}")
    for name, service in src.compose["services"].items():
        test = str(service.get("healthcheck", {}).get("test"))
        if name.startswith("listener") and f"'{health}'" not in test:
            problems.append(f"compose {name}: the health check does not default to port {health}")
    return problems + _sandbox_port_problems(src)


def _sandbox_port_problems(src: Sources) -> list[str]:
    sandbox = src.compose["services"].get("sandbox", {})
    argv = sandbox.get("command", [])
    rest, pubnub = sandbox_config.DEFAULT_PORT, sandbox_config.DEFAULT_PUBNUB_PORT
    problems = []
    if _flag(argv, "--port") != str(rest) or _flag(argv, "--pubnub-port") != str(pubnub):
        problems.append(f"compose sandbox: expected --port {rest} --pubnub-port {pubnub}")
    if "sandbox" not in sandbox.get("profiles", []):
        problems.append("compose sandbox: not under the sandbox profile")
    expected = {
        "RINGCENTRAL_SERVER_URL": f"http://sandbox:{rest}",
        "PUBNUB_ORIGIN": f"sandbox:{pubnub}",
        "PUBNUB_SSL": "false",
        "COMPOSE_PROFILES": "sandbox",
        "GLIPBOT_ENV_FILE": "sandbox.env",
    }
    for name, want in expected.items():
        if src.sandbox_env.get(name) != want:
            problems.append(f"sandbox.env: {name} should be {want}")
    return problems


def check_single_beat(src: Sources) -> list[str]:
    """One beat: never replicated, and never two during a Kubernetes rollout."""
    problems = []
    beat = src.compose["services"].get("beat", {})
    if (beat.get("deploy") or {}).get("replicas", 1) != 1:
        problems.append("compose beat: replicas must be 1")
    for doc, c in containers(src.k8s):
        if role_of(c.get("command", []) + c.get("args", [])) == "beat":
            if doc["spec"].get("replicas") != 1:
                problems.append(f"k8s {doc['metadata']['name']}: replicas must be 1")
            if doc["spec"].get("strategy", {}).get("type") != "Recreate":
                problems.append(f"k8s {doc['metadata']['name']}: strategy must be Recreate")
    return problems


def check_health_checks(src: Sources) -> list[str]:
    """Every compose service has a health check; every pod a liveness probe.

    Readiness probes too, except beat's: beat serves nothing.
    """
    problems = [
        f"compose {name}: no healthcheck"
        for name, service in src.compose["services"].items()
        if "healthcheck" not in service
    ]
    for doc, c in containers(src.k8s):
        role = role_of(c.get("command", []) + c.get("args", []))
        wanted = ["livenessProbe"] + ([] if role == "beat" else ["readinessProbe"])
        problems += [f"k8s {doc['metadata']['name']}: no {p}" for p in wanted if p not in c]
    return problems


def check_secrets_not_literal(src: Sources) -> list[str]:
    """Secrets live in the Secret or the env file, never as literal values elsewhere."""
    problems = [
        f"k8s ConfigMap {d['metadata']['name']}: {name} is a secret"
        for d in src.k8s
        if d["kind"] == "ConfigMap"
        for name in d.get("data", {})
        if name in SECRETS
    ]
    for doc, c in containers(src.k8s):
        problems += [
            f"k8s {doc['metadata']['name']}: {e['name']} has a literal value"
            for e in c.get("env", [])
            if e["name"] in SECRETS and "value" in e
        ]
    for name, service in src.compose["services"].items():
        for var, value in (service.get("environment") or {}).items():
            if var in SECRETS and "${" not in str(value):
                problems.append(f"compose {name}: {var} has a literal value")
    if "${" not in str(src.compose["services"]["redis"].get("environment", {})):
        problems.append("compose redis: the password does not come from the env file")
    return problems


def check_redis(src: Sources) -> list[str]:
    """Redis persists (AOF) and asks for a password, in compose and Kubernetes."""
    commands = [
        c
        for c in [*compose_commands(src.compose), *k8s_commands(src.k8s)]
        if c.main and role_of(c.argv) == "redis"
    ]
    if len(commands) != 2:
        return [f"expected Redis in compose and Kubernetes, found {[c.where for c in commands]}"]
    return [
        f"{c.where}: redis-server needs {flag}"
        for c in commands
        for flag in ("--appendonly", "--requirepass")
        if flag not in c.argv
    ]


def check_systemd_units(src: Sources) -> list[str]:
    """Restart policy, env file, user, hardening; KillMode=mixed for Celery."""
    required = {
        "Restart": None,
        "RestartSec": None,
        "User": None,
        "WorkingDirectory": None,
        "EnvironmentFile": "/etc/glipbot/glipbot.env",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
    }
    problems = []
    for name, keys in src.units.items():
        for key, value in required.items():
            if key not in keys or (value and value not in keys[key]):
                problems.append(f"systemd {name}: needs {key}={value or '...'}")
        if any(VENV_BIN not in line for line in keys.get("ExecStart", [])):
            problems.append(f"systemd {name}: ExecStart does not use {VENV_BIN}")
        celery = any("celery" in line.split()[0] for line in keys.get("ExecStart", []))
        if celery and "worker" in name and keys.get("KillMode") != ["mixed"]:
            problems.append(f"systemd {name}: a Celery worker needs KillMode=mixed")
        if "beat" in name and "/var/lib/glipbot" not in keys.get("ReadWritePaths", []):
            problems.append(f"systemd {name}: beat needs ReadWritePaths=/var/lib/glipbot")
    return problems


def systemd_verify(units_dir: Path = DEPLOY / "systemd") -> list[str] | None:
    """``systemd-analyze verify`` on copies of the units; None without systemd-analyze.

    The copies run this checkout's venv in place of /opt/glipbot/.venv and drop
    User=/Group= (no glipbot user here), so verify also proves that every
    ExecStart binary exists. Any output counts: systemd only warns ("...,
    ignoring") on a key it cannot parse.
    """
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for unit in sorted(units_dir.glob("*.service")):
            text = unit.read_text().replace(VENV_BIN, f"{Path(sys.executable).parent}/")
            text = re.sub(r"(?m)^(User|Group)=.*\n", "", text)
            text = re.sub(r"(?m)^WorkingDirectory=.*$", f"WorkingDirectory={ROOT}", text)
            (Path(tmp) / unit.name).write_text(text)
            # A template is verified through an instance of it.
            paths.append(str(Path(tmp) / unit.name.replace("@.", "@1.")))
        run = subprocess.run(
            [analyze, "verify", "--man=no", *paths], capture_output=True, text=True, check=False
        )
    output = (run.stdout + run.stderr).strip()
    return output.splitlines() if run.returncode or output else []


#: Every check over the parsed sources, in report order.
CHECKS: list[Callable[[Sources], list[str]]] = [
    check_commands_exist,
    check_env_names_known,
    check_flower_env_names,
    check_env_example_documents_settings,
    check_settings_agree,
    check_roles_agree,
    check_two_listeners,
    check_worker_grace,
    check_ports,
    check_single_beat,
    check_health_checks,
    check_secrets_not_literal,
    check_redis,
    check_systemd_units,
]


def main() -> int:
    """Run every check; print the problems; 1 if there are any."""
    problems = check_yaml_parses(yaml_files())
    if not problems:
        src = load_sources()
        for check in CHECKS:
            problems += [f"{check.__name__}: {p}" for p in check(src)]
    verified = systemd_verify()
    if verified is None:
        print("deploy/check.py: systemd-analyze not found, units not verified", file=sys.stderr)
    problems += [f"systemd_verify: {p}" for p in verified or []]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"deploy/check.py: {len(problems)} problem(s)" if problems else "deploy/check.py: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
