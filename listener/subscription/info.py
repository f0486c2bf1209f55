"""A platform subscription as the listener sees it, and the calls that manage it.

The subscription is where an event's path begins: for as long as it lives,
the platform publishes each notification of its :data:`EVENT_FILTERS` (posts,
chats, the bot's own extension) on the subscription's PubNub channel,
encrypted with its key. :class:`SubscriptionInfo` carries what the transport
and ingest need of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from glipbot.events import EXTENSION_FILTER, GROUPS_FILTER, POSTS_FILTER

EVENT_FILTERS = [POSTS_FILTER, GROUPS_FILTER, EXTENSION_FILTER]


class SubscriptionApi(Protocol):
    """The subscription calls of :class:`glipbot.platform.rest.RestClient` the keeper uses."""

    def create_subscription(
        self, event_filters: list[str], expires_in: int | None = None
    ) -> dict[str, Any]: ...
    def get_subscription(self, subscription_id: str) -> dict[str, Any]: ...
    def list_subscriptions(self) -> list[dict[str, Any]]: ...
    def renew_subscription(self, subscription_id: str) -> dict[str, Any]: ...
    def delete_subscription(self, subscription_id: str) -> None: ...


@dataclass(frozen=True)
class SubscriptionInfo:
    """What the listener needs of a PubNub subscription; times are ``clock()`` values."""

    id: str
    address: str
    subscriber_key: str
    encryption_key: str = field(repr=False)
    expires_at: float
    lifetime: float
    #: Created by this process (a new channel: nothing on it predates the creation).
    created: bool = False

    @classmethod
    def from_api(
        cls, data: dict[str, Any], now: float, *, created: bool = False
    ) -> SubscriptionInfo:
        """Read the platform's SubscriptionInfo; ``KeyError``/``ValueError`` when unusable."""
        mode = data["deliveryMode"]
        expires_in = float(data["expiresIn"])
        return cls(
            id=str(data["id"]),
            address=str(mode["address"]),
            subscriber_key=str(mode["subscriberKey"]),
            encryption_key=str(mode["encryptionKey"]),
            expires_at=now + expires_in,
            lifetime=expires_in,
            created=created,
        )


class SubscriptionHolder(Protocol):
    """What health and the ops inbox read of whoever keeps the reign's subscription.

    :class:`~listener.subscription.keeper.SubscriptionKeeper` (PubNub) and
    :class:`~listener.transports.websocket.WebSocketSession` are both one.
    """

    last_error: Exception | None

    @property
    def failures(self) -> int:
        """Failed attempts in a row; 0 after a success."""
        ...

    @property
    def subscription_id(self) -> str | None:
        """The live subscription's id, or None."""
        ...

    def live(self) -> bool:
        """Whether events are being delivered now."""
        ...

    def expires_in(self) -> float | None:
        """Seconds until the subscription expires, or None (none, or no expiry)."""
        ...

    def request(self, command: str) -> None:
        """Ops hook: ``renew`` or ``recreate``."""
        ...


#: ``on_change(new, old)``: move the transport to ``new`` (``old`` is None at first).
OnChange = Callable[[SubscriptionInfo, SubscriptionInfo | None], Awaitable[None]]
