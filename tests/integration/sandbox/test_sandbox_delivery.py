"""Notifications reach the real pubnub SDK, encrypted as RingCentral does, while subscribed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from devtools.sandbox_process import SandboxProcess
from sandbox.crypto import decrypt_notification
from sandbox.testing import BOT_TOKEN, Person, as_person
from tests.support.pubnub_sdk import subscribe, subscribed

BOT_ID = "400000001"


def bot_of(sb: SandboxProcess) -> Person:
    return Person(sb.rest_url, {"owner_id": BOT_ID, "access_token": BOT_TOKEN})


def test_sdk_receives_and_decrypts_johns_post_within_a_second(
    sb: SandboxProcess, john: Person
) -> None:
    """John posts in his chat with the bot → the bot's PubNub channel gets PostAdded in 1 s."""
    bot = bot_of(sb)
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [BOT_ID]}).json()
    sub = subscribe(bot)
    mode = sub["deliveryMode"]

    async def scenario() -> dict[str, Any]:
        async with subscribed(sb.pubnub_origin, mode["subscriberKey"], mode["address"]) as got:
            started = time.monotonic()
            post = await asyncio.to_thread(
                john.post, "/glip/posts", json={"groupId": chat["id"], "text": "hello bot"}
            )
            [message] = await got.take(1, timeout=1.0)
            assert time.monotonic() - started < 1.0
            assert isinstance(message.message, str)  # base64 ciphertext, no PubNub cipher
            event = decrypt_notification(mode["encryptionKey"], message.message)
            assert event["body"]["id"] == post.json()["id"]
            return dict(event)

    event = asyncio.run(scenario())
    assert event["event"] == "/restapi/v1.0/glip/posts"
    assert event["subscriptionId"] == sub["id"]
    assert event["ownerId"] == BOT_ID
    assert {"uuid", "timestamp"} <= event.keys()
    body = event["body"]
    assert (body["eventType"], body["type"], body["text"]) == (
        "PostAdded",
        "TextMessage",
        "hello bot",
    )
    assert (body["groupId"], body["creatorId"]) == (chat["id"], john.id)


def test_group_joined_goes_to_the_added_person_only(sb: SandboxProcess, john: Person) -> None:
    """Adding the bot to a team notifies the bot (GroupJoined), not John; removal → GroupLeft."""
    bot = bot_of(sb)
    bot_sub = subscribe(bot)["deliveryMode"]
    john_sub = subscribe(john)["deliveryMode"]
    team = john.post("/glip/groups", json={"type": "Team", "name": "T"}).json()

    async def scenario() -> tuple[list[str], bool]:
        async with (
            subscribed(sb.pubnub_origin, bot_sub["subscriberKey"], bot_sub["address"]) as bots,
            subscribed(sb.pubnub_origin, john_sub["subscriberKey"], john_sub["address"]) as johns,
        ):
            url = f"/glip/groups/{team['id']}/bulk-assign"
            await asyncio.to_thread(john.post, url, json={"addedPersonIds": [BOT_ID]})
            await asyncio.to_thread(john.post, url, json={"removedPersonIds": [BOT_ID]})
            events = [
                decrypt_notification(bot_sub["encryptionKey"], m.message)
                for m in await bots.take(2)
            ]
            return [e["body"]["eventType"] for e in events], await johns.nothing_for(0.5)

    types, john_heard_nothing = asyncio.run(scenario())
    assert types == ["GroupJoined", "GroupLeft"]
    assert john_heard_nothing


def test_expired_subscription_stops_delivering_and_answers_404(short: SandboxProcess) -> None:
    """A 3 s subscription: delivers at first; after 3 s nothing arrives and it answers 404."""
    bot = bot_of(short)
    john = as_person(short.rest_url, "john.smith@sandbox.test", "john")
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [BOT_ID]}).json()
    sub = subscribe(bot, expiresIn=60)
    assert sub["expiresIn"] == 3  # capped by --subscription-max-lifetime
    mode = sub["deliveryMode"]

    async def scenario() -> bool:
        async with subscribed(short.pubnub_origin, mode["subscriberKey"], mode["address"]) as got:
            await asyncio.to_thread(
                bot.post, "/glip/posts", json={"groupId": chat["id"], "text": "a"}
            )
            await got.take(1, timeout=1.0)
            await asyncio.sleep(3.1)
            await asyncio.to_thread(
                bot.post, "/glip/posts", json={"groupId": chat["id"], "text": "b"}
            )
            return await got.nothing_for(1.0)

    assert asyncio.run(scenario())
    gone = bot.get(f"/subscription/{sub['id']}")
    assert gone.status_code == 404
    assert gone.json()["errorCode"] == "CMN-102"
    assert bot.post(f"/subscription/{sub['id']}/renew").status_code == 404


def test_renewed_every_second_keeps_delivering_for_ten_seconds(short: SandboxProcess) -> None:
    """A 3 s subscription renewed each second delivers a post every second for 10 s."""
    bot = bot_of(short)
    chat = bot.post("/glip/groups", json={"type": "Team", "name": "Echo"}).json()
    sub = subscribe(bot)
    mode = sub["deliveryMode"]

    async def scenario() -> list[str]:
        texts = []
        async with subscribed(short.pubnub_origin, mode["subscriberKey"], mode["address"]) as got:
            for n in range(10):
                renewed = await asyncio.to_thread(bot.post, f"/subscription/{sub['id']}/renew")
                assert renewed.json()["deliveryMode"]["address"] == mode["address"]
                await asyncio.to_thread(
                    bot.post, "/glip/posts", json={"groupId": chat["id"], "text": str(n)}
                )
                [message] = await got.take(1, timeout=1.0)
                texts.append(
                    decrypt_notification(mode["encryptionKey"], message.message)["body"]["text"]
                )
                await asyncio.sleep(1.0)
        return texts

    assert asyncio.run(scenario()) == [str(n) for n in range(10)]


def test_pause_resume_duplicate_and_raw_publish(sb: SandboxProcess, john: Person) -> None:
    """Paused delivery waits for resume; duplicate-next sends twice; raw publish arrives as is."""
    bot = bot_of(sb)
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [BOT_ID]}).json()
    mode = subscribe(bot)["deliveryMode"]

    def post(text: str) -> None:
        john.post("/glip/posts", json={"groupId": chat["id"], "text": text}).raise_for_status()

    async def scenario() -> None:
        async with subscribed(sb.pubnub_origin, mode["subscriberKey"], mode["address"]) as got:
            await asyncio.to_thread(sb.control.pause_pubnub)
            await asyncio.to_thread(post, "held")
            assert await got.nothing_for(0.5)
            await asyncio.to_thread(sb.control.resume_pubnub)
            [held] = await got.take(1)
            assert (
                decrypt_notification(mode["encryptionKey"], held.message)["body"]["text"] == "held"
            )
            await asyncio.to_thread(sb.control.duplicate_next, 1)
            await asyncio.to_thread(post, "twice")
            first, second = await got.take(2)
            assert first.message == second.message
            assert first.timetoken != second.timetoken
            await asyncio.to_thread(
                sb.control.publish_raw, mode["subscriberKey"], mode["address"], "not base64!"
            )
            [raw] = await got.take(1)
            assert raw.message == "not base64!"

    asyncio.run(scenario())
