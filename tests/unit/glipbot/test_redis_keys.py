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


def test_an_installed_bots_keys_live_under_its_id_and_the_configured_bots_stay() -> None:
    keys = Keys("bot7:")

    assert keys.reply("r1") == "bot7:reply:r1"
    assert keys.chat_turn("g") == "bot7:chat:g:turn"
    assert keys.ratelimit_penalty("Light") == "bot7:ratelimit:Light:penalty"
    assert [
        keys.reply("r1", "b2"),
        keys.reply_claims("g", "b2"),
        keys.chat_seq("g", "b2"),
        keys.chat_turn("g", "b2"),
        keys.chat_reply_counts("g", "b2"),
        keys.chat_inflight("g", "b2"),
        keys.chat_parked("g", "b2"),
        keys.ratelimit("Light", "b2"),
        keys.ratelimit_penalty("Light", "b2"),
        keys.ratelimit_limits("Light", "b2"),
        keys.bot_counters("b2"),
    ] == [
        "bot7:bot:b2:reply:r1",
        "bot7:bot:b2:chat:g:claims",
        "bot7:bot:b2:chat:g:seq",
        "bot7:bot:b2:chat:g:turn",
        "bot7:bot:b2:chat:g:counts",
        "bot7:bot:b2:chat:g:inflight",
        "bot7:bot:b2:chat:g:parked",
        "bot7:bot:b2:ratelimit:Light",
        "bot7:bot:b2:ratelimit:Light:penalty",
        "bot7:bot:b2:ratelimit:Light:limits",
        "bot7:bot:b2:counters",
    ]


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
