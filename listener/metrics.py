"""The listener's counters and gauges, exported with ``prometheus_client``.

Every step of an event's path counts here: the transport (``redelivered``,
``reconnects``, ``websocket_*``), ingest (``events_received``, ``dead_letters`` by reason,
``duplicates``, ``enqueued``, ``fenced``), the subscription keeper, the
lease, the ops inbox, bot installations (``installs``), and the leadership loop's bounded steps
(``tasks_abandoned``, ``step_timeouts``, ``step_failures``). ``/metrics``
renders them (:meth:`Metrics.render`) and the status mirror carries a flat
:meth:`Metrics.snapshot`.

Each :class:`Metrics` owns a private :class:`~prometheus_client.CollectorRegistry`
(never the global one), so tests and processes never share series. Counters
are exported as ``glipbot_listener_<name>_total``; gauges as
``glipbot_listener_<name>``. A gauge is a value or a callable read at each
rendering; every gauge reads its current source through ``set_function``,
so setting a value replaces a callable and an unset gauge renders NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

PREFIX = "glipbot_listener_"

#: name → help text. Counters are monotonic; every name is exported with PREFIX.
COUNTERS: dict[str, str] = {
    "events_received": "Notifications handed to the listener (PubNub or WebSocket)",
    "redelivered": "PubNub messages dropped as re-delivered (timetoken already seen)",
    "duplicates": "Notifications dropped because their uuid was already enqueued",
    "dead_letters": "Messages that could not be handled, by reason",
    "enqueued": "Celery messages pushed onto the events queue",
    "own_posts_dropped": "The bot's own posts echoed back as notifications, dropped unqueued",
    "fenced": "Events not enqueued because this process no longer held the lease",
    "renewals": "Successful subscription renewals",
    "renewal_failures": "Failed subscription renewal attempts",
    "recreations": "Subscriptions created to replace a lost one",
    "subscription_gaps": "Times a subscription was found lost (events in the gap are lost)",
    "subscription_gap_seconds": "Seconds during which no live subscription existed",
    "pubnub_full_polls": "PubNub answers that came full (100): older messages may be lost",
    "reconnects": "Transport reconnections (PubNub error statuses, WebSocket sockets ended)",
    "websocket_connections": "WebSocket connections opened (first ones and reconnections)",
    "websocket_recoveries": "WebSocket session recoveries, by result (successful, failed)",
    "websocket_heartbeats": "Heartbeat frames sent on the WebSocket",
    "websocket_subscriptions": "Subscriptions created over the WebSocket",
    "websocket_bad_frames": "Unreadable WebSocket frames skipped, by reason",
    "websocket_error_frames": "Error frames received from the WebSocket gateway, by code",
    "websocket_other_subscription": "WebSocket notifications naming another subscription id",
    "websocket_replay_overflows": "Recoveries that replayed a full buffer (the gap is backfilled)",
    "lease_acquired": "Times this process became the leader",
    "lease_lost": "Times this process lost the lease while leading",
    "redis_errors": "Redis commands that failed",
    "commands": "Ops commands received, by command",
    "tasks_abandoned": "Tasks of a reign that did not stop once cancelled, by task",
    "step_timeouts": "Steps of the leadership loop that overran their timeout, by step",
    "step_failures": "Steps of stepping down that raised, by step",
    "backfill_runs": "Backfill runs after a window of deafness",
    "backfill_recovered": "Notifications recovered by backfill, by kind (post, group)",
    "backfill_truncated": "Chats backfill did not read in full (past its page or chat bounds)",
    "backfill_failures": "Backfill runs that failed (the platform or Redis refused)",
    "subscription_checks_quiet": "Subscription checks made early because the channel was quiet",
    "installs": "Installations through /bot/oauth (and the configured bot's), by kind and result",
    "uninstalls": "Installed bots found uninstalled (Delete event, refused check), by reason",
    "shards_lost": "Times this process lost a shard's lease while leading it",
    "unrouted": "PubNub messages of a channel no installed bot receives any more (just moved)",
    "installation_check_failures": "Periodic checks of an installed bot that failed (not refused)",
    "fleet_refresh_failures": "Failed looks at the installations by a shard's reign",
}

#: The labels of the labelled counters (the others have none).
LABELS: dict[str, tuple[str, ...]] = {
    "dead_letters": ("reason",),
    "commands": ("command",),
    "tasks_abandoned": ("task",),
    "step_timeouts": ("step",),
    "step_failures": ("step",),
    "backfill_recovered": ("kind",),
    "websocket_recoveries": ("result",),
    "websocket_bad_frames": ("reason",),
    "websocket_error_frames": ("code",),
    "installs": ("kind", "result"),
    "uninstalls": ("reason",),
}

#: name → help text of gauges (current values).
GAUGES: dict[str, str] = {
    "is_leader": "1 while this process holds the lease",
    "subscription_expires_in_seconds": "Seconds until the subscription expires (negative: past)",
    "seconds_since_last_event": "Seconds since the last PubNub message (NaN: none yet)",
    "redis_up": "1 when the last Redis command succeeded",
    "fence": "The fencing token of the current lease (0: none)",
    "websocket_session_age_seconds": "Seconds since the WebSocket session began (NaN: none)",
    "listeners_live": "Listeners alive now, as this one last counted them",
    "shards_led": "Shards of installed bots this process leads",
    "installed_bots": "Installed bots this process serves (in the shards it leads)",
}

GaugeSource = float | Callable[[], float]


class Metrics:
    """Process-local counters (optionally labelled) and gauges (values or callables)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counters = {
            name: Counter(
                f"{PREFIX}{name}", help_text, LABELS.get(name, ()), registry=self.registry
            )
            for name, help_text in COUNTERS.items()
        }
        self._sources: dict[str, GaugeSource] = {}
        for name, help_text in GAUGES.items():
            gauge = Gauge(f"{PREFIX}{name}", help_text, registry=self.registry)
            gauge.set_function(partial(self.gauge, name))

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        """Add ``amount`` to counter ``name`` (with its labels, e.g. ``reason=...``)."""
        if name not in COUNTERS:
            raise KeyError(f"unknown counter {name!r}")
        counter = self._counters[name]
        (counter.labels(**labels) if labels else counter).inc(amount)

    def get(self, name: str, **labels: str) -> float:
        """A counter's value: one series if ``labels`` are given, else the sum of all.

        Integral values come back as ``int``, so counts read as counts in JSON.
        """
        counter = self._counters.get(name)
        total = 0.0
        if counter is not None:
            for metric in counter.collect():
                for sample in metric.samples:
                    if sample.name.endswith("_total") and (not labels or sample.labels == labels):
                        total += sample.value
        return int(total) if total.is_integer() else total

    def set_gauge(self, name: str, value: GaugeSource) -> None:
        """Set gauge ``name`` to a value, or to a callable read at each rendering."""
        if name not in GAUGES:
            raise KeyError(f"unknown gauge {name!r}")
        self._sources[name] = value

    def gauge(self, name: str) -> float:
        """A gauge's current value (NaN when unset)."""
        value = self._sources.get(name, math.nan)
        return float(value() if callable(value) else value)

    def snapshot(self) -> dict[str, float]:
        """Counters (summed over labels) and gauges, for the Redis status mirror."""
        out = {name: self.get(name) for name in COUNTERS}
        out.update({name: self.gauge(name) for name in GAUGES if name in self._sources})
        return out

    def render(self) -> bytes:
        """The Prometheus text exposition of every series (``CONTENT_TYPE_LATEST``)."""
        return generate_latest(self.registry)
