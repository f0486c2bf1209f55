"""Dead letters: inputs that could not be handled, kept with their reason.

A dead letter is a JSON record ``{id, time, source, reason, payload, context}``
LPUSHed onto one Redis list (newest first). The list is capped at ``max_len``
so a flood of bad input cannot fill Redis, but nothing vanishes silently:
every record trimmed away is counted in ``{key}:trimmed``. Replay takes the
oldest record first with :meth:`DeadLetters.pop_oldest`.

Never put secrets (keys, tokens) into ``payload`` or ``context``: the list is
read by people.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis

#: Default cap of the list: large enough for any incident, small enough for Redis.
DEFAULT_MAX_LEN = 100_000

# LPUSH, then trim past the cap and count what the trim removed, atomically.
_PUSH = """
local n = redis.call('LPUSH', KEYS[1], ARGV[1])
local cap = tonumber(ARGV[2])
if n > cap then
  redis.call('LTRIM', KEYS[1], 0, cap - 1)
  redis.call('INCRBY', KEYS[2], n - cap)
end
return n
"""


class DeadLetters:
    """One dead-letter list in Redis (synchronous client, ``str`` or ``bytes`` replies)."""

    def __init__(self, client: redis.Redis, key: str, *, max_len: int = DEFAULT_MAX_LEN) -> None:
        if max_len < 1:
            raise ValueError("max_len must be at least 1")
        self._redis = client
        self.key = key
        self.trimmed_key = f"{key}:trimmed"
        self.max_len = max_len
        self._push = client.register_script(_PUSH)

    @staticmethod
    def record(source: str, reason: str, payload: Any, **context: Any) -> dict[str, Any]:
        """Build the record :meth:`push` stores (also useful to push it another way)."""
        return {
            "id": uuid.uuid4().hex,
            "time": time.time(),
            "source": source,
            "reason": reason,
            "payload": payload,
            "context": context,
        }

    def push(self, source: str, reason: str, payload: Any, **context: Any) -> dict[str, Any]:
        """Store one dead letter; return the record. ``payload`` must be JSON-serialisable."""
        return self.restore(self.record(source, reason, payload, **context))

    def restore(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store ``record`` as it is (a popped record that could not be replayed keeps its
        id, time and reason)."""
        self._push(keys=[self.key, self.trimmed_key], args=[_dumps(record), self.max_len])
        return record

    def count(self) -> int:
        """How many dead letters the list holds now."""
        return int(self._redis.llen(self.key))

    def trimmed(self) -> int:
        """How many dead letters were dropped by the cap since the counter was created."""
        return int(self._redis.get(self.trimmed_key) or 0)

    def list(self, start: int = 0, stop: int = -1) -> list[dict[str, Any]]:
        """Records from newest (index 0) to oldest, as ``LRANGE start stop``."""
        return [json.loads(raw) for raw in self._redis.lrange(self.key, start, stop)]

    def pop_oldest(self) -> dict[str, Any] | None:
        """Remove and return the oldest record, or ``None`` when the list is empty."""
        raw = self._redis.rpop(self.key)
        return None if raw is None else json.loads(raw)  # type: ignore[arg-type]


def _dumps(record: dict[str, Any]) -> str:
    # default=repr: a payload that is not JSON (bytes, objects) is still kept, as text.
    return json.dumps(record, separators=(",", ":"), default=repr)
