"""Ops tasks: named Celery tasks that people (and beat) trigger.

Each is a thin wrapper over :mod:`tasks.ops.actions`, callable by
``celery -A worker call tasks.ops.<name>``, by Flower's HTTP API, and by
``python -m tasks.ops``. A bot's own jobs may take a ``tasks.ops.`` name to
be routed and called the same way: SmartFriend's ``birthday_greetings``
lives in :mod:`tasks.smartfriend.jobs`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task

from glipbot.contracts import EVENTS_QUEUE
from glipbot.contracts.ledger import EVENT, REPLY
from tasks.events import give_up_event, handle_event
from tasks.ops import actions
from tasks.replies import enqueue_reply, give_up_reply
from worker.celery import app
from worker.reaper import RUN_LIMIT, Reaper
from worker.runtime import runtime

_LIMITS: dict[str, Any] = {"soft_time_limit": 240, "time_limit": 300}


def _enqueue_event(envelope: dict[str, Any]) -> None:
    handle_event.apply_async(args=(envelope,), queue=EVENTS_QUEUE)


@app.task(name="tasks.ops.broadcast", bind=True, **_LIMITS)
def broadcast(
    self: Task, text: str, types: list[str] | None = None, broadcast_id: str | None = None
) -> dict[str, Any]:
    """Post ``text`` to every chat of ``types`` (default: private, group and team chats)."""
    return actions.broadcast(
        runtime(),
        enqueue_reply,
        broadcast_id or str(self.request.id),  # a redelivered task reuses its id
        text,
        types or ["PrivateChat", "Group", "Team"],
    )


@app.task(name="tasks.ops.create_chat", **_LIMITS)
def create_chat(chat_type: str, members: list[str], name: str | None = None) -> dict[str, Any]:
    """Create a ``PrivateChat`` or ``Team`` with the bot and ``members`` (ids or e-mails)."""
    return actions.create_chat(runtime(), chat_type, members, name)


@app.task(name="tasks.ops.add_members", **_LIMITS)
def add_members(group_id: str, members: list[str]) -> dict[str, Any]:
    """Add people (ids or e-mail addresses) to a Team."""
    return actions.change_members(runtime(), group_id, add=members)


@app.task(name="tasks.ops.remove_members", **_LIMITS)
def remove_members(group_id: str, members: list[str]) -> dict[str, Any]:
    """Remove people (ids) from a Team."""
    return actions.change_members(runtime(), group_id, remove=members)


@app.task(name="tasks.ops.renew_subscription", **_LIMITS)
def renew_subscription(recreate: bool = False) -> dict[str, Any]:
    """Ask the active listener to renew (or re-create) its subscription now."""
    return actions.ask_listener(runtime(), "recreate" if recreate else "renew")


@app.task(name="tasks.ops.replay_dead_letters", **_LIMITS)
def replay_dead_letters(limit: int | None = None) -> dict[str, Any]:
    """Send up to ``limit`` dead letters (all by default) back through the pipeline."""
    return actions.replay_dead_letters(runtime(), _enqueue_event, enqueue_reply, limit)


@app.task(name="tasks.ops.status", **_LIMITS)
def status() -> dict[str, Any]:
    """Leader, subscription expiry, queue depths, dead letters and rate-limit state."""
    report = actions.status_report(runtime())
    report["canary_seconds_ago"] = _canary_age()
    return report


@app.task(name="tasks.ops.installations", **_LIMITS)
def installations(bot_id: str | None = None) -> dict[str, Any]:
    """Every bot installation (``installations``), or one (``installation``); no tokens."""
    return actions.installations(runtime(), bot_id)


@app.task(name="tasks.ops.remove_installation", **_LIMITS)
def remove_installation(bot_id: str, reason: str | None = None) -> dict[str, Any]:
    """Mark a bot installation removed and forget its token; the listener unsubscribes it."""
    return actions.remove_installation(runtime(), bot_id, reason or actions.REMOVED_BY_OPS)


@app.task(name="tasks.ops.canary", soft_time_limit=20, time_limit=30)
def canary() -> float:
    """Beat's liveness canary: proves a worker picks up ops tasks; ``status`` shows its age."""
    now = datetime.now(UTC).timestamp()
    rt = runtime()
    rt.platform.redis.set(rt.platform.keys.canary, now)
    return now


@app.task(name="tasks.ops.reap", soft_time_limit=RUN_LIMIT, time_limit=RUN_LIMIT + 10)
def reap() -> dict[str, Any]:
    """Send lost work again, release chats that wait for nothing, delete late duplicates.

    Beat runs it every 15 s; running it by hand is safe (one run at a time).
    """
    rt = runtime()
    reaper = Reaper(
        rt.platform.redis,
        rt.platform.keys,
        rt.poster.ledger,
        rt.poster.turns,
        rt.poster.duplicates,
        rt.dead_letters,
        rt.counters,
        {EVENT: give_up_event, REPLY: give_up_reply},
    )
    return reaper.run()


def _canary_age() -> float | None:
    rt = runtime()
    raw = rt.platform.redis.get(rt.platform.keys.canary)
    return None if raw is None else round(datetime.now(UTC).timestamp() - float(raw), 1)
