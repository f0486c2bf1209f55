"""Where a WebSocket session can be recovered from, kept in Redis for the next leader.

The gateway replays what a session missed when a socket reconnects with the
session's ``wsc`` token (WEBSOCKET.md, section 7). The leader saves the
newest ``wsc`` (and the subscription id) under ``websocket:session``, but only
one that follows nothing unwritten: :class:`Progress` holds back every
``wsc`` that came after a notification ingest has not enqueued yet. A
successor, or this process after a crash, recovers from there; whatever is
replayed twice, ingest de-duplicates. Writes are fenced by the lease, like
the PubNub timetoken's: a deposed leader cannot move the checkpoint.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis

from glipbot import log_events as ev
from glipbot.logging import get_logger
from listener.transports.websocket.frames import Wsc

log = get_logger(__name__)

#: KEYS: lease, checkpoint; ARGV: lease value, checkpoint JSON. -1: not the leader.
SAVE_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Checkpoint:
    """A recoverable session: its newest safe ``wsc``, its subscription, when it was heard."""

    wsc: str
    sequence: int
    subscription_id: str | None
    #: Epoch seconds when the frame carrying ``wsc`` arrived: events after it may be missed.
    heard_at: float
    instance: str

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Checkpoint:
        """Read the stored form; ``ValueError``/``KeyError``/``TypeError`` when unusable."""
        data = json.loads(raw)
        subscription = data["subscription_id"]
        return cls(
            wsc=str(data["wsc"]),
            sequence=int(data["sequence"]),
            subscription_id=None if subscription is None else str(subscription),
            heard_at=float(data["heard_at"]),
            instance=str(data["instance"]),
        )


class CheckpointStore:
    """Loads and saves (fenced) the checkpoint of the bot's WebSocket session."""

    def __init__(self, client: aioredis.Redis, lease_key: str, key: str) -> None:
        self._redis = client
        self._lease_key = lease_key
        self._key = key
        self._save = client.register_script(SAVE_SCRIPT)

    async def load(self) -> Checkpoint | None:
        """The stored checkpoint, or None (none, or unreadable: logged)."""
        raw = await self._redis.get(self._key)
        if not raw:
            return None
        try:
            return Checkpoint.from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.error(ev.WEBSOCKET_CHECKPOINT_FAILED, reason="unreadable", error=repr(exc))
            return None

    async def save(self, checkpoint: Checkpoint, lease_value: str) -> bool:
        """Store ``checkpoint`` if ``lease_value`` still holds the lease."""
        result = await self._save(
            keys=[self._lease_key, self._key], args=[lease_value, checkpoint.to_json()]
        )
        return int(result) == 1


@dataclass(frozen=True)
class _Seen:
    position: int
    wsc: Wsc | None
    notification: bool
    at: float


class Progress:
    """Numbers the frames of a session and tells which ``wsc`` is safe to save.

    Each frame gets a position; a notification is handed to ingest with its
    position as its "timetoken". Once ingest reports position *p* written,
    every frame up to the first notification after *p* is safe.
    """

    def __init__(self) -> None:
        self._position = 0
        self._frames: deque[_Seen] = deque()

    def frame(self, wsc: Wsc | None, *, notification: bool, at: float) -> int:
        """Record one frame; return its position (> 0)."""
        self._position += 1
        if wsc is not None or notification:
            self._frames.append(_Seen(self._position, wsc, notification, at))
        return self._position

    def safe(self, written: int | None) -> tuple[Wsc, float] | None:
        """The newest ``wsc`` (and when it came) that follows nothing unwritten, or None.

        Frames up to it are forgotten: ask again after the next write.
        """
        found: tuple[Wsc, float] | None = None
        written = written or 0
        while self._frames:
            head = self._frames[0]
            if head.notification and head.position > written:
                break
            self._frames.popleft()
            if head.wsc is not None:
                found = (head.wsc, head.at)
        return found
