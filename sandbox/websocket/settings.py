"""The gateway's runtime settings: the CLI's values, changeable through the control API.

Sessions keep the ``recoveryTimeout`` they announced; sockets keep their
``idleTimeout`` and ``absoluteTimeout``; ``recoveryBufferSize`` applies to every
buffer at once, so a smaller one trims the existing buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.errors import invalid

#: Announced in ConnectionDetails; the sandbox serves one socket per WebSocket session.
MAX_CONNECTIONS_PER_SESSION = 50
#: Announced in ConnectionDetails; not enforced (its meaning is unconfirmed).
MAX_ACTIVE_REQUESTS = 10

#: JSON key (control API, ConnectionDetails) → attribute.
_KEYS = {
    "recoveryTimeout": "recovery_timeout",
    "recoveryBufferSize": "recovery_buffer_size",
    "idleTimeout": "idle_timeout",
    "absoluteTimeout": "absolute_timeout",
    "wstokenLifetime": "wstoken_lifetime",
}


def number(value: float) -> int | float:
    """``value`` as JSON shows a count of seconds: an integer when it is whole."""
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class WebSocketSettings:
    """Timeouts (seconds, floats allowed) and the replay buffer's size."""

    recovery_timeout: float
    recovery_buffer_size: int
    idle_timeout: float
    absolute_timeout: float
    wstoken_lifetime: float

    @classmethod
    def from_config(cls, config: SandboxConfig) -> WebSocketSettings:
        """The values given on the command line."""
        return cls(
            recovery_timeout=config.ws_recovery_timeout,
            recovery_buffer_size=config.ws_recovery_buffer_size,
            idle_timeout=config.ws_idle_timeout,
            absolute_timeout=config.ws_absolute_timeout,
            wstoken_lifetime=config.wstoken_lifetime,
        )

    def to_json(self) -> dict[str, int | float]:
        """The settings under their JSON keys (``recoveryTimeout``, ``idleTimeout``, ...)."""
        return {key: number(getattr(self, attr)) for key, attr in _KEYS.items()}

    def updated(self, fields: dict[str, Any]) -> WebSocketSettings:
        """A copy with the given JSON keys changed; 400 ``CMN-101`` for a wrong key or value."""
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            attr = _KEYS.get(key)
            if attr is None:
                raise invalid(key, "not a WebSocket setting; use one of " + ", ".join(_KEYS))
            changes[attr] = _checked(key, value)
        return replace(self, **changes)


def _checked(key: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(key, "a number")
    if key == "recoveryBufferSize":
        if not isinstance(value, int) or value < 0:
            raise invalid(key, "a non-negative integer")
        return value
    if value <= 0:
        raise invalid(key, "a positive number of seconds")
    return float(value)
