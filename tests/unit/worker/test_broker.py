"""The workers' broker transport: kombu's Redis transport, one client per connection pool."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection, Exchange, Queue

from worker.broker import Channel, Transport
from worker.celery import App


def _app(monkeypatch: pytest.MonkeyPatch, url: str) -> App:
    monkeypatch.setenv("REDIS_URL", url)
    return App("broker-test", set_as_current=False)


def test_a_redis_url_gets_the_transport_under_its_own_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _app(monkeypatch, "redis://127.0.0.1:1/4").connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)
        # What Flower and Celery's banner read: still a redis broker.
        assert conn.transport_cls == "redis"
        assert conn.transport.driver_type == "redis"
        assert conn.as_uri().startswith("redis://")


def test_a_rediss_url_keeps_its_tls_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "rediss://127.0.0.1:1/4?ssl_cert_reqs=required"
    with _app(monkeypatch, url).connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)
        assert conn.transport_cls == "rediss"
        assert conn.ssl
        assert conn.ssl["ssl_cert_reqs"] is not None


def test_a_channel_reuses_one_client_until_its_pool_is_replaced(redis_url: str) -> None:
    with Connection(redis_url, transport=Transport) as conn:
        channel = conn.default_channel
        assert isinstance(channel, Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.connection_pool is channel.pool

        channel._disconnect_pools()  # as kombu does after a connection error

        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
            assert third.ping()


def test_messages_go_through_and_are_acknowledged(
    redis_url: str, redis_client: redis.Redis
) -> None:
    queue = Queue("broker-test", Exchange("broker-test"), "broker-test")
    with Connection(redis_url, transport=Transport) as conn:
        for n in range(3):
            conn.Producer().publish(
                {"n": n}, exchange=queue.exchange, routing_key="broker-test", declare=[queue]
            )
        simple = conn.SimpleQueue(queue)
        got = []
        for _ in range(3):
            message = simple.get(timeout=5)
            got.append(message.payload["n"])
            message.ack()
        simple.close()
    assert got == [0, 1, 2]
    assert redis_client.llen("broker-test") == 0
    assert redis_client.hlen("unacked") == 0  # kombu's messages delivered, not yet acknowledged
