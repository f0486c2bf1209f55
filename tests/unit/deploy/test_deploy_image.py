"""The container image carries every package the deployed roles import."""

from __future__ import annotations

import re
import tomllib

from deploy_files import DEPLOY, ROOT

#: Packages for development only: the demo launcher and the test process manager.
NOT_IN_THE_IMAGE = {"devtools"}


def shipped_packages() -> set[str]:
    """The top-level packages ``pip install .`` installs, less the development-only ones."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*") for pattern in include} - NOT_IN_THE_IMAGE


def image_problems(dockerfile: str, dockerignore: str, packages: set[str]) -> list[str]:
    """Packages the Dockerfile does not copy or the allow-list of .dockerignore keeps out."""
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", dockerfile, flags=re.MULTILINE))
    allowed = set(re.findall(r"^!(\w+)/$", dockerignore, flags=re.MULTILINE))
    problems = [f"Dockerfile does not COPY {name}/" for name in sorted(packages - copied)]
    problems += [f".dockerignore keeps {name}/ out" for name in sorted(packages - allowed)]
    return problems


def test_the_image_copies_every_package_the_roles_import() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    dockerignore = (ROOT / ".dockerignore").read_text()

    assert image_problems(dockerfile, dockerignore, shipped_packages()) == []
    assert {"glipbot", "worker", "listener", "tasks", "sandbox"} <= shipped_packages()


def test_a_package_left_out_of_the_image_is_reported() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text().replace("COPY glipbot/ glipbot/\n", "")
    dockerignore = (ROOT / ".dockerignore").read_text().replace("!glipbot/\n", "")

    assert image_problems(dockerfile, dockerignore, shipped_packages()) == [
        "Dockerfile does not COPY glipbot/",
        ".dockerignore keeps glipbot/ out",
    ]
