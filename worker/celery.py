"""The Celery app: ``celery -A worker worker`` finds it here.

Configuration is applied when Celery first needs it (:meth:`App.on_configure`),
from :class:`~glipbot.settings.Settings` only, so importing this module reads
nothing from the environment. Task modules are named, not imported:
``worker`` never imports ``tasks``.

Invalid settings never leave Celery's own defaults in place (its default
broker is ``amqp://localhost``, where another program may well listen):

* configuring raises :class:`~glipbot.errors.ConfigError`, so the app is
  unusable rather than pointed elsewhere;
* every ``celery -A worker ...`` command (``worker``, ``beat``, ``flower``,
  ``call``, ``inspect`` ...) checks the settings before it does anything
  (:func:`_check_settings`, a hidden option Celery adds to each of them) and
  exits with status 2 and one line naming the variable;
* a worker imports its bot before it consumes anything (``worker_init``)
  and, when ``BOT_APP`` names none, exits the same way, having taken nothing
  off the queues.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
import structlog
from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init
from kombu import Queue

from glipbot import log_events as ev
from glipbot.contracts import EVENTS_QUEUE, OPS_QUEUE, QUEUES, TASK_ROUTES
from glipbot.errors import ConfigError
from glipbot.logging import configure_logging, get_logger
from glipbot.settings import Settings
from glipbot.unknown_variables import warn_unknown
from worker.bots import bot_app, known_variables, load_bot
from worker.broker import use_shared_clients
from worker.flower import install as install_flower_guard
from worker.reaper import REAP_INTERVAL

#: Task modules loaded by every worker.
TASK_MODULES = ("tasks.events", "tasks.replies", "tasks.ops")

#: The longest any task may run, and the longest retry countdown (seconds).
#: The broker's visibility timeout must stay above both, or Redis would hand
#: a running or waiting task to a second worker; below it, a task whose whole
#: worker machine died comes back that much sooner.
LONGEST_TASK = 300
VISIBILITY_TIMEOUT = 900

#: The exit status of a command that refuses its configuration (as the listener's).
EXIT_CONFIG = 2

#: Celery reads these over its configuration (``--broker`` and ``--result-backend``
#: set them): here the broker and the result backend are ``REDIS_URL``, nothing else.
CELERY_OVERRIDES = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")

_log = get_logger(__name__)


#: Celery beat's own jobs: a liveness canary and the reaper. A bot's task module adds its
#: jobs when it is imported (``app.add_periodic_task``), as workers and beat
#: import the task modules.
BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "canary": {
        "task": "tasks.ops.canary",
        "schedule": 60.0,
        "options": {"queue": OPS_QUEUE, "expires": 55},
    },
    # The reaper (worker/reaper.py): lost work sent again, stuck chats released.
    "reaper": {
        "task": "tasks.ops.reap",
        "schedule": REAP_INTERVAL,
        "options": {"queue": OPS_QUEUE, "expires": REAP_INTERVAL},
    },
}


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's settings for ``settings``: queues, JSON only, late acks, task events."""
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "result_expires": 24 * 3600,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT},
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_queues": tuple(Queue(name) for name in QUEUES),
        "task_default_queue": EVENTS_QUEUE,
        "task_routes": TASK_ROUTES,
        # At least once: a task is acknowledged after it ran, and handed to
        # another worker if its worker died; every task is idempotent.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_time_limit": LONGEST_TASK,
        "task_soft_time_limit": LONGEST_TASK - 30,
        # Short tasks: a worker process holds one extra message, not dozens
        # that would wait behind a slow one.
        "worker_prefetch_multiplier": 1,
        # Flower's view of the tasks; their cost is in the guide (4.1, TASK_EVENTS).
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
        "task_track_started": True,
        "worker_hijack_root_logger": False,
        # Our handler writes to stderr; redirected, each line would be logged twice.
        "worker_redirect_stdouts": False,
        "enable_utc": True,
        "timezone": "UTC",
        # A copy: the entries bots add go to this app's schedule, not to the constant.
        "beat_schedule": dict(BEAT_SCHEDULE),
    }


class App(Celery):
    """A Celery app configured from :class:`~glipbot.settings.Settings`, or not at all."""

    def on_configure(self) -> None:
        """Apply the settings; raise :class:`~glipbot.errors.ConfigError` if they are invalid.

        Celery calls this method the first time its configuration is read. (A
        receiver of Celery's ``on_configure`` signal cannot refuse: the
        signal logs its error and Celery goes on with its defaults.)
        """
        settings = Settings.from_env()
        for name in CELERY_OVERRIDES:
            override = os.environ.get(name)  # Celery ignores an empty one, and so do we
            if override and override != settings.redis_url:
                raise ConfigError(
                    f"{name} is set (as celery --broker/--result-backend do): this app's broker "
                    "and results are REDIS_URL's; unset it"
                )
        self.conf.update(celery_config(settings))
        self.conf.glipbot_settings = settings


use_shared_clients()
app = App("worker", include=list(TASK_MODULES))
# `celery -A worker flower`: FLOWER_* from .env, and no start without a login.
install_flower_guard(app)


def settings_of(celery_app: Celery = app) -> Settings:
    """The settings the app was configured with (configuring it if needed)."""
    settings = celery_app.conf.get("glipbot_settings")
    if settings is None:  # configured from an explicit dict, e.g. in tests
        settings = Settings.from_env()
        celery_app.conf.glipbot_settings = settings
    return settings


def _check_settings(ctx: click.Context, _param: click.Parameter, _value: object) -> None:
    """Before any ``celery -A worker`` command: valid settings, or one line and exit status 2.

    Also warns of variables that look like misspelt settings (except for the
    worker, which does so at start, once it knows the task package's
    settings, and Flower, which keeps its own logging).
    """
    celery_app = getattr(ctx.obj, "app", None)
    if not isinstance(celery_app, App):
        return
    try:
        settings = settings_of(celery_app)
    except ConfigError as exc:
        click.echo(f"celery {ctx.info_name}: {exc}", err=True)
        ctx.exit(EXIT_CONFIG)
    if ctx.info_name not in ("worker", "flower"):
        configure_logging(settings)
        warn_unknown(known_variables())


# Celery adds its app's preload options to every sub-command; their callbacks
# run while the command line is parsed, before the command does anything.
app.user_options["preload"].add(
    click.Option(
        ["--glipbot-check-settings"],
        is_flag=True,
        hidden=True,
        expose_value=False,
        is_eager=True,
        callback=_check_settings,
        help="(internal) validate the settings first",
    )
)


@worker_init.connect
def _load_the_bot(sender: Any = None, **_: Any) -> None:
    # Celery has imported the task modules (which name the default bot), and
    # consumes nothing yet. SystemExit is not an Exception: Celery's signal
    # dispatch, which logs and swallows errors, lets it through.
    if getattr(sender, "app", None) is not app:  # another app's worker in this process
        return
    settings = settings_of(app)
    configure_logging(settings)
    spec = bot_app(settings)
    try:
        bot = load_bot(spec)
    except ConfigError as exc:
        print(f"celery worker: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CONFIG) from None
    _log.info(ev.BOT_LOADED, bot_app=spec, bot=bot.name)
    warn_unknown(known_variables())


@setup_logging.connect
def _setup_logging(**_: Any) -> None:
    # Connecting this signal tells Celery to leave logging to us: one handler,
    # one format, and the secret-masking processor on Celery's own records too.
    configure_logging(settings_of())


@task_prerun.connect
def _bind_task_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=getattr(task, "name", None))


@task_postrun.connect
def _unbind_task_context(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()
