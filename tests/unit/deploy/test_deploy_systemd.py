"""The systemd units restart, read the env file, run hardened from the venv, and verify.

``systemd-analyze verify`` runs where it is installed; its tests are skipped
elsewhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from deploy_files import DEPLOY, ROOT, VENV_BIN, Sources, load_unit

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="no systemd-analyze here"
)


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


def systemd_verify(units_dir: Path) -> list[str]:
    """``systemd-analyze verify`` on copies of the units: its output, [] when silent.

    The copies run this checkout's venv in place of /opt/glipbot/.venv and drop
    User=/Group= (no glipbot user here), so verify also proves that every
    ExecStart binary exists. Any output counts: systemd only warns ("...,
    ignoring") on a key it cannot parse.
    """
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None
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


def test_a_unit_file_is_read_as_keys_with_every_value(tmp_path: Path) -> None:
    unit = tmp_path / "x.service"
    unit.write_text("[Service]\n# A=comment\n; B=comment\nEnvironmentFile=a\nEnvironmentFile=-b\n")
    assert load_unit(unit) == {"EnvironmentFile": ["a", "-b"]}


def test_every_unit_restarts_reads_the_env_file_and_is_hardened(shipped: Sources) -> None:
    assert check_systemd_units(shipped) == []


def test_a_unit_that_does_not_restart_is_reported(broken: Sources) -> None:
    del broken.units["glipbot-flower.service"]["Restart"]
    assert check_systemd_units(broken) == ["systemd glipbot-flower.service: needs Restart=..."]


def test_a_unit_reading_another_env_file_is_reported(broken: Sources) -> None:
    broken.units["glipbot-listener@.service"]["EnvironmentFile"] = ["/etc/default/glipbot"]
    expected = "systemd glipbot-listener@.service: needs EnvironmentFile=/etc/glipbot/glipbot.env"
    assert check_systemd_units(broken) == [expected]


def test_a_unit_without_protect_system_strict_is_reported(broken: Sources) -> None:
    broken.units["glipbot-beat.service"]["ProtectSystem"] = ["full"]
    assert check_systemd_units(broken) == [
        "systemd glipbot-beat.service: needs ProtectSystem=strict"
    ]


def test_a_unit_running_a_program_outside_the_venv_is_reported(broken: Sources) -> None:
    broken.units["glipbot-listener@.service"]["ExecStart"] = ["/usr/bin/python3 -m listener"]
    expected = f"systemd glipbot-listener@.service: ExecStart does not use {VENV_BIN}"
    assert check_systemd_units(broken) == [expected]


def test_a_celery_worker_unit_without_kill_mode_mixed_is_reported(broken: Sources) -> None:
    """Under the default KillMode the pool processes die mid-task on SIGTERM."""
    del broken.units["glipbot-worker@.service"]["KillMode"]
    expected = "systemd glipbot-worker@.service: a Celery worker needs KillMode=mixed"
    assert check_systemd_units(broken) == [expected]


def test_a_beat_unit_that_cannot_write_its_schedule_is_reported(broken: Sources) -> None:
    del broken.units["glipbot-beat.service"]["ReadWritePaths"]
    expected = "systemd glipbot-beat.service: beat needs ReadWritePaths=/var/lib/glipbot"
    assert check_systemd_units(broken) == [expected]


@needs_systemd_analyze
def test_systemd_analyze_verifies_every_unit_silently() -> None:
    assert systemd_verify(DEPLOY / "systemd") == []


@needs_systemd_analyze
def test_systemd_analyze_reports_a_key_it_cannot_parse(tmp_path: Path) -> None:
    unit = DEPLOY / "systemd" / "glipbot-beat.service"
    (tmp_path / unit.name).write_text(unit.read_text().replace("KillMode=mixed", "KillMode=sway"))
    (warning,) = systemd_verify(tmp_path)
    assert warning.endswith("ignoring: sway")
