"""What the tasks of one worker process share, built on first use.

Celery forks its pool processes from the parent; sockets must not cross a
fork, so nothing here is built at import time: :func:`runtime` builds it in
the process that runs the first task, once.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass

from glipbot.bot import Bot, CachingDirectory
from glipbot.errors import ConfigError
from glipbot.platform import Platform, connect
from glipbot.platform.ratelimit import RateLimiter
from glipbot.settings import Settings
from glipbot.state.counters import Counters
from glipbot.state.deadletters import DeadLetters
from worker.celery import app, settings_of
from worker.replies import ReplyPoster


@dataclass
class Runtime:
    """One worker process's connections and services."""

    settings: Settings
    platform: Platform
    limiter: RateLimiter
    poster: ReplyPoster
    directory: CachingDirectory
    dead_letters: DeadLetters
    counters: Counters
    bot: Bot


_lock = threading.Lock()
_runtime: Runtime | None = None
#: The bot to run when ``BOT_APP`` is empty; see :func:`set_default_bot_app`.
_default_bot_app = ""


def set_default_bot_app(spec: str) -> None:
    """Name the bot (``module:attribute``) that workers run when ``BOT_APP`` is empty.

    ``worker`` never imports ``tasks``, so it cannot name a bot itself: the
    task package that ships one calls this when it is imported, which the
    worker does before it runs any task.
    """
    global _default_bot_app
    _default_bot_app = spec


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
    return Runtime(
        settings=settings,
        platform=platform,
        limiter=platform.limiter,
        poster=ReplyPoster(
            platform.rest,
            client,
            keys,
            platform.tokens.owner_id,
        ),
        directory=CachingDirectory(platform.rest),
        dead_letters=DeadLetters(client, keys.dead_letters, max_len=settings.dead_letters_max),
        counters=platform.counters,
        bot=load_bot(bot_app(settings)),
    )


def bot_app(settings: Settings) -> str:
    """The bot to run, ``module:attribute``: ``BOT_APP``, else the task package's default."""
    return settings.bot_app or _default_bot_app


def load_bot(spec: str) -> Bot:
    """The bot named ``module:attribute`` (the ``BOT_APP`` setting)."""
    if not spec:
        raise ConfigError("BOT_APP is empty and no task package named a default bot")
    module_name, _, attribute = spec.partition(":")
    try:
        bot = getattr(importlib.import_module(module_name), attribute or "bot")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"BOT_APP={spec!r} names no bot: {exc}") from exc
    if not isinstance(bot, Bot):
        raise ConfigError(f"BOT_APP={spec!r} is a {type(bot).__name__}, not a glipbot.bot.Bot")
    return bot
