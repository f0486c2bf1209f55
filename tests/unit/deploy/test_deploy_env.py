"""The variables the deployment sets are the code's settings, agree, and keep secrets secret.

Variables are set in env.example, sandbox.env, compose's ``environment``, the
Kubernetes ConfigMap, Secrets and container ``env``, the systemd units'
``Environment=`` and ``NAME=value`` prefixes of any command. Each must be a
setting (``tasks.deployment_variables``) or in :data:`EXTRA_ENV`.
"""

from __future__ import annotations

from pathlib import Path

from deploy_files import (
    Sources,
    all_commands,
    container,
    containers,
    flower_options,
    k8s_doc,
    load_env_file,
    service,
)

from tasks import deployment_variables

#: The variables the code reads: the platform's settings and SmartFriend's.
SETTINGS = frozenset(v.name for v in deployment_variables())

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
NOT_A_SETTING = "is neither a setting (tasks.deployment_variables) nor in EXTRA_ENV"


def configured_env(src: Sources) -> dict[str, set[str]]:
    """Where -> the variables set there (empty values and comments are not set)."""
    found: dict[str, set[str]] = {
        "env.example": {k for k, v in src.env_example.items() if v is not None},
        "sandbox.env": set(src.sandbox_env),
    }
    for name, s in src.compose["services"].items():
        found[f"compose {name}"] = set(s.get("environment") or {})
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
    """Every variable set anywhere is a setting or in EXTRA_ENV."""
    known = SETTINGS | set(EXTRA_ENV)
    return [
        f"{where}: {name} {NOT_A_SETTING}"
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
        f"env.example does not document {name}" for name in sorted(SETTINGS - set(src.env_example))
    ]


def _settings(names: set[str]) -> set[str]:
    return names & SETTINGS


def check_settings_agree(src: Sources) -> list[str]:
    """compose (env.example + environment) and Kubernetes configure the same settings."""
    env = configured_env(src)
    compose = _settings(
        env["env.example"].union(*(v for k, v in env.items() if k.startswith("compose ")))
    )
    k8s = _settings(set().union(*(v for k, v in env.items() if k.startswith("k8s "))))
    problems = [f"set for compose, not for Kubernetes: {n}" for n in sorted(compose - k8s)]
    return problems + [f"set for Kubernetes, not for compose: {n}" for n in sorted(k8s - compose)]


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
    for name, s in src.compose["services"].items():
        for var, value in (s.get("environment") or {}).items():
            if var in SECRETS and "${" not in str(value):
                problems.append(f"compose {name}: {var} has a literal value")
    if "${" not in str(src.compose["services"]["redis"].get("environment", {})):
        problems.append("compose redis: the password does not come from the env file")
    return problems


def test_an_env_file_sets_names_and_its_comments_document_them(tmp_path: Path) -> None:
    env = tmp_path / "example.env"
    env.write_text("# prose, not a name\nLOG_LEVEL=INFO\nBOT_APP=\n# BIRTHDAYS_FILE=x.json\n")
    assert load_env_file(env) == {"LOG_LEVEL": "INFO", "BOT_APP": "", "BIRTHDAYS_FILE": None}


# --- names ------------------------------------------------------------------------


def test_every_variable_set_is_a_setting_or_a_known_extra(shipped: Sources) -> None:
    assert check_env_names_known(shipped) == []


def test_a_misspelt_setting_in_compose_is_reported(broken: Sources) -> None:
    service(broken, "worker")["environment"] = {"RINGCENTRAL_SERVR_URL": "typo"}
    expected = f"compose worker: RINGCENTRAL_SERVR_URL {NOT_A_SETTING}"
    assert check_env_names_known(broken) == [expected]


def test_a_misspelt_setting_prefixed_to_a_procfile_command_is_reported(broken: Sources) -> None:
    broken.procfile["listener_a"] = "LISTENR_INSTANCE=listener-a python -m listener"
    expected = f"Procfile listener_a: LISTENR_INSTANCE {NOT_A_SETTING}"
    assert check_env_names_known(broken) == [expected]


def test_a_misspelt_setting_in_a_systemd_unit_is_reported(broken: Sources) -> None:
    broken.units["glipbot-worker@.service"]["Environment"] = ["WORKER_CONCURENCY=2"]
    expected = f"systemd glipbot-worker@.service: WORKER_CONCURENCY {NOT_A_SETTING}"
    assert check_env_names_known(broken) == [expected]


def test_every_flower_variable_names_a_flower_option(shipped: Sources) -> None:
    assert check_flower_env_names(shipped) == []


def test_a_flower_variable_flower_does_not_know_is_reported(broken: Sources) -> None:
    container(broken, "flower")["env"].append({"name": "FLOWER_NO_SUCH_OPTION", "value": "1"})
    assert check_flower_env_names(broken) == ["FLOWER_NO_SUCH_OPTION is not a Flower option"]


# --- env.example and Kubernetes agree -------------------------------------------------


def test_env_example_documents_every_setting(shipped: Sources) -> None:
    assert check_env_example_documents_settings(shipped) == []


def test_a_setting_missing_from_env_example_is_reported(broken: Sources) -> None:
    del broken.env_example["LOG_LEVEL"]
    assert check_env_example_documents_settings(broken) == [
        "env.example does not document LOG_LEVEL"
    ]


def test_compose_and_kubernetes_configure_the_same_settings(shipped: Sources) -> None:
    assert check_settings_agree(shipped) == []


def test_a_setting_only_kubernetes_sets_is_reported(broken: Sources) -> None:
    k8s_doc(broken, "ConfigMap", "glipbot-settings")["data"]["EVENT_DEDUP_TTL"] = "60"
    assert check_settings_agree(broken) == ["set for Kubernetes, not for compose: EVENT_DEDUP_TTL"]


def test_a_setting_only_compose_sets_is_reported(broken: Sources) -> None:
    del k8s_doc(broken, "ConfigMap", "glipbot-settings")["data"]["LOG_FORMAT"]
    assert check_settings_agree(broken) == ["set for compose, not for Kubernetes: LOG_FORMAT"]


# --- secrets ----------------------------------------------------------------------


def test_no_secret_is_written_into_a_manifest(shipped: Sources) -> None:
    assert check_secrets_not_literal(shipped) == []


def test_a_secret_in_the_configmap_is_reported(broken: Sources) -> None:
    k8s_doc(broken, "ConfigMap", "glipbot-settings")["data"]["REDIS_URL"] = "redis://redis:6379/0"
    expected = "k8s ConfigMap glipbot-settings: REDIS_URL is a secret"
    assert check_secrets_not_literal(broken) == [expected]


def test_a_secret_as_a_literal_pod_variable_is_reported(broken: Sources) -> None:
    container(broken, "listener")["env"].append({"name": "RINGCENTRAL_JWT", "value": "eyJ..."})
    expected = "k8s listener: RINGCENTRAL_JWT has a literal value"
    assert check_secrets_not_literal(broken) == [expected]


def test_a_literal_secret_in_compose_is_reported(broken: Sources) -> None:
    service(broken, "flower")["environment"]["FLOWER_BASIC_AUTH"] = "admin:admin"
    assert check_secrets_not_literal(broken) == [
        "compose flower: FLOWER_BASIC_AUTH has a literal value"
    ]


def test_a_redis_password_written_into_compose_is_reported(broken: Sources) -> None:
    service(broken, "redis")["environment"] = {"REDIS_PASSWORD": "hunter2"}
    expected = [
        "compose redis: REDIS_PASSWORD has a literal value",
        "compose redis: the password does not come from the env file",
    ]
    assert check_secrets_not_literal(broken) == expected
