"""The whole system on free ports, as an operator runs it, for programs that break it on purpose.

:class:`Cluster` starts a ``redis-server`` with an append-only file, the
sandbox, several listeners (one leads, the others stand by), several Celery
workers and beat (whose reaper sends lost work again), each as its own
program in a process group of its own, and stops them all. It can replace
what a fault killed (:meth:`Cluster.start_listener`, :meth:`Cluster.start_worker`)
and restart Redis on its own data (:meth:`Cluster.restart_redis`).

::

    with Cluster(log_dir, listeners=2, workers=3) as cluster:
        john = cluster.person("john.smith@sandbox.test", "john")
        ...
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import redis
import requests
from celery import Celery

from devtools.localredis import LocalRedis
from devtools.processes import ManagedProcess, WaitTimeoutError, stop_all, wait_for
from devtools.programs import ROOT, BeatProcess, ListenerProcess, WorkerProcess
from devtools.sandbox_process import SandboxProcess
from glipbot.settings import Settings
from sandbox.testing import Person, as_person
from tasks import deployment_variables
from worker.celery import celery_config

#: Seconds the stack, or a program started later, may take to be ready.
START_TIMEOUT = 60.0


class ClusterError(RuntimeError):
    """Part of the stack did not come up; the message names it and ends with its log."""


class Cluster:
    """Redis (AOF), the sandbox, ``listeners`` listeners, ``workers`` workers and beat."""

    def __init__(
        self,
        log_dir: Path,
        *,
        listeners: int = 2,
        workers: int = 3,
        sandbox_args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.redis_server = LocalRedis(appendonly=True)
        self.sandbox = SandboxProcess(*sandbox_args)
        self.listeners: list[ListenerProcess] = []
        self.workers: list[WorkerProcess] = []
        self.processes: list[ManagedProcess] = []
        self._want = (listeners, workers)
        self._extra_env = dict(env or {})
        self._people: list[Person] = []
        self._serial = 0
        self.env: dict[str, str] = {}

    # -- life cycle -------------------------------------------------------------

    def start(self) -> Cluster:
        """Start everything and wait until one listener leads and every worker answers."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.redis_server.start()
        self.sandbox.start()
        self.env = self._environment()
        self.settings = Settings.from_env(self.env, env_file=None)
        self.redis = redis.Redis.from_url(self.redis_server.url, decode_responses=True)
        # Our own Celery client, configured as the workers are (never their app object).
        self.celery = Celery("cluster-client")
        self.celery.conf.update(celery_config(self.settings))
        listeners, workers = self._want
        for _ in range(listeners):
            self.start_listener()
        started = [self.start_worker() for _ in range(workers)]
        beat = BeatProcess(self.env, self.log_dir)
        self.processes.append(beat)
        self.wait_leader()
        self.wait_workers(started)
        return self

    def stop(self) -> None:
        """Stop every program (SIGTERM to all at once, SIGKILL to what lingers), then Redis."""
        stop_all(self.processes)
        for proc in self.processes:
            proc.close()
        self.sandbox.stop()
        for person in self._people:
            person.close()
        if hasattr(self, "celery"):
            self.celery.close()
            self.redis.close()
        self.redis_server.close()

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _environment(self) -> dict[str, str]:
        return program_environment(self.sandbox, self.redis_server.url, self._extra_env)

    # -- programs -----------------------------------------------------------------

    def _name(self, kind: str) -> str:
        self._serial += 1
        return f"{kind}{self._serial}"

    def start_listener(self) -> ListenerProcess:
        """Start one more listener (it leads or stands by); return once it serves health."""
        listener = ListenerProcess(self.env, self._name(""), self.log_dir)
        self.processes.append(listener)
        self.listeners.append(listener)
        return listener

    def start_worker(self) -> WorkerProcess:
        """Start one more worker; not waited for (see :meth:`wait_workers`)."""
        worker = WorkerProcess(self.env, self._name("w"), self.log_dir)
        self.processes.append(worker)
        self.workers.append(worker)
        return worker

    def live_listeners(self) -> list[ListenerProcess]:
        """The listeners whose process is alive (stopped ones included)."""
        return [listener for listener in self.listeners if listener.running()]

    def live_workers(self) -> list[WorkerProcess]:
        """The workers whose main process is alive."""
        return [worker for worker in self.workers if worker.running()]

    def roles(self) -> dict[str, str]:
        """Each live listener's role as its ``/healthz`` says (``?`` when it does not answer)."""
        out = {}
        for listener in self.live_listeners():
            try:
                out[listener.name] = str(listener.health(timeout=1)[1].get("role"))
            except (requests.RequestException, ValueError):
                out[listener.name] = "?"
        return out

    def leader(self) -> ListenerProcess | None:
        """The listener that reports itself leading with a live subscription, if any."""
        for listener in self.live_listeners():
            with contextlib.suppress(requests.RequestException, ValueError):
                code, body = listener.health(timeout=1)
                if code == 200 and body.get("role") == "leader" and body.get("status") == "ok":
                    return listener
        return None

    def wait_leader(self, timeout: float = START_TIMEOUT) -> ListenerProcess:
        """Wait until some listener leads; raise :class:`ClusterError` with the logs if none."""
        try:
            return wait_for(self.leader, timeout, 0.2)
        except WaitTimeoutError:
            raise ClusterError(
                f"no listener leads after {timeout:g} s" + self.tails(self.listeners)
            ) from None

    def node_name(self, worker: WorkerProcess) -> str:
        """Celery's name of a worker (``-n NAME@%h``), for control destinations."""
        return f"{worker.name}@{socket.gethostname()}"

    def wait_workers(self, workers: list[WorkerProcess], timeout: float = START_TIMEOUT) -> None:
        """Wait until every one of ``workers`` answers a broadcast ping."""
        names = {self.node_name(w) for w in workers}

        def all_answer() -> bool:
            for worker in workers:
                worker.check_running()
            replies = self.celery.control.ping(
                destination=sorted(names), timeout=0.5, limit=len(names)
            )
            return names <= {name for reply in replies for name in reply}

        try:
            wait_for(all_answer, timeout, 0.2)
        except WaitTimeoutError:
            raise ClusterError(
                f"workers not answering after {timeout:g} s" + self.tails(workers)
            ) from None

    def restart_redis(self, down_for: float) -> None:
        """Stop Redis, keep it down ``down_for`` seconds, start it on its own data again."""
        self.redis_server.restart(down_for)

    # -- people and logs --------------------------------------------------------------

    def person(self, email: str, password: str) -> Person:
        """A logged-in session of a seed person (closed with the cluster)."""
        person = as_person(self.sandbox.rest_url, email, password)
        self._people.append(person)
        return person

    def tails(self, processes: Sequence[ManagedProcess] | None = None) -> str:
        """The last lines of the logs of ``processes`` (default: all), under their names."""
        chosen = self.processes if processes is None else processes
        return "".join(f"\n--- {p.name} ({p.log_path}) ---\n{p.tail(20)}" for p in chosen)

    def log_paths(self) -> Iterator[Path]:
        """Where each program's log is."""
        for proc in self.processes:
            yield proc.log_path


def program_environment(
    sandbox: SandboxProcess, redis_url: str, extra: Mapping[str, str] = {}
) -> dict[str, str]:
    """The environment of the system's programs against ``sandbox`` and ``redis_url``.

    The caller's own settings are left out (so a developer's ``REDIS_URL`` or
    ``BOT_APP`` never leaks in); ``extra`` wins over everything.
    """
    ours = {v.name for v in deployment_variables()}
    inherited = {k: v for k, v in os.environ.items() if k not in ours}
    return {
        **inherited,
        # The workers import BOT_APP by module path, test bots included.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        "RINGCENTRAL_SERVER_URL": sandbox.rest_url,
        "PUBNUB_ORIGIN": sandbox.pubnub_origin,
        "REDIS_URL": redis_url,
        "LISTENER_HEALTH_PORT": "0",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        **extra,
    }
