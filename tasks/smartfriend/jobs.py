"""SmartFriend's scheduled job: the daily birthday greetings, its Celery task and beat entry.

The task keeps the name it has always had, ``tasks.ops.birthday_greetings``,
so ``celery call``, Flower and ``python -m tasks.ops birthdays`` reach it
as before, and the ``tasks.ops.*`` route sends it to the ``ops`` queue. The
``tasks`` package imports this module, so every worker registers the task
and beat adds the entry to its schedule; the platform's own schedule
(``worker.celery``) only has its liveness canary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from celery import Celery
from celery.schedules import crontab

from glipbot.bot import Reply
from glipbot.contracts import OPS_QUEUE
from tasks.replies import enqueue_reply
from tasks.smartfriend import birthdays
from tasks.smartfriend.settings import SmartFriendSettings
from worker.celery import app
from worker.replies import Outgoing
from worker.runtime import Runtime, runtime

#: The task's registered name (an ops task: routed to the ``ops`` queue).
BIRTHDAY_GREETINGS = "tasks.ops.birthday_greetings"
#: The beat entry's name, and when it runs: every day at 09:00 in the app's timezone, UTC.
BEAT_ENTRY = "birthday-greetings"
BEAT_SCHEDULE = crontab(hour=9, minute=0)


@functools.cache
def settings() -> SmartFriendSettings:
    """SmartFriend's settings, read from the environment once per process, on first use."""
    return SmartFriendSettings.from_env()


def send_birthday_greetings(
    rt: Runtime,
    enqueue: Callable[[Outgoing], object],
    today: date,
    source: birthdays.BirthdaySource,
) -> dict[str, Any]:
    """Greet today's birthdays in their private chats with the bot.

    Each reply's key is the day and the chat, so running the job twice on
    one day (a redelivered task, a second trigger) greets nobody twice.
    """
    chats = list(rt.platform.rest.iter_groups(["PrivateChat"]))
    greetings = birthdays.birthday_greetings(today, source, rt.directory, chats)
    for group_id, text in greetings:
        enqueue(Outgoing(Reply(f"birthday:{today.isoformat()}:{group_id}:0", group_id, text)))
    return {"date": today.isoformat(), "greetings": len(greetings)}


@app.task(name=BIRTHDAY_GREETINGS, soft_time_limit=240, time_limit=300)
def birthday_greetings(day: str | None = None) -> dict[str, Any]:
    """Greet the people whose birthday is ``day`` (ISO date; default today, UTC)."""
    today = date.fromisoformat(day) if day else datetime.now(UTC).date()
    source = birthdays.birthday_source(settings())
    return send_birthday_greetings(runtime(), enqueue_reply, today, source)


def schedule_birthday_greetings(celery_app: Celery) -> None:
    """Add the daily greetings to ``celery_app``'s beat schedule, sent to the ``ops`` queue.

    The task is named, not evaluated, so nothing is configured at import:
    Celery adds the entry when the app is configured, or at once if it is.
    """
    celery_app.add_periodic_task(
        BEAT_SCHEDULE,
        celery_app.signature(BIRTHDAY_GREETINGS),
        name=BEAT_ENTRY,
        queue=OPS_QUEUE,
    )


schedule_birthday_greetings(app)
