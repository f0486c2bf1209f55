"""Keys and the Redis connection built from settings."""

from __future__ import annotations

from glipbot.settings import Settings
from glipbot.state.keys import Keys
from glipbot.state.redis import redis_from_settings


def test_every_key_starts_with_the_prefix() -> None:
    keys = Keys("bot7:")
    names = [
        keys.token,
        keys.token_lock,
        keys.token_logins,
        keys.token_refreshes,
        keys.token_owner_id("abc"),
        keys.listener_lease,
        keys.listener_fence,
        keys.listener_status_of("a"),
        keys.subscription_id,
        keys.subscriptions_created,
        keys.timetoken,
        keys.dedup("u1"),
        keys.dead_letters,
        keys.reply("r1"),
        keys.ratelimit("Light"),
        keys.ratelimit_penalty("Light"),
    ]

    assert all(name.startswith("bot7:") for name in names)
    assert len(set(names)) == len(names)


def test_redis_from_settings_decodes_and_connects(redis_url: str) -> None:
    client = redis_from_settings(Settings(redis_url=redis_url))
    try:
        client.set("k", "v")
        assert client.get("k") == "v"
    finally:
        client.close()


def test_rediss_urls_use_tls() -> None:
    client = redis_from_settings(Settings(redis_url="rediss://127.0.0.1:1/0"))

    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    client.close()
