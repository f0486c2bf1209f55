"""The official RingCentral Python SDK 0.9.2, unmodified, receives notifications from the gateway.

It logs in with a JWT, gets a ws token, connects, subscribes with
``create_subscription`` (which never learns its subscription id: the gateway,
like RingCentral, sends no ``WSG-SubscriptionId`` header), and its
``receiveSubscriptionNotification`` callback fires for a post John makes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from ringcentral import SDK
from ringcentral.websocket import WebSocketEvents

from devtools.sandbox_process import SandboxProcess
from sandbox import make_jwt
from sandbox.testing import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, as_person

pytestmark = pytest.mark.integration

BOT_ID = "400000001"
POSTS = "/restapi/v1.0/glip/posts"


async def _until(condition: Any, timeout: float = 10.0) -> None:
    """Poll ``condition`` (a blocking call, run in a thread) until it holds."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.05)


def test_sdk_receives_a_post_over_the_gateway(sb: SandboxProcess) -> None:
    """create_subscription on the SDK's socket; John's post fires its notification callback."""
    sdk = SDK(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, sb.rest_url)
    platform = sdk.platform()
    platform.login(jwt=make_jwt({"sub": "smartfriend@sandbox.test"}, DEFAULT_CLIENT_SECRET))
    john = as_person(sb.rest_url, "john.smith@sandbox.test", "john")
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [{"id": BOT_ID}]})

    async def scenario() -> list[Any]:
        client = sdk.create_web_socket_client()
        received: asyncio.Queue[list[Any]] = asyncio.Queue()
        client.on(WebSocketEvents.receiveSubscriptionNotification, received.put_nowait)
        before = asyncio.all_tasks()
        tasks = [
            asyncio.create_task(client.create_new_connection()),
            asyncio.create_task(client.create_subscription([POSTS])),
        ]
        try:
            await _until(lambda: _subscribed(sb))
            await asyncio.to_thread(
                john.post, "/glip/posts", json={"groupId": chat.json()["id"], "text": "hi bot"}
            )
            notification = await asyncio.wait_for(received.get(), 10)
        finally:
            if client.get_connection_info() is not None:
                await client.close_connection()
            # The SDK's receive loop and its 600 s heartbeat timer never end by themselves.
            started = (asyncio.all_tasks() - before - {asyncio.current_task()}) | set(tasks)
            for task in started:
                task.cancel()
            await asyncio.gather(*started, return_exceptions=True)
        await _until(lambda: not _connected(sb))
        return notification

    header, envelope = asyncio.run(scenario())
    assert header["type"] == "ServerNotification"
    assert envelope["event"] == POSTS
    assert envelope["ownerId"] == BOT_ID
    assert (envelope["body"]["eventType"], envelope["body"]["text"]) == ("PostAdded", "hi bot")
    # The SDK closed its socket: the session waits for a recovery that 0.9.2 never attempts.
    [session] = sb.control.websocket_state()["sessions"]
    assert (session["connected"], session["notifications_sent"]) == (False, 1)


def _subscribed(sb: SandboxProcess) -> bool:
    sessions = sb.control.websocket_state()["sessions"]
    return len(sessions) == 1 and sessions[0]["subscription_id"] is not None


def _connected(sb: SandboxProcess) -> bool:
    return any(s["connected"] for s in sb.control.websocket_state()["sessions"])
