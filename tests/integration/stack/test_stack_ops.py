"""Ops tasks through the CLI and Flower's HTTP API, and a handler that raises.

One stack for the module: the sandbox, one listener, two workers running the
stack tests' bot (SmartFriend plus a ``boom`` command that raises while its
fuse file exists), a birthdays file in which today is John's birthday, and
Flower with a login. Each ops task is triggered twice: by ``python -m
tasks.ops`` as a person would (its output must read well) and by ``POST
/api/task/async-apply/<task>`` then ``GET /api/task/result/<id>`` as a
script would; each test checks what the task did to the platform.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.processes import wait_for
from glipbot.bot import Reply
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from tests.integration.stack.stack_bot import DEFUSED
from tests.support.programs import ROOT
from tests.support.stack import BOT_ID, FLOWER_AUTH, JANE_ID, JOHN_ID, Stack
from worker.replies import Outgoing

BOB_ID = "400000004"
RENEW = "/restapi/v1.0/subscription/*/renew"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The birthdays file (John's birthday is today, UTC) and the boom handler's fuse."""
    folder = tmp_path_factory.mktemp("ops")
    birthdays = folder / "birthdays.json"
    birthdays.write_text(json.dumps({JOHN_ID: datetime.now(UTC).strftime("%m-%d")}))
    return {"birthdays": birthdays, "fuse": folder / "boom.fuse"}


@pytest.fixture(scope="module")
def stack(start_stack: object, files: dict[str, Path]) -> Stack:
    return start_stack(  # type: ignore[operator, no-any-return]
        workers=2,
        flower=True,
        env={
            "BOT_APP": "tests.integration.stack.stack_bot:bot",
            "BIRTHDAYS_FILE": str(files["birthdays"]),
            "STACK_BOOM_FUSE": str(files["fuse"]),
        },
    )


@pytest.fixture
def dead_letters(stack: Stack) -> Iterator[DeadLetters]:
    """The bot's dead-letter list, empty when the test starts and when it ends."""
    letters = DeadLetters(stack.redis, Keys("glipbot:").dead_letters)
    stack.redis.delete(letters.key)
    yield letters
    stack.redis.delete(letters.key)


@pytest.fixture
def fuse(files: dict[str, Path]) -> Iterator[Path]:
    """While this file exists, the bot's ``boom`` handler raises."""
    files["fuse"].touch()
    yield files["fuse"]
    files["fuse"].unlink(missing_ok=True)


