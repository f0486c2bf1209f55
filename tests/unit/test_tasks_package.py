"""The ``tasks`` package tells the worker what this deployment ships; ``worker`` names none of it.

A deployment that does not set ``BOT_APP`` runs SmartFriend, and workers and
beat load SmartFriend's job with the task modules they import by name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tasks
import tasks.smartfriend
from glipbot.errors import ConfigError
from glipbot.settings import Settings
from worker.bots import bot_app, known_variables, load_bot
from worker.celery import TASK_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_without_bot_app_the_workers_run_smartfriend() -> None:
    settings = Settings.from_env({}, env_file=None)

    assert settings.bot_app == ""
    assert bot_app(settings) == tasks.DEFAULT_BOT_APP == "tasks.smartfriend:bot"
    assert load_bot(bot_app(settings)) is tasks.smartfriend.bot


def test_bot_app_wins_over_the_default() -> None:
    settings = Settings.from_env({"BOT_APP": "yourmodule:bot"}, env_file=None)

    assert bot_app(settings) == "yourmodule:bot"


def test_an_empty_bot_spec_is_a_config_error_naming_bot_app() -> None:
    with pytest.raises(ConfigError, match="BOT_APP"):
        load_bot("")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module:bot", "BOT_APP='no_such_module:bot' names no bot: No module named"),
        ("tasks.smartfriend:no_such_bot", "BOT_APP='tasks.smartfriend:no_such_bot' names no bot"),
        ("tasks.smartfriend:jobs", "BOT_APP='tasks.smartfriend:jobs' is a module, not a glipbot"),
        ("this_test_module_raises", "BOT_APP='this_test_module_raises': importing"),
    ],
)
def test_a_bot_app_that_names_no_bot_is_a_config_error_naming_it(
    spec: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "this_test_module_raises.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(ConfigError) as refused:
        load_bot(spec)

    assert str(refused.value).startswith(message)


def test_the_task_package_tells_the_worker_which_variables_it_reads() -> None:
    """So that a worker warns of a misspelt SmartFriend variable, not only of a platform one."""
    assert {v.name for v in tasks.deployment_variables()} == known_variables()
    assert "BIRTHDAYS_FILE" in known_variables()


def test_the_worker_names_task_modules_but_no_bot() -> None:
    assert all(not name.startswith("tasks.smartfriend") for name in TASK_MODULES)


def test_workers_and_beat_load_smartfriends_job_with_the_task_modules() -> None:
    """What ``celery -A worker worker|beat`` do at start: import the app's task modules.

    Importing the task package alone configures nothing (reads no settings).
    """
    script = (
        "import json\n"
        "import tasks\n"
        "from worker.celery import app\n"
        "configured_by_import = app.configured\n"
        "app.loader.import_default_modules()\n"
        "print(json.dumps({'configured_by_import': configured_by_import,\n"
        "                  'tasks': sorted(app.tasks), 'beat': sorted(app.conf.beat_schedule)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout.splitlines()[-1])

    assert loaded["configured_by_import"] is False
    assert "tasks.ops.birthday_greetings" in loaded["tasks"]
    assert loaded["beat"] == ["birthday-greetings", "canary", "reaper"]
