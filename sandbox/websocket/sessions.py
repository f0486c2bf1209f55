"""WebSocket sessions: what outlives one socket (sequence, subscription, replay buffer).

A session is created by a connection without ``wsc`` (or whose recovery
failed). It counts every server frame with its ``sequence``; it owns at most
one subscription; it keeps the last ``recoveryBufferSize`` notifications with
the sequence each was (or, with no socket, would have been) sent with. After
its socket ends it stays recoverable for its ``recoveryTimeout``; then it ends
and its subscription is deleted.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.clock import Clock, iso
from sandbox.tokens import Session

if TYPE_CHECKING:
    from sandbox.websocket.connection import Connection


@dataclass
class Buffered:
    """A notification kept for replay, with the sequence it was last sent (or due) with."""

    sequence: int
    envelope: dict[str, Any]


class ReplayBuffer:
    """The newest notifications of a session, oldest first, in sequence order."""

    def __init__(self) -> None:
        self._items: deque[Buffered] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Buffered]:
        return iter(self._items)

    def add(self, sequence: int, envelope: dict[str, Any], limit: int) -> None:
        """Keep a notification, dropping the oldest past ``limit``."""
        self._items.append(Buffered(sequence, envelope))
        self.trim(limit)

    def trim(self, limit: int) -> None:
        """Drop the oldest until at most ``limit`` remain."""
        while len(self._items) > max(0, limit):
            self._items.popleft()

    def after(self, sequence: int) -> list[Buffered]:
        """The kept notifications sent (or due) after ``sequence``, in order."""
        return [item for item in self._items if item.sequence > sequence]


@dataclass
class WsSession:
    """One WebSocket session of one login."""

    id: str
    oauth: Session
    recovery_timeout: float
    created_at: float
    sequence: int = 0
    subscription_id: str | None = None
    buffer: ReplayBuffer = field(default_factory=ReplayBuffer)
    connection: Connection | None = None
    disconnected_at: float | None = None
    sockets: int = 0
    heartbeats: int = 0
    notifications_sent: int = 0

    @property
    def person_id(self) -> str:
        """Whose session this is."""
        return self.oauth.person_id

    def next_sequence(self) -> int:
        """The sequence of the session's next server frame."""
        self.sequence += 1
        return self.sequence

    def recoverable(self, now: float) -> bool:
        """Whether the session is connected, or dropped less than ``recovery_timeout`` ago."""
        return self.disconnected_at is None or now < self.disconnected_at + self.recovery_timeout

    def to_json(self, event_filters: list[str] | None) -> dict[str, Any]:
        """The control API's view (``event_filters`` of its live subscription, if any)."""
        return {
            "id": self.id,
            "person_id": self.person_id,
            "subscription_id": self.subscription_id if event_filters is not None else None,
            "event_filters": event_filters or [],
            "connected": self.connection is not None,
            "sockets": self.sockets,
            "sequence": self.sequence,
            "buffered": len(self.buffer),
            "heartbeats": self.heartbeats,
            "notifications_sent": self.notifications_sent,
            "created_at": iso(self.created_at),
            "disconnected_at": None if self.disconnected_at is None else iso(self.disconnected_at),
        }


class SessionTable:
    """The live (connected or recoverable) sessions."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._sessions: dict[str, WsSession] = {}

    def __iter__(self) -> Iterator[WsSession]:
        return iter(list(self._sessions.values()))

    def reset(self) -> None:
        """Forget every session."""
        self._sessions.clear()

    def create(self, oauth: Session, recovery_timeout: float) -> WsSession:
        """A new session of a login."""
        session = WsSession(uuid.uuid4().hex, oauth, recovery_timeout, self._clock())
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> WsSession | None:
        """A live session by id."""
        return self._sessions.get(session_id)

    def remove(self, session: WsSession) -> bool:
        """Forget a session; whether it was live."""
        return self._sessions.pop(session.id, None) is not None

    def select(
        self, session_id: str | None = None, person_id: str | None = None
    ) -> list[WsSession]:
        """Sessions matching both selectors (a missing selector matches all)."""
        return [
            s
            for s in self._sessions.values()
            if (session_id is None or s.id == session_id)
            and (person_id is None or s.person_id == person_id)
        ]

    def stale(self) -> list[WsSession]:
        """Dropped sessions whose recovery window has passed."""
        now = self._clock()
        return [s for s in self._sessions.values() if not s.recoverable(now)]
