"""The listener's health port, Flower's port and the sandbox's ports match the code's defaults.

They are set in env.example, sandbox.env, the Kubernetes ConfigMap, container
ports and Services, command lines and compose's health checks; the sandbox's
compose service and sandbox.env must point the app at each other.
"""

from __future__ import annotations

from deploy_files import (
    FLOWER_PORT,
    Sources,
    all_commands,
    container,
    containers,
    flag,
    k8s_doc,
    role_of,
    service,
)

from glipbot.settings import DEFAULT_HEALTH_PORT
from sandbox import config as sandbox_config


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
        if cmd.main and role_of(cmd.argv) == "flower" and flag(cmd.argv, "--port") != "5555":
            problems.append(f"{cmd.where}: Flower's --port is not {FLOWER_PORT}")
    for name, s in src.compose["services"].items():
        test = str(s.get("healthcheck", {}).get("test"))
        if name.startswith("listener") and f"'{health}'" not in test:
            problems.append(f"compose {name}: the health check does not default to port {health}")
    return problems + _sandbox_port_problems(src)


def _sandbox_port_problems(src: Sources) -> list[str]:
    sandbox = src.compose["services"].get("sandbox", {})
    argv = sandbox.get("command", [])
    rest, pubnub = sandbox_config.DEFAULT_PORT, sandbox_config.DEFAULT_PUBNUB_PORT
    problems = []
    if flag(argv, "--port") != str(rest) or flag(argv, "--pubnub-port") != str(pubnub):
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


def test_every_port_matches_the_codes_defaults(shipped: Sources) -> None:
    assert check_ports(shipped) == []


def test_another_health_port_in_env_example_is_reported(broken: Sources) -> None:
    broken.env_example["LISTENER_HEALTH_PORT"] = "8080"
    expected = f"env.example: LISTENER_HEALTH_PORT=8080, the default is {DEFAULT_HEALTH_PORT}"
    assert check_ports(broken) == [expected]


def test_another_health_port_in_the_configmap_is_reported(broken: Sources) -> None:
    k8s_doc(broken, "ConfigMap", "glipbot-settings")["data"]["LISTENER_HEALTH_PORT"] = "8080"
    expected = (
        "k8s ConfigMap glipbot-settings: LISTENER_HEALTH_PORT=8080, "
        f"the default is {DEFAULT_HEALTH_PORT}"
    )
    assert check_ports(broken) == [expected]


def test_a_listener_pod_exposing_another_port_is_reported(broken: Sources) -> None:
    container(broken, "listener")["ports"][0]["containerPort"] = 8080
    expected = f"k8s listener: containerPort {{8080}}, want {DEFAULT_HEALTH_PORT}"
    assert check_ports(broken) == [expected]


def test_a_flower_service_on_another_port_is_reported(broken: Sources) -> None:
    k8s_doc(broken, "Service", "flower")["spec"]["ports"][0]["port"] = 80
    assert check_ports(broken) == [f"k8s Service flower does not serve port {FLOWER_PORT}"]


def test_flower_started_on_another_port_is_reported(broken: Sources) -> None:
    broken.procfile["flower"] = "celery -A worker flower --address=127.0.0.1 --port=8080"
    assert check_ports(broken) == [f"Procfile flower: Flower's --port is not {FLOWER_PORT}"]


def test_a_listener_health_check_on_another_port_is_reported(broken: Sources) -> None:
    """The health check's test reads LISTENER_HEALTH_PORT, falling back on the default."""
    test = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('x:8080')"]
    service(broken, "listener-b")["healthcheck"] = {"test": test}
    expected = (
        f"compose listener-b: the health check does not default to port {DEFAULT_HEALTH_PORT}"
    )
    assert check_ports(broken) == [expected]


def test_a_sandbox_on_other_ports_is_reported(broken: Sources) -> None:
    service(broken, "sandbox")["command"] = ["python", "-m", "sandbox", "--port", "9000"]
    expected = "compose sandbox: expected --port 8900 --pubnub-port 8901"
    assert check_ports(broken) == [expected]


def test_a_sandbox_outside_the_sandbox_profile_is_reported(broken: Sources) -> None:
    del service(broken, "sandbox")["profiles"]
    assert check_ports(broken) == ["compose sandbox: not under the sandbox profile"]


def test_a_sandbox_env_that_does_not_point_at_the_sandbox_is_reported(broken: Sources) -> None:
    broken.sandbox_env["PUBNUB_SSL"] = "true"
    assert check_ports(broken) == ["sandbox.env: PUBNUB_SSL should be false"]
