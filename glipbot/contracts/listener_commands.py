"""Ops commands for the leading listener: what ``tasks.ops`` pushes and the listener pops.

The list is :attr:`glipbot.state.keys.Keys.listener_commands`; each item is
the JSON :func:`encode` writes (``RPUSH``, so they run in the order given).
"""

from __future__ import annotations

import json
import time

#: Renew the subscription now, or replace it with a new one.
COMMANDS = ("renew", "recreate")


def encode(command: str, *, now: float | None = None) -> str:
    """One list item for ``command``; ``ValueError`` for a command the listener lacks."""
    if command not in COMMANDS:
        raise ValueError(f"listener commands are {', '.join(COMMANDS)}, not {command!r}")
    return json.dumps({"command": command, "requested_at": time.time() if now is None else now})


def decode(raw: bytes | str) -> str | None:
    """The command in a list item, or ``None`` when it names none the listener knows."""
    try:
        command = json.loads(raw).get("command")
    except (ValueError, AttributeError):
        return None
    return command if command in COMMANDS else None
