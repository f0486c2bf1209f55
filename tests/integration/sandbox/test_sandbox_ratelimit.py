"""Rate limits: per person, app and group, with headers on every answer."""

from __future__ import annotations

import time

import requests

from devtools.sandbox_process import SandboxProcess
from sandbox.testing import BOT_TOKEN, Person, as_person
from tests.support.openapi import assert_error_body

HEADERS = (
    "X-Rate-Limit-Group",
    "X-Rate-Limit-Limit",
    "X-Rate-Limit-Remaining",
    "X-Rate-Limit-Window",
)


def test_41st_medium_call_gets_429_with_retry_after(john: Person) -> None:
    """40 Medium calls pass (Remaining counts down); the 41st answers 429 CMN-301."""
    for n in range(40):
        resp = john.get("/glip/groups")
        assert resp.status_code == 200
        assert resp.headers["X-Rate-Limit-Remaining"] == str(39 - n)
    limited = john.get("/glip/groups")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "60"
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert_error_body(limited.json(), "CMN-301")
    assert limited.json()["message"] == "Request rate exceeded"
    assert john.get("/glip/persons/~").status_code == 200  # Light is counted apart


def test_limits_are_per_person(sb: SandboxProcess, john: Person) -> None:
    """John's exhausted Medium budget does not limit Jane."""
    for _ in range(41):
        john.get("/glip/groups")
    jane = as_person(sb.rest_url, "jane.doe@sandbox.test", "jane")
    assert jane.get("/glip/groups").status_code == 200


def test_headers_on_every_answer(sb: SandboxProcess, john: Person) -> None:
    """200, 400, 401, 404 and 429 answers all carry the four X-Rate-Limit headers."""
    answers = [
        john.get("/glip/persons/~"),
        john.post("/glip/posts", json={}),
        requests.get(f"{sb.rest_url}/restapi/v1.0/glip/groups", timeout=5),
        john.get("/glip/groups/12345"),
        john.get("/no/such/route"),
    ]
    for _ in range(41):
        last = john.get("/glip/groups")
    answers.append(last)
    assert [a.status_code for a in answers] == [200, 400, 401, 404, 404, 429]
    for answer in answers:
        assert all(h in answer.headers for h in HEADERS), answer.headers


def test_a_call_during_the_penalty_restarts_it(short: SandboxProcess) -> None:
    """With a 3 s window: a call 2 s into the penalty is refused and restarts it."""
    # The bot's static token, because the short sandbox's logins expire in 2 s.
    bot = Person(short.rest_url, {"owner_id": "400000001", "access_token": BOT_TOKEN})
    for _ in range(40):
        assert bot.get("/glip/groups").status_code == 200
    assert bot.get("/glip/groups").status_code == 429
    time.sleep(2)
    assert bot.get("/glip/groups").status_code == 429  # restarts the 3 s penalty
    time.sleep(2)
    assert bot.get("/glip/groups").status_code == 429  # an unrestarted one would be over
    time.sleep(3.2)
    assert bot.get("/glip/groups").status_code == 200
