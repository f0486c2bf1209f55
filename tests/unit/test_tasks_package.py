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
from worker.celery import TASK_MODULES
from worker.runtime import bot_app, load_bot

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
    assert loaded["beat"] == ["birthday-greetings", "canary"]
