"""The seed's scenario, played as John Smith through the sandbox's REST API.

John opens a private chat with SmartFriend, is greeted, and asks for the
seed's flight in the seed's own words; :func:`transcript` prints the chat as
``make demo`` shows it (and as the README quotes it).
"""

from __future__ import annotations

from typing import Any

import requests

from devtools.processes import WaitTimeoutError, wait_for
from sandbox.testing import API_PREFIX, BOT_TOKEN, as_person

JOHN = ("john.smith@sandbox.test", "john")
FLIGHT_REQUEST = (  # the seed's own words, en dash and odd spacing included
    "Hi SmartFriend! Please book me a flight New York – San Francisco 05/  06/17, ID #5674028947"  # noqa: RUF001
)
REPLY_TIMEOUT = 30.0


class ScenarioError(RuntimeError):
    """SmartFriend did not answer in time; the message says which answer and where to look."""


def play_scenario(stack: dict[str, Any]) -> list[tuple[str, str]]:
    """John opens a chat with SmartFriend, is greeted, and books the seed's flight."""
    rest = stack["sandbox"]["rest_url"]
    john = as_person(rest, *JOHN)
    me = john.get("/glip/persons/~").json()
    bot = requests.get(
        f"{rest}{API_PREFIX}/glip/persons/~",
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},  # the seed's static bot token
        timeout=10,
    ).json()
    people = {me["id"]: me, bot["id"]: bot}
    chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [bot["id"]]})
    chat.raise_for_status()
    group_id = chat.json()["id"]
    _wait_for_posts(john, group_id, 1, "the greeting")
    sent = john.post("/glip/posts", json={"groupId": group_id, "text": FLIGHT_REQUEST})
    sent.raise_for_status()
    posts = _wait_for_posts(john, group_id, 3, "the booking")
    return [(_name(people.get(p["creatorId"])), p.get("text") or "") for p in posts]


def _wait_for_posts(john: Any, group_id: str, count: int, what: str) -> list[dict[str, Any]]:
    def posts() -> list[dict[str, Any]] | None:
        records = john.get("/glip/posts", params={"groupId": group_id}).json()["records"]
        return list(reversed(records)) if len(records) >= count else None  # oldest first

    try:
        return list(wait_for(posts, REPLY_TIMEOUT, 0.1))
    except WaitTimeoutError:
        raise ScenarioError(f"no {what} within {REPLY_TIMEOUT:g} s; see .run/worker*.log") from None


def _name(person: dict[str, Any] | None) -> str:
    if not person:
        return "?"
    return " ".join(filter(None, (person.get("firstName"), person.get("lastName")))).strip()


def transcript(lines: list[tuple[str, str]]) -> str:
    """The conversation as a chat transcript."""
    out = []
    for who, text in lines:
        first, *rest = text.splitlines() or [""]
        out.append(f"{who:>16} │ {first}")
        out.extend(f"{'':>16} │ {line}" for line in rest)
    return "\n".join(out)
