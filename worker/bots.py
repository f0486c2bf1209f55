"""Which bot the workers run, and which settings the deployment reads.

``worker`` never imports ``tasks``: the task package that ships a bot tells
the worker about it when it is imported (which every worker and beat does
before anything else), with :func:`set_default_bot_app` (the bot to run
when ``BOT_APP`` is empty) and :func:`declare_settings` (its own settings
classes, so that a misspelt variable of the bot's is reported like the
platform's). A worker loads the bot at start (:func:`load_bot`) and refuses
to start when ``BOT_APP`` names none (see :mod:`worker.celery`).
"""

from __future__ import annotations

import importlib

from glipbot.bot import Bot
from glipbot.errors import ConfigError
from glipbot.settings import Settings, variables

#: The bot to run when ``BOT_APP`` is empty; see :func:`set_default_bot_app`.
_default_bot_app = ""
#: The settings classes the deployment reads, beyond the platform's.
_settings_classes: list[type] = []


def set_default_bot_app(spec: str) -> None:
    """Name the bot (``module:attribute``) that workers run when ``BOT_APP`` is empty."""
    global _default_bot_app
    _default_bot_app = spec


def declare_settings(*settings_classes: type) -> None:
    """Add settings classes (of :func:`~glipbot.settings.setting` fields) the deployment reads."""
    _settings_classes.extend(c for c in settings_classes if c not in _settings_classes)


def known_variables() -> set[str]:
    """Every variable name this process knows: the platform's and the declared classes'."""
    return {v.name for cls in (Settings, *_settings_classes) for v in variables(cls)}


def bot_app(settings: Settings) -> str:
    """The bot to run, ``module:attribute``: ``BOT_APP``, else the task package's default."""
    return settings.bot_app or _default_bot_app


def load_bot(spec: str) -> Bot:
    """The bot named ``module:attribute`` (the ``BOT_APP`` setting; ``:bot`` if left out).

    Raises :class:`~glipbot.errors.ConfigError` naming ``BOT_APP`` when
    ``spec`` is empty, its module cannot be imported (or fails while it is),
    or it is not a :class:`~glipbot.bot.Bot`.
    """
    if not spec:
        raise ConfigError("BOT_APP is empty and no task package named a default bot")
    module_name, _, attribute = spec.partition(":")
    try:
        bot = getattr(importlib.import_module(module_name), attribute or "bot")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"BOT_APP={spec!r} names no bot: {exc}") from exc
    except Exception as exc:  # the bot's module failed while it was imported
        raise ConfigError(
            f"BOT_APP={spec!r}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(bot, Bot):
        raise ConfigError(f"BOT_APP={spec!r} is a {type(bot).__name__}, not a glipbot.bot.Bot")
    return bot
