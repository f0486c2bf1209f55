"""The comparator of ``bench.replies``: a bot as RingCentral's samples write one, in one process.

It logs in as the bot (password grant), creates a PubNub subscription to
Glip posts (encrypted), subscribes with the real ``pubnub`` asyncio SDK, and
in the SDK's message callback decrypts the notification (base64, then
AES-128-ECB, then PKCS#7), parses it, ignores the bot's own posts and answers
a "help" post with ``requests.post`` on ``/restapi/v1.0/glip/posts``,
synchronously, inside the callback: while it posts, nothing else is read.
That is the naive model on purpose; it is someone else's program, so it
imports nothing of the project's platform code (only the help text, so that
both bots answer the same words).

It renews its subscription halfway through its lifetime, prints ``ready`` on
standard output once the SDK says it is connected, logs to standard error, and
stops on SIGTERM or SIGINT (unsubscribes, deletes its subscription, exit 0).

    python -m bench.naive_bot --rest-url http://127.0.0.1:PORT --pubnub-origin 127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import signal
import sys
from typing import Any

import requests
from Crypto.Cipher import AES
from Crypto.Util.Padding import unpad
from pubnub.callbacks import SubscribeCallback
from pubnub.enums import PNStatusCategory
from pubnub.pnconfiguration import PNConfiguration
from pubnub.pubnub_asyncio import PubNubAsyncio

from tasks.smartfriend.help import HELP_TEXT

API = "/restapi/v1.0"
CLIENT = ("sandbox-client-id", "sandbox-client-secret")
BOT = ("smartfriend@sandbox.test", "smartfriend")
TIMEOUT = 15

log = logging.getLogger("naive_bot")


class NaiveBot(SubscribeCallback):
    """The SDK's listener: every message is handled to the end before the next is read."""

    def __init__(self, rest_url: str, token: dict[str, Any], key_b64: str) -> None:
        self.rest_url = rest_url
        self.bot_id = str(token["owner_id"])
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}
        self.cipher = AES.new(base64.b64decode(key_b64), AES.MODE_ECB)
        self.connected = asyncio.Event()
        self.replies = 0

    def status(self, pubnub: Any, status: Any) -> None:
        if status.category == PNStatusCategory.PNConnectedCategory:
            self.connected.set()
        elif status.is_error():
            log.warning("pubnub status %s", status.category)

    def presence(self, pubnub: Any, presence: Any) -> None:
        return None

    def message(self, pubnub: Any, message: Any) -> None:
        try:
            plain = unpad(self.cipher.decrypt(base64.b64decode(message.message)), AES.block_size)
            body = json.loads(plain)["body"]
            if body.get("eventType") != "PostAdded" or str(body.get("creatorId")) == self.bot_id:
                return
            if str(body.get("text", "")).strip().lower() != "help":
                return
            resp = requests.post(
                self.rest_url + API + "/glip/posts",
                json={"groupId": body["groupId"], "text": HELP_TEXT},
                headers=self.headers,
                timeout=TIMEOUT,
            )
            resp.raise_for_status()
            self.replies += 1
        except Exception:  # an exception here would end the SDK's delivery
            log.exception("could not answer a message")


def login(rest_url: str) -> dict[str, Any]:
    """The bot's token (password grant)."""
    resp = requests.post(
        rest_url + "/restapi/oauth/token",
        data={"grant_type": "password", "username": BOT[0], "password": BOT[1]},
        auth=CLIENT,
        timeout=TIMEOUT,
    )
    resp.raise_for_status()
    return dict(resp.json())


def subscribe(rest_url: str, headers: dict[str, str]) -> dict[str, Any]:
    """A PubNub subscription to Glip posts, encrypted."""
    resp = requests.post(
        rest_url + API + "/subscription",
        json={
            "eventFilters": [API + "/glip/posts"],
            "deliveryMode": {"transportType": "PubNub", "encryption": True},
        },
        headers=headers,
        timeout=TIMEOUT,
    )
    resp.raise_for_status()
    return dict(resp.json())


async def run(rest_url: str, pubnub_origin: str) -> None:
    """Log in, subscribe, answer until a stop signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    token = login(rest_url)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    sub = subscribe(rest_url, headers)
    delivery = sub["deliveryMode"]
    bot = NaiveBot(rest_url, token, delivery["encryptionKey"])
    config = PNConfiguration()
    config.subscribe_key = delivery["subscriberKey"]
    config.user_id = f"naive-bot-{bot.bot_id}"
    config.origin = pubnub_origin
    config.ssl = False
    config.disable_config_locking = False
    pn = PubNubAsyncio(config, custom_event_loop=loop)
    pn.add_listener(bot)
    pn.subscribe().channels([delivery["address"]]).execute()
    await asyncio.wait_for(bot.connected.wait(), timeout=30)
    print("ready", flush=True)
    log.info("subscribed to %s", delivery["address"])
    renew_every = max(1.0, float(sub.get("expiresIn", 900)) / 2)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=renew_every)
        except TimeoutError:
            requests.post(
                f"{rest_url}{API}/subscription/{sub['id']}/renew", headers=headers, timeout=TIMEOUT
            ).raise_for_status()
    log.info("stopping after %d replies", bot.replies)
    pn.unsubscribe_all()
    await pn.stop()
    spare = getattr(getattr(pn, "_subscription_manager", None), "loop", None)
    if isinstance(spare, asyncio.AbstractEventLoop) and not spare.is_running():
        spare.close()  # the SDK leaves a loop of its own open
    requests.delete(f"{rest_url}{API}/subscription/{sub['id']}", headers=headers, timeout=TIMEOUT)


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.naive_bot", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rest-url", required=True, help="http://HOST:PORT of the REST API")
    parser.add_argument("--pubnub-origin", required=True, help="HOST:PORT of PubNub")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s"
    )
    log.setLevel(logging.INFO)
    asyncio.run(run(args.rest_url.rstrip("/"), args.pubnub_origin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
