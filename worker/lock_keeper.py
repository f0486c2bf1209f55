"""One thread per process keeps alive the reply locks this process holds.

A reply's lock lives a few seconds (:data:`worker.replies.LOCK_TTL`) unless
its holder extends it: a worker that dies mid-POST frees the chat within
seconds, one that is merely slow keeps it. The keeper extends every lock it
holds each third of the lock's TTL, from one thread started on first use in
each process, rather than a thread started and joined around every POST
(about a tenth of ``handle_event``'s time in a profile of a worker).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis.lock import Lock

from glipbot import log_events as ev
from glipbot.logging import get_logger

_log = get_logger(__name__)

#: The keeper's thread ends after this long with no lock to keep (the next one starts it).
IDLE_EXIT = 30.0


@dataclass(eq=False)
class _Held:
    lock: Lock
    ttl: float
    due: float


class LockKeeper:
    """Extends the locks it is given until they are let go of (:meth:`kept`)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, idle_exit: float = IDLE_EXIT
    ) -> None:
        self._clock = clock
        self._idle_exit = idle_exit
        self._held: set[_Held] = set()
        self._pid = os.getpid()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def kept(self, lock: Lock, ttl: float) -> Iterator[None]:
        """Extend ``lock`` to ``ttl`` seconds every ``ttl / 3`` while the block runs.

        The lock must be taken with ``thread_local=False`` (another thread
        extends it). When the block ends, no extension is under way or to
        come, so the caller may release the lock at once. A lock that cannot
        be extended (lost, or Redis failed) is logged (``reply_lock_lost``)
        and no longer kept; the block goes on.
        """
        held = _Held(lock, ttl, self._clock() + ttl / 3)
        with self._condition():
            self._held.add(held)
            self._start()
            self._changed.notify()
        try:
            yield
        finally:
            # Taken while no extension runs: none comes after this.
            with self._changed:
                self._held.discard(held)

    def _condition(self) -> threading.Condition:
        if self._pid != os.getpid():  # forked: the parent's thread and lock stayed behind
            self._pid = os.getpid()
            self._changed = threading.Condition()
            self._thread = None
            self._held = set()
        return self._changed

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="lock-keeper", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        changed = self._changed
        with changed:
            while True:
                now = self._clock()
                for held in [h for h in self._held if h.due <= now]:
                    self._extend(held, now)
                if not self._held:
                    changed.wait(self._idle_exit)
                    if not self._held:  # still nothing to keep: end (kept() starts another)
                        self._thread = None
                        return
                    continue
                due = min(h.due for h in self._held)
                changed.wait(max(0.0, due - self._clock()))

    def _extend(self, held: _Held, now: float) -> None:
        try:
            held.lock.extend(held.ttl, replace_ttl=True)
        except Exception as exc:  # lost (LockError), Redis failed, or worse: keep the others
            _log.warning(ev.REPLY_LOCK_LOST, lock=str(held.lock.name), error=type(exc).__name__)
            self._held.discard(held)
            return
        held.due = now + held.ttl / 3
