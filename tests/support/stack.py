"""The whole system as child processes: sandbox, listener, Celery workers, Flower.

:class:`Stack` starts real programs against one real ``redis-server`` and a
sandbox, exactly as an operator would (``python -m listener``, ``celery -A
worker worker``, ``celery -A worker flower``), and stops them all. Tests talk
to it the way people do: John writes through the sandbox's REST API, ops
tasks are sent by name, and what the platform received is read from the
sandbox's request recorder (control calls are never rate-limited, so polling
it does not eat into anyone's budget).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import redis
import requests
from celery import Celery

from devtools.cluster import program_environment
from devtools.ports import free_port
from devtools.processes import ManagedProcess, stop_all, wait_for
from devtools.sandbox_process import SandboxProcess
from glipbot.settings import Settings
from glipbot.state.installations import Installation, InstallationStore
from glipbot.state.keys import Keys
from sandbox.testing import Person, as_person
from tests.support.programs import FlowerProcess, ListenerProcess, WorkerProcess
from worker.celery import celery_config

BOT_ID = "400000001"
JOHN_ID = "400000002"
JANE_ID = "400000003"
POSTS = "/restapi/v1.0/glip/posts"
PASSWORDS = {
    "john.smith@sandbox.test": "john",
    "jane.doe@sandbox.test": "jane",
    "bob.brown@sandbox.test": "bob",
}
#: Flower's login in the stacks that run it (as ``make up`` does, the API is never open).
FLOWER_AUTH = ("ops", "stack-test")
START_TIMEOUT = 30.0


def mention(person_id: str) -> str:
    """The Glip markup that mentions a person in a post's text."""
    return f"![:Person]({person_id})"


@dataclass
class InstalledBot:
    """The bot installed in an account of its own (:meth:`Stack.install_bot`)."""

    bot_id: str
    account_id: str
    token: str = field(repr=False)
    #: Logged-in sessions of the account's people (the installer first).
    people: list[Person]


