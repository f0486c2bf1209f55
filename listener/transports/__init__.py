"""Transports: how a notification reaches the listener (PubNub, or WebSocket).

The path of one event starts here. A transport receives the platform's
notifications for one subscription (``address`` + ``subscriber_key``) and
hands each raw payload to ``on_message(channel, timetoken, payload)``, which
is :meth:`listener.ingest.Ingest.submit`. It reconnects on its own and
forever; it resumes from a timetoken when given one (see
:mod:`listener.resume`); it never raises out of the callback path. Ingest
does everything else.

Implementations: :class:`listener.transports.pubnub.PubNubTransport`; over
WebSocket the subscription lives in the gateway session, so
:class:`listener.transports.websocket.WebSocketSession` keeps both and is
only a :class:`Receiver` (see :mod:`listener.transports.websocket`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["OnMessage", "Receiver", "Transport", "TransportStats"]

#: ``on_message(channel, timetoken, payload)``: must not block; may raise (the
#: transport guards it).
OnMessage = Callable[[str, int, Any], None]


@dataclass
class TransportStats:
    """What a transport observed that health reads (never from status callbacks alone)."""

    #: Exceptions raised by ``on_message`` and swallowed by the transport.
    callback_errors: int = 0


class Receiver(Protocol):
    """What the leadership loop and health need of any transport."""

    stats: TransportStats

    async def stop(self) -> None:
        """Stop receiving and release every connection; safe to call twice."""


class Transport(Receiver, Protocol):
    """Delivers one PubNub-style subscription's notifications to ``on_message``."""

    async def start(self, address: str, subscriber_key: str, resume_timetoken: int | None) -> None:
        """Start receiving on ``address``, from ``resume_timetoken`` when given (else now)."""

    async def move(self, address: str, subscriber_key: str, resume_timetoken: int | None) -> None:
        """Switch to another channel and key (a re-created subscription) without a gap."""
