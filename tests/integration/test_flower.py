"""`celery -A worker flower` as the Procfile starts it: settings from `.env`, never open."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from devtools.ports import free_port
from devtools.processes import ManagedProcess

pytestmark = pytest.mark.integration

START_TIMEOUT = 30.0


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    """This environment without any FLOWER_* variable, pointed at the test's Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    return {**env, "REDIS_URL": redis_url, **extra}


def _argv(port: int) -> list[str]:
    celery = [sys.executable, "-m", "celery", "-A", "worker"]
    return [*celery, "flower", "--address=127.0.0.1", f"--port={port}"]


StartFlower = Callable[[dict[str, str]], str]


@pytest.fixture
def flower_dir(tmp_path: Path) -> Path:
    """An empty working directory: no `.env` unless the test writes one."""
    return tmp_path


@pytest.fixture
def start_flower(flower_dir: Path) -> Iterator[StartFlower]:
    """Start Flower in ``flower_dir`` and wait until it accepts connections; stop it after."""
    started: list[ManagedProcess] = []

    def start(env: dict[str, str]) -> str:
        port = free_port()
        flower = ManagedProcess(_argv(port), name="flower", env=env, cwd=flower_dir).start()
        started.append(flower)
        flower.wait_port("127.0.0.1", port, START_TIMEOUT)
        return f"http://127.0.0.1:{port}"

    yield start
    for flower in started:
        flower.close()


def test_flower_without_a_login_refuses_to_start_naming_flower_basic_auth(
    redis_url: str, flower_dir: Path
) -> None:
    """Given no FLOWER_BASIC_AUTH in the environment nor in `.env`, Flower exits
    non-zero at once with one line that names FLOWER_BASIC_AUTH, and serves nothing."""
    done = subprocess.run(
        _argv(free_port()),
        cwd=flower_dir,
        env=_env(redis_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("flower: FLOWER_BASIC_AUTH is not set")
    assert done.stdout == ""


def test_flower_basic_auth_in_dot_env_is_honoured(
    redis_url: str, flower_dir: Path, start_flower: StartFlower
) -> None:
    """Given FLOWER_BASIC_AUTH only in `.env`, Flower starts and asks for that login."""
    (flower_dir / ".env").write_text("FLOWER_BASIC_AUTH=ops:s3cret-from-dotenv\n")

    url = start_flower(_env(redis_url))

    assert requests.get(f"{url}/api/workers", timeout=10).status_code == 401
    wrong = requests.get(f"{url}/api/workers", auth=("ops", "nope"), timeout=10)
    assert wrong.status_code == 401
    right = requests.get(f"{url}/api/workers", auth=("ops", "s3cret-from-dotenv"), timeout=10)
    assert right.status_code == 200


def test_the_environment_wins_over_dot_env(
    redis_url: str, flower_dir: Path, start_flower: StartFlower
) -> None:
    """As for every other setting, a FLOWER_* variable set in the environment wins."""
    (flower_dir / ".env").write_text("FLOWER_BASIC_AUTH=ops:from-dotenv\n")

    url = start_flower(_env(redis_url, FLOWER_BASIC_AUTH="ops:from-environment"))

    assert requests.get(f"{url}/", auth=("ops", "from-dotenv"), timeout=10).status_code == 401
    assert requests.get(f"{url}/", auth=("ops", "from-environment"), timeout=10).status_code == 200


def test_flower_serves_without_a_login_only_when_told_to(
    redis_url: str, start_flower: StartFlower
) -> None:
    """FLOWER_UNAUTHENTICATED_API=true is the explicit opt-out: Flower starts open."""
    url = start_flower(_env(redis_url, FLOWER_UNAUTHENTICATED_API="true"))

    assert requests.get(f"{url}/api/workers", timeout=10).status_code == 200
