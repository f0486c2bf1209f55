"""The Celery app: ``celery -A worker worker`` finds it here.

Configuration is applied when Celery first needs it (``on_configure``), from
:class:`~glipbot.settings.Settings`, so importing this module reads nothing
from the environment. Task modules are named, not imported: ``worker`` never
imports ``tasks``.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun
from kombu import Queue

from glipbot.contracts import EVENTS_QUEUE, OPS_QUEUE, QUEUES, TASK_ROUTES
from glipbot.logging import configure_logging
from glipbot.settings import Settings

#: Task modules loaded by every worker.
TASK_MODULES = ("tasks.events", "tasks.replies", "tasks.ops")

#: The longest any task may run, and the longest retry countdown (seconds).
#: The broker's visibility timeout must stay above both, or Redis would hand
#: a running or waiting task to a second worker; below it, a task whose whole
#: worker machine died comes back that much sooner.
LONGEST_TASK = 300
VISIBILITY_TIMEOUT = 900


#: Celery beat's own job: a liveness canary. A bot's task module adds its
#: jobs when it is imported (``app.add_periodic_task``), as workers and beat
#: import the task modules.
BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "canary": {
        "task": "tasks.ops.canary",
        "schedule": 60.0,
        "options": {"queue": OPS_QUEUE, "expires": 55},
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
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "worker_hijack_root_logger": False,
        # Our handler writes to stderr; redirected, each line would be logged twice.
        "worker_redirect_stdouts": False,
        "enable_utc": True,
        "timezone": "UTC",
        # A copy: the entries bots add go to this app's schedule, not to the constant.
        "beat_schedule": dict(BEAT_SCHEDULE),
    }


app = Celery("worker", include=list(TASK_MODULES))


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    settings = Settings.from_env()
    sender.conf.update(celery_config(settings))
    sender.conf.glipbot_settings = settings


def settings_of(celery_app: Celery = app) -> Settings:
    """The settings the app was configured with (configuring it if needed)."""
    settings = celery_app.conf.get("glipbot_settings")
    if settings is None:  # configured from an explicit dict, e.g. in tests
        settings = Settings.from_env()
        celery_app.conf.glipbot_settings = settings
    return settings


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
