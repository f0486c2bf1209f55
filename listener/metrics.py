"""The listener's counters and gauges, rendered in Prometheus text format.

Hand-rolled rather than ``prometheus_client``: the listener needs a dozen
process-local series and one text rendering, and a plain object is easier to
assert on in tests and to mirror into Redis than a global registry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

PREFIX = "glipbot_listener_"

#: name → help text. Counters are monotonic; every name is exported with PREFIX.
COUNTERS: dict[str, str] = {
    "events_received": "PubNub messages handed to the listener",
    "redelivered": "PubNub messages dropped as re-delivered (timetoken already seen)",
    "duplicates": "Notifications dropped because their uuid was already enqueued",
    "dead_letters": "Messages that could not be handled, by reason",
    "enqueued": "Celery messages pushed onto the events queue",
    "fenced": "Events not enqueued because this process no longer held the lease",
    "renewals": "Successful subscription renewals",
    "renewal_failures": "Failed subscription renewal attempts",
    "recreations": "Subscriptions created to replace a lost one",
    "subscription_gaps": "Times a subscription was found lost (events in the gap are lost)",
    "subscription_gap_seconds": "Seconds during which no live subscription existed",
    "reconnects": "PubNub transport reconnections and error statuses",
    "lease_acquired": "Times this process became the leader",
    "lease_lost": "Times this process lost the lease while leading",
    "redis_errors": "Redis commands that failed",
    "commands": "Ops commands received, by command",
}

#: name → help text of gauges (current values).
GAUGES: dict[str, str] = {
    "is_leader": "1 while this process holds the lease",
    "subscription_expires_in_seconds": "Seconds until the subscription expires (negative: past)",
    "seconds_since_last_event": "Seconds since the last PubNub message (NaN: none yet)",
    "redis_up": "1 when the last Redis command succeeded",
    "fence": "The fencing token of the current lease (0: none)",
}

Labels = tuple[tuple[str, str], ...]


@dataclass
class Metrics:
    """Process-local counters (optionally labelled) and gauges (values or callables)."""

    counters: dict[str, dict[Labels, float]] = field(default_factory=dict)
    gauges: dict[str, float | Callable[[], float]] = field(default_factory=dict)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        """Add ``amount`` to counter ``name`` (with ``labels``, e.g. ``reason=...``)."""
        if name not in COUNTERS:
            raise KeyError(f"unknown counter {name!r}")
        series = self.counters.setdefault(name, {})
        key = tuple(sorted(labels.items()))
        series[key] = series.get(key, 0) + amount

    def get(self, name: str, **labels: str) -> float:
        """A counter's value: one series if ``labels`` are given, else the sum of all."""
        series = self.counters.get(name, {})
        if labels:
            return series.get(tuple(sorted(labels.items())), 0)
        return sum(series.values())

    def set_gauge(self, name: str, value: float | Callable[[], float]) -> None:
        """Set gauge ``name`` to a value, or to a callable read at each rendering."""
        if name not in GAUGES:
            raise KeyError(f"unknown gauge {name!r}")
        self.gauges[name] = value

    def gauge(self, name: str) -> float:
        """A gauge's current value (NaN when unset)."""
        value = self.gauges.get(name, math.nan)
        return float(value() if callable(value) else value)

    def snapshot(self) -> dict[str, float]:
        """Counters (summed over labels) and gauges, for the Redis status mirror."""
        out = {name: self.get(name) for name in COUNTERS}
        out.update({name: self.gauge(name) for name in GAUGES if name in self.gauges})
        return out

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of every series."""
        lines: list[str] = []
        for name, help_text in COUNTERS.items():
            full = f"{PREFIX}{name}_total"
            lines += [f"# HELP {full} {help_text}", f"# TYPE {full} counter"]
            series = self.counters.get(name) or {(): 0}
            for labels, value in sorted(series.items()):
                lines.append(f"{full}{_labels(labels)} {_number(value)}")
        for name, help_text in GAUGES.items():
            full = f"{PREFIX}{name}"
            lines += [f"# HELP {full} {help_text}", f"# TYPE {full} gauge"]
            lines.append(f"{full} {_number(self.gauge(name))}")
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))
