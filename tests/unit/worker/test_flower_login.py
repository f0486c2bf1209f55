"""Which environments and command lines give Flower a login, and `.env`'s FLOWER_* lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.flower import MISSING_LOGIN, load_env_file, missing_login


@pytest.mark.parametrize(
    ("environ", "argv"),
    [
        ({"FLOWER_BASIC_AUTH": "ops:secret"}, []),
        ({"FLOWER_AUTH": ".*@example\\.com"}, []),
        ({}, ["--port=5555", "--basic_auth=ops:secret"]),
        ({}, ["--basic-auth=ops:secret"]),
        ({}, ["--auth=.*@example\\.com"]),
        ({"FLOWER_UNAUTHENTICATED_API": "true"}, []),
        ({"FLOWER_UNAUTHENTICATED_API": "Yes"}, []),
    ],
)
def test_a_login_or_the_explicit_opt_out_lets_flower_start(
    environ: dict[str, str], argv: list[str]
) -> None:
    assert missing_login(environ, argv) is None


@pytest.mark.parametrize(
    ("environ", "argv"),
    [
        ({}, []),
        ({"FLOWER_BASIC_AUTH": "  "}, []),
        ({}, ["--basic_auth="]),
        ({}, ["--port=5555", "basic_auth=ops:secret"]),
        ({"FLOWER_UNAUTHENTICATED_API": "false"}, []),
        ({"FLOWER_UNAUTHENTICATED_API": ""}, []),
        ({"FLOWER_PORT": "5555"}, []),
    ],
)
def test_without_a_login_flower_is_refused_naming_flower_basic_auth(
    environ: dict[str, str], argv: list[str]
) -> None:
    problem = missing_login(environ, argv)

    assert problem == MISSING_LOGIN
    assert problem.startswith("FLOWER_BASIC_AUTH is not set")
    assert "\n" not in problem


def test_dot_env_fills_in_only_the_flower_variables_the_environment_lacks(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "FLOWER_BASIC_AUTH=ops:from-file\nFLOWER_PORT=5566\nREDIS_URL=redis://file/0\n"
    )
    environ = {"FLOWER_PORT": "5555"}

    copied = load_env_file(environ, env_file)

    assert copied == ["FLOWER_BASIC_AUTH"]
    assert environ == {"FLOWER_PORT": "5555", "FLOWER_BASIC_AUTH": "ops:from-file"}


def test_no_dot_env_changes_nothing(tmp_path: Path) -> None:
    environ: dict[str, str] = {}

    assert load_env_file(environ, tmp_path / ".env") == []
    assert environ == {}
