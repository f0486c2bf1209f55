"""Prometheus rendering of the metrics, and the health status rules."""

from __future__ import annotations

import math

import pytest
from prometheus_client import REGISTRY, generate_latest

from listener.health import DEGRADED, FAILING, OK, evaluate, http_status
from listener.metrics import Metrics


def test_counters_and_gauges_render_in_prometheus_text() -> None:
    metrics = Metrics()
    metrics.inc("enqueued", 3)
    metrics.inc("dead_letters", reason="bad_padding")
    metrics.inc("dead_letters", reason='we"ird')
    metrics.set_gauge("is_leader", 1)
    metrics.set_gauge("seconds_since_last_event", lambda: 2.5)

    text = metrics.render().decode()

    assert "# TYPE glipbot_listener_enqueued_total counter\n" in text
    assert "glipbot_listener_enqueued_total 3.0\n" in text
    assert 'glipbot_listener_dead_letters_total{reason="bad_padding"} 1.0\n' in text
    assert 'glipbot_listener_dead_letters_total{reason="we\\"ird"} 1.0\n' in text
    assert "glipbot_listener_renewals_total 0.0\n" in text
    assert "# TYPE glipbot_listener_is_leader gauge\n" in text
    assert "glipbot_listener_is_leader 1.0\n" in text
    assert "glipbot_listener_seconds_since_last_event 2.5\n" in text
    assert "glipbot_listener_redis_up NaN\n" in text
    assert metrics.get("dead_letters") == 2
    assert metrics.get("dead_letters", reason="bad_padding") == 1
    assert metrics.snapshot()["dead_letters"] == 2


def test_a_value_replaces_a_callable_gauge() -> None:
    metrics = Metrics()
    metrics.set_gauge("redis_up", lambda: 0.0)
    metrics.set_gauge("redis_up", 1)

    assert metrics.gauge("redis_up") == 1.0
    assert "glipbot_listener_redis_up 1.0\n" in metrics.render().decode()


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.inc("enqueued")

    assert (first.get("enqueued"), second.get("enqueued")) == (1, 0)
    assert "glipbot_listener" not in generate_latest(REGISTRY).decode()


def test_unknown_names_are_refused() -> None:
    with pytest.raises(KeyError):
        Metrics().inc("typo")
    with pytest.raises(KeyError):
        Metrics().set_gauge("typo", 1)
    assert math.isnan(Metrics().gauge("fence"))


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"role": "standby", "redis_ok": True, "subscription_live": False}, OK),
        ({"role": "standby", "redis_ok": False, "subscription_live": False}, FAILING),
        ({"role": "leader", "redis_ok": True, "subscription_live": True}, OK),
        ({"role": "leader", "redis_ok": True, "subscription_live": False}, FAILING),
        ({"role": "leader", "redis_ok": False, "subscription_live": True}, FAILING),
        (
            {"role": "leader", "redis_ok": True, "subscription_live": True, "renewal_failures": 2},
            DEGRADED,
        ),
        (
            {
                "role": "leader",
                "redis_ok": True,
                "subscription_live": True,
                "transport_errors": True,
            },
            DEGRADED,
        ),
    ],
)
def test_health_status_rules(facts: dict[str, object], expected: str) -> None:
    assert evaluate(**facts) == expected  # type: ignore[arg-type]


def test_only_failing_is_503() -> None:
    assert [http_status(s) for s in (OK, DEGRADED, FAILING)] == [200, 200, 503]
