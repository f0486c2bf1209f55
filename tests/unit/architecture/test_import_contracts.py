"""The import contracts of pyproject.toml hold, and the checker would see a broken one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command, "lint-imports is installed with the dev extras"
    return subprocess.run(
        [command, "--no-cache", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_every_import_contract_is_kept() -> None:
    result = _lint_imports()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_contract_the_code_breaks_is_reported(tmp_path: Path) -> None:
    """The tasks import the worker (its app and task base), so forbidding it must fail."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["worker", "tasks"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "tasks without the worker"\n'
        'type = "forbidden"\n'
        'source_modules = ["tasks"]\n'
        'forbidden_modules = ["worker"]\n'
    )

    result = _lint_imports("--config", str(config))

    assert result.returncode != 0
    assert "1 broken" in result.stdout
