"""What the tasks of one worker process share, built on first use.

Celery forks its pool processes from the parent; sockets must not cross a
fork, so nothing here is built at import time: :func:`runtime` builds it in
the process that runs the first task, once. The bot is chosen and imported
by :mod:`worker.bots` (the worker's parent process already did so at start,
so a worker without a bot never takes a task).

One process answers as every installation of the bot
(:mod:`worker.installations`): the configured bot through ``platform.rest``
and ``directory``, each installed bot through its own client and directory
(``installations.route(bot_id)``), all over the one HTTP transport and rate
limiter of the process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from glipbot.bot import Bot, CachingDirectory
from glipbot.platform import Platform, connect
from glipbot.platform.ratelimit import RateLimiter
from glipbot.settings import Settings
from glipbot.state.counters import Counters
from glipbot.state.deadletters import DeadLetters
from glipbot.state.installations import InstallationStore
from worker.bots import bot_app, load_bot
from worker.celery import app, settings_of
from worker.installations import Installations, Route
from worker.replies import ReplyPoster, settle_window


@dataclass
class Runtime:
    """One worker process's connections and services.

    ``directory`` is the configured bot's; ``installations`` routes any bot id
    (the configured bot's included) to its client and directory.
    """

    settings: Settings
    platform: Platform
    limiter: RateLimiter
    poster: ReplyPoster
    directory: CachingDirectory
    dead_letters: DeadLetters
    counters: Counters
    bot: Bot
    installations: Installations


_lock = threading.Lock()
_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This process's :class:`Runtime`, built on the first call."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime(settings_of(app))
        return _runtime


def build_runtime(settings: Settings) -> Runtime:
    """Wire every service from ``settings``: every REST call passes the rate limiter."""
    platform = connect(settings)
    client, keys = platform.redis, platform.keys
    directory = CachingDirectory(platform.rest)

    installations = Installations(
        InstallationStore(client, keys),
        Route(None, platform.rest, directory, platform.tokens.owner_id),
        platform.installed_client,
    )
    return Runtime(
        settings=settings,
        platform=platform,
        limiter=platform.limiter,
        poster=ReplyPoster(
            platform.rest,
            client,
            keys,
            installations.configured.own_id,
            installed=lambda bot_id: installations.route(bot_id).rest,
            settle=settle_window(settings.http_timeout),
        ),
        directory=directory,
        dead_letters=DeadLetters(client, keys.dead_letters, max_len=settings.dead_letters_max),
        counters=Counters(client, keys.counters, bot_key=keys.bot_counters),
        bot=load_bot(bot_app(settings)),
        installations=installations,
    )
