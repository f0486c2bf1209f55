"""This deployment's Celery tasks, and SmartFriend, the example bot it ships and runs by default.

Workers import the task modules by name (``worker`` never imports ``tasks``),
and importing any of them imports this package first. So this is where the
deployment tells the worker what it ships: the bot to run when ``BOT_APP``
is empty (:data:`DEFAULT_BOT_APP`), the settings it reads
(:data:`SETTINGS_CLASSES`), and SmartFriend's jobs, whose task and
beat entry are registered by importing :mod:`tasks.smartfriend.jobs`.
"""

from __future__ import annotations

from dataclasses import replace

from glipbot.settings import Settings, Variable, variables
from tasks.smartfriend import jobs as _smartfriend_jobs  # noqa: F401 - registers the task and beat entry
from tasks.smartfriend.settings import SmartFriendSettings
from worker.bots import declare_settings, set_default_bot_app

#: The bot the workers run when ``BOT_APP`` is empty: the example, SmartFriend.
DEFAULT_BOT_APP = "tasks.smartfriend:bot"

set_default_bot_app(DEFAULT_BOT_APP)

#: Every settings class this deployment reads: the platform's, then SmartFriend's.
SETTINGS_CLASSES: tuple[type, ...] = (Settings, SmartFriendSettings)

declare_settings(*SETTINGS_CLASSES)


def deployment_variables() -> tuple[Variable, ...]:
    """Every variable this deployment reads, with the default in effect: what the docs list.

    ``BOT_APP``'s default is :data:`DEFAULT_BOT_APP` here, not the platform's
    empty string.
    """
    return tuple(
        replace(v, default=DEFAULT_BOT_APP) if v.name == "BOT_APP" else v
        for settings_class in SETTINGS_CLASSES
        for v in variables(settings_class)
    )
