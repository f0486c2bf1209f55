"""deploy/check.py as tests: each check passes on the shipped files and fails on a broken copy."""

from __future__ import annotations

import copy
import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load_check() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_check", ROOT / "deploy" / "check.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_check"] = module
    spec.loader.exec_module(module)
    return module


check = _load_check()


@pytest.fixture(scope="module")
def sources() -> Any:
    return check.load_sources()


def test_every_yaml_file_parses() -> None:
    assert check.yaml_files(), "no YAML files found under deploy/"
    assert check.check_yaml_parses(check.yaml_files()) == []


def test_a_broken_yaml_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("services:\n  worker: [unclosed\n")
    assert check.check_yaml_parses([broken]) != []


@pytest.mark.parametrize("run", check.CHECKS, ids=lambda c: c.__name__)
def test_check_passes(run: Callable[[Any], list[str]], sources: Any) -> None:
    assert run(sources) == []


def _services(src: Any) -> dict[str, Any]:
    return src.compose["services"]


def _k8s(src: Any, name: str) -> dict[str, Any]:
    return next(d for d in src.k8s if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def _container(src: Any, name: str) -> dict[str, Any]:
    return _k8s(src, name)["spec"]["template"]["spec"]["containers"][0]


def _break_command(src: Any) -> None:
    _services(src)["listener-a"]["command"] = ["python", "-m", "no_such_module"]


def _break_celery_option(src: Any) -> None:
    _container(src, "worker")["args"].append("--no-such-option")


def _break_env_name(src: Any) -> None:
    _services(src)["worker"]["environment"] = {"RINGCENTRAL_SERVR_URL": "typo"}


def _break_flower_env(src: Any) -> None:
    _container(src, "flower")["env"].append({"name": "FLOWER_NO_SUCH_OPTION", "value": "1"})


def _break_env_example(src: Any) -> None:
    del src.env_example["LOG_LEVEL"]


def _break_settings_agree(src: Any) -> None:
    next(d for d in src.k8s if d["kind"] == "ConfigMap")["data"]["EVENT_DEDUP_TTL"] = "60"


def _break_roles(src: Any) -> None:
    del _services(src)["beat"]


def _break_listeners(src: Any) -> None:
    _k8s(src, "listener")["spec"]["replicas"] = 1


def _break_grace(src: Any) -> None:
    _services(src)["worker"]["stop_grace_period"] = "30s"


def _break_ports(src: Any) -> None:
    _container(src, "listener")["ports"][0]["containerPort"] = 8080


def _break_beat(src: Any) -> None:
    _k8s(src, "beat")["spec"]["strategy"] = {"type": "RollingUpdate"}


def _break_health(src: Any) -> None:
    del _services(src)["flower"]["healthcheck"]


def _break_secrets(src: Any) -> None:
    _container(src, "listener")["env"].append({"name": "RINGCENTRAL_JWT", "value": "eyJ..."})


def _break_redis(src: Any) -> None:
    _services(src)["redis"]["command"] = ["redis-server", "--appendonly", "yes"]


def _break_units(src: Any) -> None:
    del src.units["glipbot-worker@.service"]["KillMode"]


BREAKERS: dict[str, Callable[[Any], None]] = {
    "check_commands_exist": _break_command,
    "check_env_names_known": _break_env_name,
    "check_flower_env_names": _break_flower_env,
    "check_env_example_documents_settings": _break_env_example,
    "check_settings_agree": _break_settings_agree,
    "check_roles_agree": _break_roles,
    "check_two_listeners": _break_listeners,
    "check_worker_grace": _break_grace,
    "check_ports": _break_ports,
    "check_single_beat": _break_beat,
    "check_health_checks": _break_health,
    "check_secrets_not_literal": _break_secrets,
    "check_redis": _break_redis,
    "check_systemd_units": _break_units,
}


def test_every_check_has_a_breaker() -> None:
    assert sorted(BREAKERS) == sorted(c.__name__ for c in check.CHECKS)


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_check_fails_on_a_broken_copy(name: str, sources: Any) -> None:
    broken = copy.deepcopy(sources)
    BREAKERS[name](broken)
    assert getattr(check, name)(broken) != []


def test_an_unknown_celery_option_is_reported(sources: Any) -> None:
    broken = copy.deepcopy(sources)
    _break_celery_option(broken)
    problems = check.check_commands_exist(broken)
    assert any("--no-such-option" in p for p in problems), problems


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_units_verify() -> None:
    assert check.systemd_verify() == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_verify_reports_a_bad_unit(tmp_path: Path) -> None:
    unit = ROOT / "deploy" / "systemd" / "glipbot-beat.service"
    text = unit.read_text().replace("KillMode=mixed", "KillMode=sideways")
    (tmp_path / unit.name).write_text(text)
    assert check.systemd_verify(tmp_path) != []


def test_the_script_exits_zero() -> None:
    assert check.main() == 0