class _RedirectReceiver:
    """A redirect URI on a free port that takes a private install's POST (JSON or form)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                is_json = "json" in (self.headers.get("Content-Type") or "")
                bodies.append(json.loads(raw) if is_json else dict(parse_qsl(raw)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/bot/oauth"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class Stack:
    """One running system; build it with :func:`running_stack`."""

    def __init__(
        self,
        redis_url: str,
        log_dir: Path,
        *,
        sandbox_args: tuple[str, ...] = (),
        workers: int = 2,
        listener: bool = True,
        flower: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.sandbox = SandboxProcess(*sandbox_args)
        self.processes: list[ManagedProcess] = []
        self.listener: ListenerProcess | None = None
        self.workers: list[WorkerProcess] = []
        self.flower: FlowerProcess | None = None
        self._want = {"workers": workers, "listener": listener, "flower": flower}
        self._extra_env = dict(env or {})
        self._people: dict[str, Person] = {}
        self._installed_people: list[Person] = []
        self.env: dict[str, str] = {}
        self._stopped = False

    # -- life cycle -------------------------------------------------------------

    def start(self) -> Stack:
        self.sandbox.start()
        self.env = self._environment()
        settings = Settings.from_env(self.env, env_file=None)
        self.keys = Keys.from_settings(settings)
        self.redis = redis.Redis.from_url(self.redis_url, decode_responses=True)
        # The test's own Celery client: the workers' configuration, never their app object
        # (whose settings come from this process's environment).
        self.celery = Celery("stack-client")
        self.celery.conf.update(celery_config(settings))
        if self._want["listener"]:
            self.listener = ListenerProcess(self.env, "a", self.log_dir)
            self.processes.append(self.listener)
        self.workers = [self.start_worker(f"w{n}") for n in range(1, self._want["workers"] + 1)]
        if self.listener is not None:
            self.listener.wait_leader(START_TIMEOUT)
        self.wait_workers(self.workers)
        if self._want["flower"]:
            flower_env = {**self.env, "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH)}
            self.flower = FlowerProcess(flower_env, free_port(), log_dir=self.log_dir)
            self.processes.append(self.flower)
            wait_for(self._flower_up, START_TIMEOUT, 0.2)
        return self

    def stop(self) -> None:
        """Stop every process: SIGTERM to all at once, wait for each, SIGKILL what lingers.

        A second call does nothing (a module may stop a stack before the fixture does).
        """
        if self._stopped:
            return
        self._stopped = True
        stop_all(self.processes)
        for proc in self.processes:
            proc.close()
        self.sandbox.stop()
        for person in [*self._people.values(), *self._installed_people]:
            person.close()
        if hasattr(self, "celery"):
            self.celery.close()
            self.redis.close()

    def _environment(self) -> dict[str, str]:
        return program_environment(self.sandbox, self.redis_url, self._extra_env)

    def start_worker(self, name: str) -> WorkerProcess:
        """Start one more worker process (not waited for: see :meth:`wait_workers`)."""
        worker = WorkerProcess(self.env, name, self.log_dir)
        self.processes.append(worker)
        return worker

    def node_names(self, workers: list[WorkerProcess] | None = None) -> list[str]:
        """Celery's names of the workers (``-n wN@%h``), for ``control`` destinations."""
        return [f"{w.name}@{socket.gethostname()}" for w in workers or self.workers]

    def wait_workers(self, workers: list[WorkerProcess]) -> None:
        """Wait until every one of ``workers`` answers a broadcast ping."""
        names = set(self.node_names(workers))

        def all_answer() -> bool:
            for worker in workers:
                worker.check_running()
            replies = self.celery.control.ping(
                destination=sorted(names), timeout=0.3, limit=len(names)
            )
            return names <= {name for reply in replies for name in reply}

        wait_for(all_answer, START_TIMEOUT, 0.1)

    def _flower_up(self) -> bool:
        assert self.flower is not None
        self.flower.check_running()
        try:
            resp = requests.get(f"{self.flower.url}/healthcheck", timeout=2)
        except requests.ConnectionError:
            return False
        return resp.status_code == 200

    # -- installations -------------------------------------------------------------

    def install_bot(self, people: int = 1) -> InstalledBot:
        """Install the bot privately in a new sandbox account, as RingCentral does (the
        sandbox POSTs its token to a redirect URI), and record the installation in Redis
        as the install endpoint does; the account's ``people`` are logged in."""
        receiver = _RedirectReceiver()
        try:
            answer = self.sandbox.control.install("private", receiver.url, people=people)
            done = self.sandbox.control.wait_installation(answer["bot_id"], timeout=START_TIMEOUT)
        finally:
            receiver.close()
        assert done["state"] == "installed", done
        [posted] = receiver.bodies
        bot = InstalledBot(
            bot_id=str(answer["bot_id"]),
            account_id=str(answer["account_id"]),
            token=str(posted["access_token"]),
            people=[
                as_person(self.sandbox.rest_url, p["username"], p["password"])
                for p in answer["people"]
            ],
        )
        self._installed_people += bot.people
        record = Installation(
            bot.bot_id,
            bot.account_id,
            "private",
            time.time(),
            token=bot.token,
            creator_extension_id=str(answer.get("creator_extension_id") or "") or None,
        )
        InstallationStore(self.redis, self.keys).put(record)
        return bot

    # -- people and chats ---------------------------------------------------------

    def person(self, email: str) -> Person:
        """A logged-in session of a seed person, one per stack (the sandbox caps sessions)."""
        if email not in self._people:
            self._people[email] = as_person(self.sandbox.rest_url, email, PASSWORDS[email])
        return self._people[email]

    @property
    def john(self) -> Person:
        return self.person("john.smith@sandbox.test")

    def say(self, who: Person, group_id: str, text: str) -> dict[str, Any]:
        """``who`` posts ``text`` in the chat; the created post."""
        resp = who.post("/glip/posts", json={"groupId": group_id, "text": text})
        resp.raise_for_status()
        return dict(resp.json())

    def chat_texts(self, group_id: str, who: Person | None = None) -> list[tuple[str, str]]:
        """``(creatorId, text)`` of every post in the chat, oldest first (one REST call)."""
        reader = who or self.john
        resp = reader.get("/glip/posts", params={"groupId": group_id, "recordCount": 250})
        resp.raise_for_status()
        return [(p["creatorId"], p["text"]) for p in reversed(resp.json()["records"])]

    def bot_posts(self, group_id: str | None = None, bot_id: str = BOT_ID) -> list[dict[str, Any]]:
        """The bot's ``POST /glip/posts`` the sandbox answered with 200, oldest first
        (``bot_id``: whose token made them; the configured bot's by default)."""
        return [
            r
            for r in self.sandbox.control.requests(path=POSTS, method="POST")
            if r["who"] == bot_id
            and r["status"] == 200
            and (group_id is None or r["body"]["groupId"] == group_id)
        ]

    def bot_texts(self, group_id: str) -> list[str]:
        """What the bot posted in the chat, in the order the sandbox answered it."""
        return [r["body"]["text"] for r in self.bot_posts(group_id)]

    def wait_bot_texts(self, group_id: str, count: int, timeout: float) -> list[str]:
        """Wait until the bot posted at least ``count`` messages in the chat; return them."""

        def enough() -> list[str] | None:
            texts = self.bot_texts(group_id)
            return texts if len(texts) >= count else None

        return list(wait_for(enough, timeout, 0.02))

    # -- tasks and logs -------------------------------------------------------------

    def send_task(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Send a task by name to its queue, as ``celery call`` does."""
        queue = name.split(".")[1]  # tasks.<queue module>.<task>: events, replies or ops
        return self.celery.send_task(name, args=list(args), kwargs=kwargs, queue=queue)

    def worker_logs(self) -> Iterator[dict[str, Any]]:
        """Every JSON log line of every worker process."""
        for worker in self.workers:
            yield from worker.json_lines()

    def log_events(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        """The workers' log lines of ``event`` whose fields equal ``fields``."""
        return [
            line
            for line in self.worker_logs()
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items())
        ]

    def wait_log(self, event: str, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        """Wait for a worker log line of ``event`` with ``fields``; return the first."""
        found = wait_for(lambda: self.log_events(event, **fields), timeout, 0.05)
        return dict(found[0])

    def log_tails(self, lines: int = 60) -> str:
        """The end of every process's log, for a failing test's report."""
        parts = [f"--- sandbox ---\n{_tail(self.sandbox.stderr(), lines)}"]
        parts += [f"--- {p.name} ---\n{_tail(p.output(), lines)}" for p in self.processes]
        return "\n".join(parts)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    """``action()``'s value and how long it took, in seconds."""
    started = time.monotonic()
    value = action()
    return value, time.monotonic() - started
