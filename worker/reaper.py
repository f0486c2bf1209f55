"""The reaper: what was lost on its way is sent again, what waits for nothing is released.

Beat runs it every :data:`REAP_INTERVAL` seconds as ``tasks.ops.reap`` (and
people may run it by hand: ``python -m tasks.ops reap``). A Redis lock keeps
two runs (two beats, or a run by hand) from overlapping. Each run:

1. **Work in flight past its deadline** (:mod:`glipbot.contracts.ledger`):
   still on its queue, it is given another bound; otherwise it was lost (a
   worker killed mid-task, or between kombu's ``BRPOP`` and its ``unacked``
   record) and its message is pushed again, counted as ``events_reaped`` or
   ``replies_reaped``. Re-running is harmless: ``handle_event`` yields the
   same reply keys, ``post_reply`` finds its reply record. Work lost
   :data:`~glipbot.contracts.ledger.MAX_REAPS` times in a row is given up
   as the task itself would: a dead letter, and its chat's turn freed.
2. **Chats whose turn waits for an owner that is gone** (each installation's order of a chat)
   (:meth:`glipbot.contracts.chat_order.ChatTurns.release`): the waiting
   replies are released in order, and each skipped owner is logged, counted
   (``chat_order_released``) and kept as a dead letter with the reason.
3. **Late duplicates** of replies posted again after an unanswered POST are
   deleted (:meth:`worker.reconcile.DuplicateWatch.sweep`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import LockError

from glipbot import log_events as ev
from glipbot.contracts.chat_order import RELEASE_GRACE, ChatTurns, Released
from glipbot.contracts.ledger import EVENT, MAX_REAPS, REPLY, Entry, Ledger, Outcome
from glipbot.contracts.messages import task_arguments
from glipbot.errors import DeadLetteredError, TransientError
from glipbot.logging import get_logger
from glipbot.state.counters import Counters
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from worker.reconcile import DuplicateWatch

#: Seconds between two runs (beat's schedule).
REAP_INTERVAL = 15.0
#: The longest one run may take (the task's soft time limit).
RUN_LIMIT = 45.0
#: The run's lock lapses after this long, should a run die holding it: longer
#: than a run may take, so two runs never overlap.
LOCK_TTL = RUN_LIMIT + 15.0
#: The most overdue entries looked at in one run (the next run takes the rest).
BATCH = 500
#: Dead-letter source of the owners of a chat's turn that were released.
CHAT_ORDER = "chat_order"
#: Dead-letter source of a ledger entry whose message could not be read.
LEDGER = "ledger"

#: The counter of work sent again, by ledger kind.
REAPED_COUNTERS = {EVENT: "events_reaped", REPLY: "replies_reaped"}

#: A task's ``give_up(error, attempts, arguments)`` (see :mod:`worker.task`).
GiveUp = Callable[[Exception, int, dict[str, Any]], DeadLetteredError]

_log = get_logger(__name__)


class LostInFlight(TransientError):
    """Work that was lost on its way again and again (each time sent again by the reaper)."""


@dataclass
class Report:
    """What one run did."""

    resent: dict[str, int]
    waiting: int = 0
    given_up: int = 0
    released: int = 0
    duplicates_deleted: int = 0
    in_flight: int = 0

    def busy(self) -> bool:
        """Whether the run did anything worth a log line."""
        return bool(sum(self.resent.values()) or self.given_up or self.released)

    def to_json(self) -> dict[str, Any]:
        """The answer of ``tasks.ops.reap``."""
        return {
            "resent": dict(self.resent),
            "waiting_on_queue": self.waiting,
            "given_up": self.given_up,
            "released": self.released,
            "duplicates_deleted": self.duplicates_deleted,
            "in_flight": self.in_flight,
        }


class Reaper:
    """One run of the reaper over the shared state; ``give_ups`` by ledger kind."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        ledger: Ledger,
        turns: ChatTurns,
        duplicates: DuplicateWatch,
        dead_letters: DeadLetters,
        counters: Counters,
        give_ups: Mapping[str, GiveUp],
        *,
        max_reaps: int = MAX_REAPS,
        grace: float = RELEASE_GRACE,
        batch: int = BATCH,
        lock_ttl: float = LOCK_TTL,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._ledger = ledger
        self._turns = turns
        self._duplicates = duplicates
        self._dead = dead_letters
        self._counters = counters
        self._give_ups = give_ups
        self._max_reaps = max_reaps
        self._grace = grace
        self._batch = batch
        self._lock_ttl = lock_ttl

    def run(self) -> dict[str, Any]:
        """One run under the reaper's lock; ``{"skipped": ...}`` when another run holds it."""
        lock = self._redis.lock(self._keys.reaper_lock, timeout=self._lock_ttl, blocking=False)
        if not lock.acquire(blocking=False):
            _log.info(ev.REAPER_BUSY)
            return {"skipped": "another reaper run holds the lock"}
        try:
            report = self.reap()
        finally:
            with contextlib.suppress(LockError):  # it lapsed: the run took too long
                lock.release()
        if report.busy():
            _log.warning(ev.REAPER_RAN, **report.to_json())
        else:
            _log.debug(ev.REAPER_RAN, **report.to_json())
        return report.to_json()

    def reap(self) -> Report:
        """Steps 1 to 3 of the module docstring (without the lock)."""
        report = Report(resent={EVENT: 0, REPLY: 0})
        for entry_id in self._ledger.overdue(self._batch):
            self._reap_one(entry_id, report)
        for chat in self._turns.waiting_chats():
            for released in self._turns.release(chat.group_id, self._grace, bot=chat.bot).released:
                self._record_release(released)
                report.released += 1
        report.duplicates_deleted = self._duplicates.sweep()
        report.in_flight = self._ledger.size()
        return report

    def _reap_one(self, entry_id: str, report: Report) -> None:
        reaped = self._ledger.resend(entry_id, max_reaps=self._max_reaps)
        kind = entry_id.partition(":")[0]
        if reaped.outcome is Outcome.RESENT:
            report.resent[kind] = report.resent.get(kind, 0) + 1
            self._counters.incr(REAPED_COUNTERS.get(kind, "work_reaped"))
            _log.warning(ev.WORK_REAPED, entry=entry_id, kind=kind, reaps=reaped.reaps)
        elif reaped.outcome in (Outcome.QUEUED, Outcome.BACKLOG):
            report.waiting += 1
        elif reaped.outcome is Outcome.EXHAUSTED and reaped.entry is not None:
            self._give_up(reaped.entry, reaped.reaps - 1)
            report.given_up += 1

    def _give_up(self, entry: Entry, reaps: int) -> None:
        """Keep lost-again-and-again work as a dead letter, as its task would, and forget it."""
        error = LostInFlight(f"lost in flight {reaps + 1} times (sent again by the reaper {reaps})")
        self._counters.incr("reaps_exhausted")
        _log.error(ev.WORK_REAP_EXHAUSTED, entry=entry.id, kind=entry.kind, reaps=reaps)
        give_up = self._give_ups.get(entry.kind)
        try:
            args, kwargs = task_arguments(entry.message)
        except ValueError as exc:
            give_up = None
            reason = f"{error}; its message cannot be read: {exc}"
        else:
            reason = str(error)
        if give_up is None:
            self._counters.incr("dead_letters_ledger")
            self._dead.push(LEDGER, reason, entry.message, entry=entry.id, queue=entry.queue)
        else:
            give_up(error, reaps, _arguments(entry.kind, args, kwargs))
        self._ledger.done(entry.id)

    def _record_release(self, released: Released) -> None:
        if released.index is None:
            what = f"event {released.seq} of chat {released.group_id} was never handled"
        else:
            what = f"reply {released.seq}:{released.index} of chat {released.group_id} never posted"
        reason = (
            f"{what} and is in no queue, worker or ledger; the replies waiting behind it "
            "were released in order"
        )
        self._counters.incr("chat_order_released", bot=released.bot)
        self._counters.incr("dead_letters_chat_order", bot=released.bot)
        _log.error(
            ev.CHAT_ORDER_RELEASED,
            group_id=released.group_id,
            bot_id=released.bot,
            seq=released.seq,
            index=released.index,
            entry=released.entry_id,
        )
        self._dead.push(
            CHAT_ORDER,
            reason,
            {
                "group_id": released.group_id,
                "seq": released.seq,
                "index": released.index,
                "entry": released.entry_id,
            },
            bot_id=released.bot,
        )


def _arguments(kind: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The task's arguments by name, as its ``give_up`` takes them."""
    first = args[0] if args else None
    if kind == EVENT:
        return {"envelope": kwargs.get("envelope", first), "seq": kwargs.get("seq")}
    return {"reply": kwargs.get("reply", first)}
