"""Build notification envelopes and deliver them: through the PubNub hub, or a WebSocket.

Envelope: ``{uuid, event, timestamp, subscriptionId, ownerId, body}`` where
``event`` is the event filter and ``body`` the object plus ``eventType``.
Each live subscription whose filter covers the event and whose owner is a
recipient gets its own envelope: a PubNub one encrypted with its own key (unless
``encryption`` is off), a WebSocket one as plain JSON to the gateway. Only the
recipients' subscriptions are looked at (the table's owner index).

A removed bot's subscriptions to ``/restapi/v1.0/account/~/extension/~`` get
``{"extensionId", "eventType": "Delete"}`` under the event
``/restapi/v1.0/account/~/extension/<botId>`` (BOTS.md §5).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Protocol

from sandbox import crypto
from sandbox.clock import Clock, iso
from sandbox.store import Group, Post
from sandbox.subscriptions import (
    EXTENSION,
    GLIP_GROUPS,
    GLIP_POSTS,
    PREFIX,
    WEBSOCKET,
    Subscription,
    SubscriptionTable,
)

log = logging.getLogger("sandbox.notifications")


class Hub(Protocol):
    """What the notifier needs of :class:`sandbox.pubnub.PubNubHub`."""

    def publish(self, subscribe_key: str, channel: str, message: object) -> object:
        """Publish one message on a channel."""
        ...


class Sockets(Protocol):
    """What the notifier needs of :class:`sandbox.websocket.WebSocketGateway`."""

    def deliver(self, subscription: Subscription, envelope: dict[str, Any]) -> None:
        """Send one envelope to a WebSocket subscription's session."""
        ...


class Notifier:
    """Turns store changes into the platform's notifications."""

    def __init__(
        self,
        subscriptions: SubscriptionTable,
        hub: Hub,
        clock: Clock,
        sockets: Sockets | None = None,
    ) -> None:
        self._subscriptions = subscriptions
        self._hub = hub
        self._clock = clock
        self._sockets = sockets

    def post_event(self, event_type: str, post: Post, group: Group) -> int:
        """``PostAdded``/``PostChanged`` (body: the Post) to every subscribed member."""
        body = {**post.to_json(), "eventType": event_type}
        return self.emit(GLIP_POSTS, body, group.members)

    def post_removed(self, post_id: str, group: Group) -> int:
        """``PostRemoved`` (body: ``{id, groupId}``) to every subscribed member."""
        body = {"id": post_id, "groupId": group.id, "eventType": "PostRemoved"}
        return self.emit(GLIP_POSTS, body, group.members)

    def group_event(self, event_type: str, group: Group, persons: list[str]) -> int:
        """``GroupJoined``/``GroupLeft``/... (body: the Group) to ``persons`` only."""
        body = {**group.to_json(), "eventType": event_type}
        return self.emit(GLIP_GROUPS, body, persons)

    def extension_deleted(self, extension_id: str) -> int:
        """``Delete`` of an extension (an uninstalled bot) to its own extension subscriptions."""
        body = {"extensionId": extension_id, "eventType": "Delete"}
        event = f"{PREFIX}/account/~/extension/{extension_id}"
        sent = 0
        for sub in self._subscriptions.of_owner(extension_id):
            if EXTENSION in sub.event_filters:
                self._publish(sub, event, body)
                sent += 1
        return sent

    def emit(self, event: str, body: dict[str, Any], recipients: list[str]) -> int:
        """Publish ``body`` under ``event`` to each matching subscription; return how many."""
        sent = 0
        for owner in dict.fromkeys(recipients):
            for sub in self._subscriptions.of_owner(owner):
                if event in sub.event_filters:
                    self._publish(sub, event, body)
                    sent += 1
        return sent

    def _publish(self, sub: Subscription, event: str, body: dict[str, Any]) -> None:
        envelope = {
            "uuid": str(uuid.uuid4()),
            "event": event,
            "timestamp": iso(self._clock()),
            "subscriptionId": sub.id,
            "ownerId": sub.owner_id,
            "body": body,
        }
        if sub.transport == WEBSOCKET:
            if self._sockets is not None:
                self._sockets.deliver(sub, json.loads(json.dumps(envelope)))
            return
        message: object = (
            crypto.encrypt_notification(sub.encryption_key, envelope)
            if sub.encryption
            else json.loads(json.dumps(envelope))
        )
        self._hub.publish(sub.subscriber_key, sub.address, message)
        log.debug("published %s %s to subscription %s", event, body.get("eventType"), sub.id)
