"""Compose, Kubernetes, systemd and the Procfile run the same processes, as many and as safely.

Each runs the four roles (listener, worker, beat, flower); two listeners (a
leader and a standby), exactly one beat; workers get longer than the longest
task to stop; every process is health-checked; Redis persists and asks for a
password.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy_files import (
    Sources,
    compose_commands,
    container,
    containers,
    k8s_commands,
    procfile_commands,
    role_of,
    roles,
    service,
    split_command,
    unit_commands,
    workload,
)

from worker.celery import LONGEST_TASK

ROLES = frozenset({"listener", "worker", "beat", "flower"})


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


def _first_role(argv: list[str]) -> str | None:
    return role_of(next(split_command("", argv, True)).argv)


def check_two_listeners(src: Sources) -> list[str]:
    """Two listeners everywhere: a leader and a standby."""
    counts = {
        "compose": sum(
            (s.get("deploy") or {}).get("replicas", 1)
            for s in src.compose["services"].values()
            if _first_role(s.get("command", ["-"])) == "listener"
        ),
        "Kubernetes": sum(
            d["spec"].get("replicas", 1)
            for d, c in containers(src.k8s)
            if _first_role(c.get("command", []) + c.get("args", [])) == "listener"
        ),
        "Procfile": len(roles(list(procfile_commands(src.procfile))).get("listener", [])),
    }
    problems = [f"{p} runs {n} listeners, expected 2" for p, n in counts.items() if n != 2]
    if not any(name.startswith("glipbot-listener@") for name in src.units):
        problems.append("systemd: the listener unit is not a template (glipbot-listener@.service)")
    return problems


def seconds(value: str | int) -> float:
    """A grace period (``330``, ``"330s"``, ``"5m"``, ``"5min"``) in seconds."""
    match = re.fullmatch(r"(\d+)\s*(s|m|min)?", str(value).strip())
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return int(match[1]) * (60 if match[2] in ("m", "min") else 1)


def check_worker_grace(src: Sources) -> list[str]:
    """Workers get longer than the longest task to stop, everywhere."""
    graces: dict[str, Any] = {
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
        if seconds(value) <= LONGEST_TASK
    ]


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
        for name, s in src.compose["services"].items()
        if "healthcheck" not in s
    ]
    for doc, c in containers(src.k8s):
        role = role_of(c.get("command", []) + c.get("args", []))
        wanted = ["livenessProbe"] + ([] if role == "beat" else ["readinessProbe"])
        problems += [f"k8s {doc['metadata']['name']}: no {p}" for p in wanted if p not in c]
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


# --- roles ----------------------------------------------------------------------


def test_every_deployment_runs_exactly_the_four_roles(shipped: Sources) -> None:
    assert check_roles_agree(shipped) == []


def test_compose_without_beat_is_reported(broken: Sources) -> None:
    del broken.compose["services"]["beat"]
    expected = f"compose runs ['flower', 'listener', 'worker'], expected {sorted(ROLES)}"
    assert check_roles_agree(broken) == [expected]


def test_systemd_without_flower_is_reported(broken: Sources) -> None:
    del broken.units["glipbot-flower.service"]
    expected = f"systemd runs ['beat', 'listener', 'worker'], expected {sorted(ROLES)}"
    assert check_roles_agree(broken) == [expected]


def test_a_fifth_role_in_the_procfile_is_reported(broken: Sources) -> None:
    broken.procfile["sandbox"] = "python -m sandbox"
    found = ["beat", "flower", "listener", "sandbox", "worker"]
    assert check_roles_agree(broken) == [f"Procfile runs {found}, expected {sorted(ROLES)}"]


# --- listeners ------------------------------------------------------------------


def test_every_deployment_runs_two_listeners(shipped: Sources) -> None:
    assert check_two_listeners(shipped) == []


def test_one_listener_in_kubernetes_is_reported(broken: Sources) -> None:
    workload(broken, "listener")["spec"]["replicas"] = 1
    assert check_two_listeners(broken) == ["Kubernetes runs 1 listeners, expected 2"]


def test_a_replicated_compose_listener_is_counted(broken: Sources) -> None:
    service(broken, "listener-b")["deploy"] = {"replicas": 2}
    assert check_two_listeners(broken) == ["compose runs 3 listeners, expected 2"]


def test_one_listener_in_the_procfile_is_reported(broken: Sources) -> None:
    del broken.procfile["listener_b"]
    assert check_two_listeners(broken) == ["Procfile runs 1 listeners, expected 2"]


def test_a_listener_unit_that_is_not_a_template_is_reported(broken: Sources) -> None:
    broken.units["glipbot-listener.service"] = broken.units.pop("glipbot-listener@.service")
    expected = "systemd: the listener unit is not a template (glipbot-listener@.service)"
    assert check_two_listeners(broken) == [expected]


# --- worker grace periods ---------------------------------------------------------


def test_workers_get_longer_than_the_longest_task_to_stop(shipped: Sources) -> None:
    assert check_worker_grace(shipped) == []


def test_a_compose_grace_period_shorter_than_the_longest_task_is_reported(
    broken: Sources,
) -> None:
    service(broken, "worker")["stop_grace_period"] = "30s"
    expected = (
        f"compose worker stop_grace_period is 30s, not longer than LONGEST_TASK ({LONGEST_TASK} s)"
    )
    assert check_worker_grace(broken) == [expected]


def test_a_kubernetes_grace_period_equal_to_the_longest_task_is_reported(broken: Sources) -> None:
    workload(broken, "worker")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = (
        LONGEST_TASK
    )
    expected = (
        f"k8s worker terminationGracePeriodSeconds is {LONGEST_TASK}, "
        f"not longer than LONGEST_TASK ({LONGEST_TASK} s)"
    )
    assert check_worker_grace(broken) == [expected]


def test_a_worker_unit_on_systemds_default_stop_timeout_is_reported(broken: Sources) -> None:
    """Without TimeoutStopSec systemd kills after its default of 90 s."""
    del broken.units["glipbot-worker@.service"]["TimeoutStopSec"]
    expected = (
        "systemd glipbot-worker@.service TimeoutStopSec is 90, "
        f"not longer than LONGEST_TASK ({LONGEST_TASK} s)"
    )
    assert check_worker_grace(broken) == [expected]


def test_a_worker_grace_period_missing_from_kubernetes_is_reported(broken: Sources) -> None:
    broken.k8s.remove(workload(broken, "worker"))
    expected = (
        "worker grace periods found only in ['compose worker stop_grace_period', "
        "'systemd glipbot-worker@.service TimeoutStopSec']"
    )
    assert check_worker_grace(broken) == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(330, 330), ("330", 330), ("330s", 330), ("5m", 300), ("6min", 360)],
    ids=repr,
)
def test_grace_periods_are_read_in_seconds(value: str | int, expected: float) -> None:
    assert seconds(value) == expected


def test_a_grace_period_in_another_unit_is_refused_rather_than_misread() -> None:
    with pytest.raises(ValueError, match="not a duration: '1h'"):
        seconds("1h")


# --- beat -----------------------------------------------------------------------


def test_exactly_one_beat_runs_even_during_a_rollout(shipped: Sources) -> None:
    assert check_single_beat(shipped) == []


def test_a_replicated_compose_beat_is_reported(broken: Sources) -> None:
    service(broken, "beat")["deploy"] = {"replicas": 2}
    assert check_single_beat(broken) == ["compose beat: replicas must be 1"]


def test_a_replicated_kubernetes_beat_is_reported(broken: Sources) -> None:
    workload(broken, "beat")["spec"]["replicas"] = 2
    assert check_single_beat(broken) == ["k8s beat: replicas must be 1"]


def test_a_kubernetes_beat_rolled_out_by_rolling_update_is_reported(broken: Sources) -> None:
    workload(broken, "beat")["spec"]["strategy"] = {"type": "RollingUpdate"}
    assert check_single_beat(broken) == ["k8s beat: strategy must be Recreate"]


# --- health checks --------------------------------------------------------------


def test_every_service_and_pod_is_health_checked(shipped: Sources) -> None:
    assert check_health_checks(shipped) == []


def test_a_compose_service_without_a_health_check_is_reported(broken: Sources) -> None:
    del service(broken, "flower")["healthcheck"]
    assert check_health_checks(broken) == ["compose flower: no healthcheck"]


def test_a_pod_without_a_readiness_probe_is_reported(broken: Sources) -> None:
    del container(broken, "listener")["readinessProbe"]
    assert check_health_checks(broken) == ["k8s listener: no readinessProbe"]


def test_a_beat_pod_without_a_liveness_probe_is_reported(broken: Sources) -> None:
    del container(broken, "beat")["livenessProbe"]
    assert check_health_checks(broken) == ["k8s beat: no livenessProbe"]


# --- Redis ----------------------------------------------------------------------


def test_redis_persists_and_asks_for_a_password(shipped: Sources) -> None:
    assert check_redis(shipped) == []


def test_a_compose_redis_without_a_password_is_reported(broken: Sources) -> None:
    service(broken, "redis")["command"] = ["redis-server", "--appendonly", "yes"]
    assert check_redis(broken) == ["compose redis: redis-server needs --requirepass"]


def test_a_kubernetes_redis_without_persistence_is_reported(broken: Sources) -> None:
    container(broken, "redis")["command"] = ["redis-server", "--requirepass", "$REDIS_PASSWORD"]
    assert check_redis(broken) == ["k8s redis/redis: redis-server needs --appendonly"]


def test_kubernetes_without_redis_is_reported(broken: Sources) -> None:
    broken.k8s.remove(workload(broken, "redis"))
    expected = "expected Redis in compose and Kubernetes, found ['compose redis']"
    assert check_redis(broken) == [expected]