def cli(stack: Stack, *argv: str) -> str:
    """``python -m tasks.ops *argv`` with the stack's settings; its output (exit 0 required)."""
    done = subprocess.run(
        [sys.executable, "-m", "tasks.ops", *argv],
        env=stack.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def flower(stack: Stack, task: str, *args: Any, **kwargs: Any) -> Any:
    """Run ``task`` through Flower's HTTP API and return its result."""
    assert stack.flower is not None
    sent = requests.post(
        f"{stack.flower.url}/api/task/async-apply/{task}",
        json={"args": list(args), "kwargs": kwargs},
        auth=FLOWER_AUTH,
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    result_url = f"{stack.flower.url}/api/task/result/{sent.json()['task-id']}"

    def finished() -> dict[str, Any] | None:
        # Polled: with ?timeout= Flower reads the state before it waits, so it says PENDING.
        answer = requests.get(result_url, auth=FLOWER_AUTH, timeout=10).json()
        return answer if answer["state"] in ("SUCCESS", "FAILURE") else None

    answer = wait_for(finished, 30, 0.1)
    assert answer["state"] == "SUCCESS", answer
    return answer["result"]


def private_chat(stack: Stack) -> str:
    """John's private chat with the bot (opened, and greeted, on first use)."""
    chat = stack.john.post("/glip/groups", json={"type": "PrivateChat", "members": [BOT_ID]})
    chat_id = str(chat.json()["id"])
    stack.wait_bot_texts(chat_id, 1, 10)
    return chat_id


def team(stack: Stack, name: str, *members: str) -> str:
    """A Team John creates with the bot (and ``members``), once the bot greeted it."""
    chat = stack.john.post(
        "/glip/groups", json={"type": "Team", "name": name, "members": [BOT_ID, *members]}
    )
    chat_id = str(chat.json()["id"])
    stack.wait_bot_texts(chat_id, 1, 10)
    return chat_id


def members_of(stack: Stack, group_id: str) -> set[str]:
    return set(stack.john.get(f"/glip/groups/{group_id}").json()["members"])


# -- a handler that raises ---------------------------------------------------------


def test_a_raising_handler_is_logged_dead_lettered_and_the_worker_keeps_serving(
    stack: Stack, fuse: Path, dead_letters: DeadLetters
) -> None:
    """John's "boom" makes the handler raise: the failure is logged with the
    event, the chat and the handler, the event is kept as a dead letter of
    ``handle_event`` with its reason, and John's next request is answered by
    the same worker processes."""
    chat_id = team(stack, "Boom")
    pools = {w.name: w.pool_pids() for w in stack.workers}
    boom = stack.say(stack.john, chat_id, "boom")

    failed = stack.wait_log("handler_failed", group_id=chat_id)
    assert failed["level"] == "error"
    assert failed["handler"] == "tests.integration.stack.stack_bot.boom"
    assert failed["event_uuid"]
    assert "fails on purpose" in failed["error"]
    (letter,) = wait_for(dead_letters.list, 5)
    assert letter["source"] == "handle_event"
    assert "boom: this handler fails on purpose" in letter["reason"]
    assert letter["payload"]["uuid"] == failed["event_uuid"]
    assert letter["payload"]["body"]["id"] == boom["id"]
    assert letter["context"]["handler"] == failed["handler"]

    stack.say(stack.john, chat_id, "convert 9 USD to EUR")
    assert stack.wait_bot_texts(chat_id, 2, 10)[1].startswith("9.00 USD = ")
    assert {w.name: w.pool_pids() for w in stack.workers} == pools


# -- each ops task, through the CLI and through Flower ------------------------------


def test_status_names_the_leader_and_reports_queues_and_dead_letters(
    stack: Stack, dead_letters: DeadLetters
) -> None:
    """``status`` tells who leads and how the queues and dead letters stand."""
    dead_letters.push("handle_event", "handler failed: example", {"uuid": "x"})
    out = cli(stack, "status")
    report = flower(stack, "tasks.ops.status")

    assert report["leader"]
    assert report["dead_letters"]["count"] == 1
    assert set(report["queues"]) == {"events", "replies", "ops"}
    lines = out.splitlines()
    assert lines[0] == "status:"
    assert f"  leader: {report['leader']}" in lines
    assert "  dead_letters:" in lines
    assert "    count: 1" in lines
    assert "        reason: handler failed: example" in lines


def test_broadcast_posts_once_in_every_chat_of_the_types(stack: Stack) -> None:
    """``broadcast`` reaches every chat of the bot once; ``--type Team`` only Teams."""
    private_id, team_id = private_chat(stack), team(stack, "Broadcast")

    out = cli(stack, "broadcast", "Maintenance tonight at 22:00")
    chats = int(next(ln for ln in out.splitlines() if ln.startswith("  chats: ")).split()[-1])
    everywhere = wait_for(lambda: _posted_in("Maintenance tonight at 22:00", stack, chats), 20)
    assert {private_id, team_id} <= everywhere

    result = flower(stack, "tasks.ops.broadcast", "Maintenance done", types=["Team"])
    teams = wait_for(lambda: _posted_in("Maintenance done", stack, result["chats"]), 20)
    assert team_id in teams
    assert private_id not in teams
    assert out.splitlines()[0] == "broadcast:"


def _posted_in(text: str, stack: Stack, chats: int) -> set[str] | None:
    groups = [r["body"]["groupId"] for r in stack.bot_posts() if r["body"]["text"] == text]
    assert len(groups) == len(set(groups)), "a chat got the broadcast twice"
    return set(groups) if len(groups) == chats else None


def test_create_chat_opens_a_team_and_a_private_chat_that_the_bot_greets(stack: Stack) -> None:
    """``create-chat`` makes the chat on the platform; the bot then greets in it."""
    out = cli(stack, "create-chat", "Team", JOHN_ID, "jane.doe@sandbox.test", "--name", "Ops team")
    lines = out.splitlines()
    assert lines[:2] == ["create-chat:", lines[1]]
    team_id = lines[1].removeprefix("  id: ")
    assert "  type: Team" in lines
    assert "  name: Ops team" in lines
    assert members_of(stack, team_id) == {BOT_ID, JOHN_ID, JANE_ID}
    assert stack.wait_bot_texts(team_id, 1, 10) == [
        "Hi John and Jane, Nice to meet you! How can I help you?"
    ]

    chat = flower(stack, "tasks.ops.create_chat", "PrivateChat", ["bob.brown@sandbox.test"])
    assert chat["type"] == "PrivateChat"
    assert set(chat["members"]) == {BOT_ID, BOB_ID}
    assert stack.wait_bot_texts(chat["id"], 1, 10) == [
        "Hi Bob, Nice to meet you! How can I help you?"
    ]


def test_add_and_remove_members_change_the_team_on_the_platform(stack: Stack) -> None:
    """``add-members`` puts Bob into John's Team; ``remove_members`` takes him out."""
    team_id = team(stack, "Members")

    out = cli(stack, "add-members", team_id, "bob.brown@sandbox.test")
    assert members_of(stack, team_id) == {BOT_ID, JOHN_ID, BOB_ID}
    assert out.splitlines()[:2] == ["add-members:", f"  id: {team_id}"]
    assert f"    - {BOB_ID}" in out.splitlines()

    result = flower(stack, "tasks.ops.remove_members", team_id, [BOB_ID])
    assert set(result["members"]) == {BOT_ID, JOHN_ID}
    assert members_of(stack, team_id) == {BOT_ID, JOHN_ID}


def test_renew_makes_the_listener_renew_its_subscription_now(stack: Stack) -> None:
    """``renew`` asks the listener; the platform sees a renew call within seconds."""
    control = stack.sandbox.control
    before = len(control.requests(path=RENEW))

    out = cli(stack, "renew")
    assert "  queued: renew" in out.splitlines()
    wait_for(lambda: len(control.requests(path=RENEW)) == before + 1, 10)

    assert flower(stack, "tasks.ops.renew_subscription")["queued"] == "renew"
    wait_for(lambda: len(control.requests(path=RENEW)) == before + 2, 10)
    assert all(r["status"] == 200 for r in control.requests(path=RENEW))


def test_replay_sends_dead_letters_back_and_they_are_answered(
    stack: Stack, fuse: Path, dead_letters: DeadLetters
) -> None:
    """A "boom" that failed is dead-lettered; once the handler is fixed,
    ``replay`` sends it back through the bot, which answers it. A reply that
    was given up on is replayed through Flower and posted."""
    chat_id = team(stack, "Replay")
    stack.say(stack.john, chat_id, "boom")
    wait_for(dead_letters.list, 10)
    fuse.unlink()  # the fix is deployed

    out = cli(stack, "replay")
    assert out.splitlines() == [
        "replay:",
        "  replayed:",
        "    handle_event: 1",
        "  kept: 0",
        "  remaining: 0",
    ]
    assert stack.wait_bot_texts(chat_id, 2, 10)[1] == DEFUSED

    given_up = Outgoing(Reply("replay-test:1:0", chat_id, "A reply that was given up on")).to_json()
    dead_letters.push("post_reply", "ServerError: 503", given_up, attempts=8)
    result = flower(stack, "tasks.ops.replay_dead_letters")
    assert result == {"replayed": {"post_reply": 1}, "kept": 0, "remaining": 0}
    assert stack.wait_bot_texts(chat_id, 3, 10)[2] == "A reply that was given up on"


def test_birthdays_greets_john_once_in_his_private_chat(stack: Stack) -> None:
    """Today is John's birthday: ``birthdays`` greets him in his private chat
    with the bot; triggering it again the same day posts nothing twice."""
    chat_id = private_chat(stack)
    greeting = "Happy birthday, John! \N{BIRTHDAY CAKE} Wishing you a wonderful day."

    out = cli(stack, "birthdays")
    assert "  greetings: 1" in out.splitlines()
    wait_for(lambda: greeting in stack.bot_texts(chat_id), 10)

    today = datetime.now(UTC).date().isoformat()
    assert flower(stack, "tasks.ops.birthday_greetings", day=today)["greetings"] == 1
    key = f"birthday:{today}:{chat_id}:0"
    wait_for(lambda: len(stack.log_events("reply_posted", reply_key=key)) == 2, 10)
    assert stack.bot_texts(chat_id).count(greeting) == 1
    assert [who for who, text in stack.chat_texts(chat_id) if text == greeting] == [BOT_ID]
