"""Flower, started as ``celery -A worker flower``: ``FLOWER_*`` from ``.env``, and never open.

Flower reads its ``FLOWER_*`` variables from the environment only, while
every other role reads its settings from the environment over ``.env``. So
that one ``.env`` configures every role, the ``FLOWER_*`` lines of ``.env``
are copied into the environment before Flower reads it (a variable that is
already set wins, as for the other settings).

Flower shows every task's arguments, which carry users' messages, and lets
whoever reaches it revoke tasks and stop workers. So it refuses to start
without a login, with one line naming ``FLOWER_BASIC_AUTH`` and exit status
2. A login is ``FLOWER_BASIC_AUTH`` (``user:password``, comma-separated for
several) or ``FLOWER_AUTH`` (Flower's OAuth), in the environment, in
``.env`` or on the command line (``--basic-auth=…``, ``--auth=…``). To serve
Flower without one on purpose, set ``FLOWER_UNAUTHENTICATED_API=true``
(Flower's own switch for an open API).

:func:`install` hooks this into the Celery app through Celery's
``user_preload_options`` signal, which Celery sends before any sub-command
runs, so it is in force however Flower is started with ``-A worker``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import click
from celery import Celery
from celery.signals import user_preload_options
from dotenv import dotenv_values

PREFIX = "FLOWER_"
#: Flower's options that put a login in front of it.
LOGIN_OPTIONS = ("basic_auth", "auth")
OPT_OUT = "FLOWER_UNAUTHENTICATED_API"
#: What Flower itself reads as true in ``FLOWER_UNAUTHENTICATED_API``.
TRUE_WORDS = frozenset({"y", "yes", "t", "true", "on", "1"})
#: The exit status of a process refusing its configuration (as the listener's).
EXIT_CONFIG = 2

MISSING_LOGIN = (
    "FLOWER_BASIC_AUTH is not set: Flower shows users' messages and must not serve without "
    "a login; set FLOWER_BASIC_AUTH=user:password (in the environment or .env), or "
    "FLOWER_UNAUTHENTICATED_API=true to serve it without one on purpose"
)


def load_env_file(environ: MutableMapping[str, str], env_file: str | Path = ".env") -> list[str]:
    """Copy the ``FLOWER_*`` lines of ``env_file`` that ``environ`` lacks; return their names."""
    copied = []
    for name, value in dotenv_values(env_file).items():
        if name.startswith(PREFIX) and value is not None and name not in environ:
            environ[name] = value
            copied.append(name)
    return copied


def missing_login(environ: Mapping[str, str], argv: Sequence[str]) -> str | None:
    """Why Flower must not start with this environment and command line, or None."""
    if environ.get(OPT_OUT, "").strip().lower() in TRUE_WORDS:
        return None
    if any(environ.get(PREFIX + option.upper(), "").strip() for option in LOGIN_OPTIONS):
        return None
    for arg in argv:
        name, _, value = arg.removeprefix("--").partition("=")
        if arg.startswith("--") and name.replace("-", "_") in LOGIN_OPTIONS and value.strip():
            return None
    return MISSING_LOGIN


def prepare(environ: MutableMapping[str, str], argv: Sequence[str]) -> None:
    """Load ``.env``'s ``FLOWER_*`` into ``environ``, then exit (status 2) without a login."""
    load_env_file(environ)
    problem = missing_login(environ, argv)
    if problem is not None:
        print(f"flower: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


def install(celery_app: Celery) -> None:
    """Run :func:`prepare` before ``celery -A <celery_app's module> flower`` starts Flower."""
    # Celery sends user_preload_options before a sub-command's body runs, but
    # only when the app declares a preload option: this hidden one is that.
    celery_app.user_options["preload"].add(
        click.Option(["--glipbot-preload"], is_flag=True, hidden=True, help="(internal)")
    )

    def _before_command(sender: Any = None, app: Celery | None = None, **_: Any) -> None:
        if app is not celery_app or getattr(sender, "__module__", None) != "flower.command":
            return
        context = click.get_current_context(silent=True)
        argv = context.params.get("tornado_argv", ()) if context is not None else ()
        prepare(os.environ, list(argv))

    user_preload_options.connect(_before_command, weak=False)
