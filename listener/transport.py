"""The delivery transport, behind a small interface (PubNub now, WebSocket later).

A transport receives the platform's notifications for one subscription
(``address`` + ``subscriber_key``) and hands each raw payload to
``on_message(channel, timetoken, payload)``. It reconnects on its own and
forever; it resumes from a timetoken when given one; it never raises out of
the callback path. The pipeline does everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

#: ``on_message(channel, timetoken, payload)``: must not block; may raise (the
#: transport guards it).
OnMessage = Callable[[str, int, Any], None]


@dataclass
class TransportStats:
    """What a transport observed; health reads it (never from status callbacks alone)."""

    messages: int = 0
    redelivered: int = 0
    callback_errors: int = 0
    reconnects: int = 0
    last_message_at: float | None = None
    last_timetoken: int | None = None
    address: str | None = None
    last_status: str | None = None


class Transport(Protocol):
    """Delivers one subscription's notifications to ``on_message``."""

    stats: TransportStats

    async def start(self, address: str, subscriber_key: str, resume_timetoken: int | None) -> None:
        """Start receiving on ``address``, from ``resume_timetoken`` when given (else now)."""

    async def move(self, address: str, subscriber_key: str, resume_timetoken: int | None) -> None:
        """Switch to another channel and key (a re-created subscription) without a gap."""

    async def stop(self) -> None:
        """Stop receiving and release every connection; safe to call twice."""
