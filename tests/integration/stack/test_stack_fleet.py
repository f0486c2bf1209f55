"""Many bots, one deployment: installed bots are received by the listeners and answered.

One stack per transport: the sandbox, two listeners and two Celery workers
with SmartFriend, and four shards. Bots are installed through the sandbox
the way RingCentral installs them (``POST /sandbox/installations``, whose
redirect URI is a listener's ``/bot/oauth``), half privately, half publicly.
In each account a person opens a private chat with the bot: the bot of that
account greets them and answers, with its own token. Then: one bot is
uninstalled and stops answering; one listener is killed and every other bot
still answers.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from devtools.localredis import LocalRedis
from devtools.processes import wait_for
from devtools.programs import ListenerProcess
from glipbot.state.installations import InstallationStore
from tasks.smartfriend.greeting import GREETING
from tasks.smartfriend.help import HELP_TEXT
from tests.support.stack import Person, Stack, as_person

pytestmark = pytest.mark.integration

#: Seconds an installed bot may take to be subscribed and answer (shards move within the TTL).
ANSWER_WITHIN = 30.0
LEASE_TTL = "3"


@dataclass
class Account:
    """One installation as the sandbox made it: the bot and the account's person."""

    bot_id: str
    account_id: str
    kind: str
    person: Person


@pytest.fixture(scope="module", params=["pubnub", "websocket"])
def fleet(
    request: pytest.FixtureRequest, start_stack: Any, redis_server: LocalRedis
) -> Iterator[tuple[Stack, ListenerProcess]]:
    # Each transport's stack starts from an empty Redis (the other's bots are not in its sandbox).
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    env = {
        "NOTIFICATION_TRANSPORT": request.param,
        "LISTENER_SHARDS": "4",
        "LISTENER_LEASE_TTL": LEASE_TTL,
        "INSTALLATION_CHECK_INTERVAL": "5",
    }
    stack: Stack = start_stack(workers=2, env=env)
    second = ListenerProcess(stack.env, "b", stack.log_dir)
    stack.processes.append(second)
    yield stack, second
    stack.stop()  # before the other transport's stack starts on the same Redis


def _install(stack: Stack, kind: str, listener: ListenerProcess) -> Account:
    redirect = f"http://127.0.0.1:{listener.port}/bot/oauth"
    answer = stack.sandbox.control.install(kind, redirect, people=1)
    done = stack.sandbox.control.wait_installation(answer["bot_id"], timeout=20)
    assert (done["state"], done["redirect"]["status"]) == ("installed", 200), done
    [person] = answer["people"]
    return Account(
        str(answer["bot_id"]),
        str(answer["account_id"]),
        kind,
        as_person(stack.sandbox.rest_url, person["username"], person["password"]),
    )


def _open_chat(account: Account) -> str:
    resp = account.person.post(
        "/glip/groups", json={"type": "PrivateChat", "members": [{"id": account.bot_id}]}
    )
    resp.raise_for_status()
    return str(resp.json()["id"])


def _texts(stack: Stack, account: Account, chat_id: str) -> list[str]:
    return [p["body"]["text"] for p in stack.bot_posts(chat_id, bot_id=account.bot_id)]


def _wait_texts(stack: Stack, account: Account, chat_id: str, count: int) -> list[str]:
    return list(
        wait_for(
            lambda: (t := _texts(stack, account, chat_id)) and len(t) >= count and t,
            ANSWER_WITHIN,
            0.1,
        )
    )


def _subscribed(stack: Stack, account: Account) -> bool:
    """Whether the platform holds a subscription of the bot's (over either transport)."""
    subscriptions = stack.sandbox.control.state()["subscriptions"]
    return any(s["ownerId"] == account.bot_id for s in subscriptions)


def _first_name(person: Person) -> str:
    resp = person.get(f"/glip/persons/{person.id}")
    resp.raise_for_status()
    return str(resp.json()["firstName"])


def test_installed_bots_greet_and_answer_their_own_account_then_survive_an_uninstall_and_a_kill(
    fleet: tuple[Stack, ListenerProcess],
) -> None:
    stack, second = fleet
    assert stack.listener is not None
    listeners = [stack.listener, second]
    accounts = [
        _install(stack, "private" if n % 2 else "public", listeners[n % 2]) for n in range(6)
    ]
    # Every bot is subscribed by one of the listeners (the leader of its shard).
    wait_for(lambda: all(_subscribed(stack, a) for a in accounts), ANSWER_WITHIN, 0.2)

    chats = {}
    for account in accounts:
        chats[account.bot_id] = chat = _open_chat(account)
        person = account.person
        assert _wait_texts(stack, account, chat, 1)[0] == GREETING.format(names=_first_name(person))
        person.post("/glip/posts", json={"groupId": chat, "text": "help"}).raise_for_status()
        assert _wait_texts(stack, account, chat, 2)[1] == HELP_TEXT
        assert stack.bot_posts(chat) == []  # the configured bot never speaks there

    # Nobody sees another account's chats.
    first, other = accounts[0], accounts[1]
    assert first.person.get(f"/glip/groups/{chats[other.bot_id]}").status_code in (403, 404)

    # An uninstalled bot stops answering; its subscription is gone; its record removed.
    gone = accounts[0]
    stack.sandbox.control.uninstall(gone.bot_id)
    store = InstallationStore(stack.redis, stack.keys)
    wait_for(lambda: (r := store.get(gone.bot_id)) is not None and not r.active, ANSWER_WITHIN, 0.2)
    assert not _subscribed(stack, gone)

    # The shards were shared out: two each (the first listener took all four at start).
    wait_for(lambda: [len(_led(listener)) for listener in listeners] == [2, 2], ANSWER_WITHIN, 0.2)
    assert set(_led(listeners[0])) | set(_led(listeners[1])) == {0, 1, 2, 3}

    # kill -9 of one listener: its shards move; every other bot still answers.
    victim = listeners[0]
    os.kill(victim.pid, signal.SIGKILL)
    wait_for(lambda: not victim.running(), 10, 0.05)
    for account in accounts[1:]:
        chat = chats[account.bot_id]
        account.person.post(
            "/glip/posts", json={"groupId": chat, "text": "help"}
        ).raise_for_status()
        assert _wait_texts(stack, account, chat, 3)[2] == HELP_TEXT
    # No bot answered twice, and the uninstalled one never again.
    for account in accounts[1:]:
        assert len(_texts(stack, account, chats[account.bot_id])) == 3
    assert len(_texts(stack, gone, chats[gone.bot_id])) == 2
    second.wait_leader(ANSWER_WITHIN)
    # Every shard moved, those of no bot here too (within the lease TTL and a poll).
    wait_for(lambda: _led(second) == [0, 1, 2, 3], ANSWER_WITHIN, 0.2)
    metrics = second.metrics()
    assert 'glipbot_listener_uninstalls_total{reason="uninstalled"} 1.0' in metrics
    assert "glipbot_listener_installed_bots 5.0" in metrics


def _led(listener: ListenerProcess) -> list[int]:
    _, body = listener.health()
    return list(body["installed"]["led"])
