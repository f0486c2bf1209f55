"""structlog for every process: JSON lines in production, readable on a terminal.

One handler on the root logger renders both structlog events and the
standard library's records (celery, requests, urllib3, pubnub), through the
same processors, so every line carries the same context and passes the same
secret redaction (:mod:`glipbot.redaction`). Context bound with
:func:`bind_context` or :func:`bound_context` (``event_uuid``,
``subscription_id``, ``group_id``, ``task_id``) lives in contextvars and is
added to every line of the current thread or task.

Celery note: a Celery app must not hijack the root logger
(``worker_hijack_root_logger=False``) or must call :func:`configure_logging`
from its ``setup_logging`` signal, or its own handler replaces this one.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any
from urllib.parse import urlsplit

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars
from structlog.typing import EventDict, Processor

from glipbot.redaction import redact_processor, register_secret
from glipbot.settings import Settings

#: Re-exported so callers need one import: bind keys for the rest of this context.
bind_context = bind_contextvars
#: Context manager: bind keys for the duration of a ``with`` block.
bound_context = bound_contextvars
#: Drop every bound key (call at the start of each task or event).
clear_context = clear_contextvars

_HANDLER_MARK = "_glipbot_handler"


def _shared_processors() -> list[Processor]:
    """What both structlog events and foreign stdlib records go through first."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _wants_json(settings: Settings, stream: IO[str]) -> bool:
    if settings.log_format == "json":
        return True
    if settings.log_format == "console":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def build_formatter(settings: Settings, stream: IO[str]) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of the root handler: exceptions to text, redaction, then render.

    Exceptions are formatted to plain text *before* redaction (not left to
    the console renderer's pretty printer) so a secret inside an exception
    message or traceback is masked like any other.
    """
    renderer: Processor
    if _wants_json(settings, stream):
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder(), _drop_task_args],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
            redact_processor,
            renderer,
        ],
    )


def _drop_task_args(_: Any, __: str, event: EventDict) -> EventDict:
    # Celery attaches each task's arguments as ``data`` (its own format never
    # prints them): here they would put every user's message into the logs.
    if str(event.get("logger", "")).startswith("celery"):
        event.pop("data", None)
    return event


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> None:
    """Set up structlog and the standard library's logging for this process.

    Idempotent: calling it again replaces the handler it installed before
    (handlers other code installed are left alone). Registers the secrets of
    ``settings`` for redaction. ``stream`` defaults to ``sys.stderr``.
    """
    out = stream if stream is not None else sys.stderr
    register_secret(
        settings.client_secret,
        settings.password,
        settings.jwt,
        settings.bot_token,
        urlsplit(settings.redis_url).password,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(build_formatter(settings, out))
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name`` (use ``__name__``), with ``initial`` bound."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger
