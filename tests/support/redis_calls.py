"""Count the commands a piece of code sends to Redis (scripts count once, as EVALSHA)."""

from __future__ import annotations

from typing import Any

import pytest
import redis


def record_calls(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of every command ``client`` sends is appended to the list returned."""
    calls: list[str] = []
    send = client.execute_command

    def counted(*args: Any, **options: Any) -> Any:
        calls.append(str(args[0]))
        return send(*args, **options)

    monkeypatch.setattr(client, "execute_command", counted)
    return calls
