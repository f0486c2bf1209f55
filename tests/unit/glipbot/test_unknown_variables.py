"""Variables that look like settings but are none are warned about, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from glipbot.settings import Settings, variables
from glipbot.unknown_variables import UnknownVariable, find_unknown, warn_unknown

PLATFORM = {v.name for v in variables(Settings)}
DEPLOYMENT = PLATFORM | {"BIRTHDAYS_FILE"}


def test_a_misspelt_name_is_found_with_the_name_it_was_meant_to_be() -> None:
    assert find_unknown({"REDIS_ULR": "redis://x"}, PLATFORM) == [
        UnknownVariable("REDIS_ULR", "REDIS_URL")
    ]


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("redis_url", "REDIS_URL"),  # the right name in the wrong case
        ("RINGCENTRAL_PASWORD", "RINGCENTRAL_PASSWORD"),
        ("LISTENER_LEASE_TLL", "LISTENER_LEASE_TTL"),
        ("BOTAPP", "BOT_APP"),
        ("BIRTHDAY_FILE", "BIRTHDAYS_FILE"),
    ],
)
def test_near_misses_suggest_the_known_name(name: str, meant: str) -> None:
    assert find_unknown({name: "x"}, DEPLOYMENT) == [UnknownVariable(name, meant)]


def test_an_unknown_name_with_one_of_our_prefixes_is_found_without_a_suggestion() -> None:
    environ = {"REDIS_HOST": "cache", "SUBSCRIPTION_TRANSPORT": "websocket", "BIRTHDAYS_DIR": "/x"}

    assert find_unknown(environ, DEPLOYMENT) == [
        UnknownVariable("BIRTHDAYS_DIR", None),
        UnknownVariable("REDIS_HOST", None),
        UnknownVariable("SUBSCRIPTION_TRANSPORT", None),
    ]


def test_known_names_and_other_programs_variables_are_left_alone() -> None:
    environ = {
        "REDIS_URL": "redis://x",
        "BIRTHDAYS_FILE": "b.json",
        "PATH": "/usr/bin",
        "HOME": "/root",
        "CELERY_BROKER_URL": "",
        "FLOWER_BASIC_AUTH": "a:b",
        "PYTHONPATH": ".",
    }

    assert find_unknown(environ, DEPLOYMENT) == []


def test_kubernetes_service_links_are_not_taken_for_typos() -> None:
    """A Service named ``redis`` puts these into every pod of the namespace."""
    environ = {
        "REDIS_PORT": "tcp://10.0.0.7:6379",
        "REDIS_SERVICE_HOST": "10.0.0.7",
        "REDIS_SERVICE_PORT": "6379",
        "REDIS_PORT_6379_TCP": "tcp://10.0.0.7:6379",
        "REDIS_PORT_6379_TCP_ADDR": "10.0.0.7",
        "REDIS_PORT_6379_TCP_PORT": "6379",
        "REDIS_PORT_6379_TCP_PROTO": "tcp",
    }

    assert find_unknown(environ, PLATFORM) == []
    assert find_unknown({"REDIS_PORT": "6380"}, PLATFORM) == [UnknownVariable("REDIS_PORT", None)]


def test_only_the_names_a_process_knows_count_as_known() -> None:
    """The listener knows no bot's settings: a bot's near miss is not its business."""
    assert find_unknown({"BIRTHDAYS_FILE": "b.json"}, PLATFORM) == []
    assert find_unknown({"BIRTHDAYS_FLIE": "b.json"}, DEPLOYMENT) == [
        UnknownVariable("BIRTHDAYS_FLIE", "BIRTHDAYS_FILE")
    ]


def test_each_suspect_in_the_environment_and_env_file_is_logged_once(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LISTENER_LEASE_TLL=5\nREDIS_URL=redis://127.0.0.1:1/0\n")

    with capture_logs() as logs:
        found = warn_unknown(PLATFORM, {"REDIS_ULR": "redis://x", "HOME": "/"}, env_file)

    assert [item.name for item in found] == ["LISTENER_LEASE_TLL", "REDIS_ULR"]
    assert logs == [
        {
            "event": "setting_unknown",
            "variable": "LISTENER_LEASE_TLL",
            "did_you_mean": "LISTENER_LEASE_TTL",
            "log_level": "warning",
        },
        {
            "event": "setting_unknown",
            "variable": "REDIS_ULR",
            "did_you_mean": "REDIS_URL",
            "log_level": "warning",
        },
    ]
