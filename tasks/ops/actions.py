"""What the ops tasks do, as plain functions over a :class:`~worker.runtime.Runtime`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from glipbot import log_events as ev
from glipbot.bot import Reply
from glipbot.contracts import EVENTS_QUEUE, OPS_QUEUE, REPLIES_QUEUE, listener_commands
from glipbot.logging import get_logger
from glipbot.state.installations import InstallationStore
from worker.replies import Outgoing
from worker.runtime import Runtime

CHAT_TYPES = ("PrivateChat", "Group", "Team", "PersonalChat")
#: The reason recorded when ops remove an installation.
REMOVED_BY_OPS = "removed by ops"

EnqueueReply = Callable[[Outgoing], object]
EnqueueEvent = Callable[[dict[str, Any]], None]

_log = get_logger(__name__)


def broadcast(
    rt: Runtime, enqueue: EnqueueReply, broadcast_id: str, text: str, types: Sequence[str]
) -> dict[str, Any]:
    """Send ``text`` to every chat of ``types``, one rate-limited reply per chat.

    Each reply's key is derived from ``broadcast_id`` and the chat, so running
    the same broadcast again (a redelivered task) posts nothing twice.
    """
    unknown = sorted(set(types) - set(CHAT_TYPES))
    if unknown or not types:
        raise ValueError(f"chat types must be among {', '.join(CHAT_TYPES)}, not {unknown}")
    chats = 0
    for group in rt.platform.rest.iter_groups(types):
        group_id = str(group["id"])
        enqueue(Outgoing(Reply(f"broadcast:{broadcast_id}:{group_id}:0", group_id, text)))
        chats += 1
    _log.info(ev.BROADCAST_ENQUEUED, broadcast_id=broadcast_id, chats=chats, types=list(types))
    return {"broadcast_id": broadcast_id, "chats": chats, "types": list(types)}


def create_chat(
    rt: Runtime, chat_type: str, members: Sequence[str], name: str | None = None
) -> dict[str, Any]:
    """Create a chat (``PrivateChat`` or ``Team``) with the bot and ``members``."""
    group = rt.platform.rest.create_group(chat_type, list(members), name=name)
    return _chat_summary(group)


def change_members(
    rt: Runtime,
    group_id: str,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> dict[str, Any]:
    """Add (ids or e-mail addresses) and remove (ids) members of a Team."""
    added_ids = [m for m in add if "@" not in m]
    added_emails = [m for m in add if "@" in m]
    group = rt.platform.rest.bulk_assign(
        group_id,
        added_person_ids=added_ids,
        added_person_emails=added_emails,
        removed_person_ids=list(remove),
    )
    return _chat_summary(group)


def ask_listener(rt: Runtime, command: str) -> dict[str, Any]:
    """Queue ``renew`` or ``recreate`` for the active listener, which acts on it within seconds."""
    item = listener_commands.encode(command)
    # RPUSH: the listener BLPOPs, so commands run in the order they were given.
    rt.platform.redis.rpush(rt.platform.keys.listener_commands, item)
    return {"queued": command, "listeners": _listeners(rt)}


def replay_dead_letters(
    rt: Runtime,
    enqueue_event: EnqueueEvent,
    enqueue_reply: EnqueueReply,
    limit: int | None = None,
) -> dict[str, Any]:
    """Send dead letters back through the pipeline, oldest first.

    Events (``handle_event``) go back to the bot, replies (``post_reply``) back
    to the poster, with fresh attempts. What cannot be replayed (undecryptable
    PubNub messages) is put back on the list and counted as kept.
    """
    pending = rt.dead_letters.count()
    budget = pending if limit is None else min(limit, pending)
    replayed: dict[str, int] = {}
    kept = 0
    for _ in range(budget):
        record = rt.dead_letters.pop_oldest()
        if record is None:
            break
        source, payload = record.get("source"), record.get("payload")
        if source == "handle_event" and isinstance(payload, dict):
            enqueue_event(payload)
        elif source == "post_reply" and isinstance(payload, dict):
            enqueue_reply(Outgoing.from_json({**payload, "seq": None, "created": time.time()}))
        else:
            rt.dead_letters.restore(record)
            kept += 1
            continue
        replayed[str(source)] = replayed.get(str(source), 0) + 1
    _log.info(ev.DEAD_LETTERS_REPLAYED, replayed=replayed, kept=kept)
    return {"replayed": replayed, "kept": kept, "remaining": rt.dead_letters.count()}


def status_report(rt: Runtime) -> dict[str, Any]:
    """Leader, subscription, queue depths, dead letters, rate limits, token and counters.

    ``login_failure`` is the recorded refusal of the bot's credentials (the
    setting to fix, and when they are tried again), or ``None``.
    """
    redis_client, keys = rt.platform.redis, rt.platform.keys
    login_failure = rt.platform.tokens.login_failure()
    listeners = _listeners(rt)
    leader = next((item for item in listeners if item.get("role") == "leader"), None)
    return {
        "leader": leader.get("instance") if leader else None,
        "listeners": listeners,
        "subscription": {
            "id": redis_client.get(keys.subscription_id),
            "expires_in_seconds": leader.get("expires_in_seconds") if leader else None,
            "seconds_since_last_event": leader.get("seconds_since_last_event") if leader else None,
        },
        "queues": {q: int(redis_client.llen(q)) for q in (EVENTS_QUEUE, REPLIES_QUEUE, OPS_QUEUE)},
        "dead_letters": {
            "count": rt.dead_letters.count(),
            "trimmed": rt.dead_letters.trimmed(),
            "newest": [
                {k: r.get(k) for k in ("time", "source", "reason")}
                for r in rt.dead_letters.list(0, 4)
            ],
        },
        "rate_limits": {group: vars(rt.limiter.state(group)) for group in rt.limiter.groups()},
        "token": rt.platform.tokens.counters(),
        "login_failure": login_failure.report() if login_failure is not None else None,
        "counters": rt.counters.all(),
    }


def installations(rt: Runtime, bot_id: str | None = None) -> dict[str, Any]:
    """Every installation (oldest first), or the one of ``bot_id``; never a token.

    An unknown ``bot_id`` raises :class:`LookupError`.
    """
    store = _installations(rt)
    if bot_id is None:
        return {"installations": [i.public() for i in store.all()]}
    found = store.get(bot_id)
    if found is None:
        raise LookupError(f"no installation of bot {bot_id}")
    return {"installation": found.public()}


def remove_installation(rt: Runtime, bot_id: str, reason: str = REMOVED_BY_OPS) -> dict[str, Any]:
    """Mark ``bot_id``'s installation removed and forget its token.

    The leading listener stops its subscription when it sees the change. A
    removed installation stays removed (``removed: false``); an unknown one
    raises :class:`LookupError`. The configured bot comes back at the next
    listener start, unless the ``RINGCENTRAL_*`` settings name another bot.
    """
    store = _installations(rt)
    current = store.get(bot_id)
    if current is None:
        raise LookupError(f"no installation of bot {bot_id}")
    if not current.active:
        return {"removed": False, "installation": current.public()}
    removed = store.remove(bot_id, reason) or current
    _log.info(
        ev.INSTALLATION_REMOVED,
        bot_id=bot_id,
        account_id=removed.account_id,
        kind=removed.kind,
        reason=reason,
    )
    return {"removed": True, "installation": removed.public()}


def _installations(rt: Runtime) -> InstallationStore:
    return InstallationStore(rt.platform.redis, rt.platform.keys)


def _listeners(rt: Runtime) -> list[dict[str, Any]]:
    redis_client, keys = rt.platform.redis, rt.platform.keys
    found = []
    for key in sorted(redis_client.scan_iter(match=keys.listener_status_pattern, count=100)):
        raw = redis_client.get(key)
        if raw:
            status = json.loads(raw)
            status.pop("metrics", None)
            found.append(status)
    return found


def _chat_summary(group: dict[str, Any]) -> dict[str, Any]:
    return {k: group.get(k) for k in ("id", "type", "name", "members")}
