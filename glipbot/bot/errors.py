"""Errors of the bot framework, drawn into :mod:`glipbot.errors`' hierarchy.

::

    PlatformError                       (glipbot.errors)
    └── HandlerError                    a handler raised; names the handler and the event
        ├── PermanentHandlerError       also a PermanentError: a bug or input the handler
        │                               cannot take; dead-letter it, never retry
        └── TransientHandlerError       also a TransientError: the handler's own call to the
                                        platform failed transiently; retry the whole event

Retrying a whole event is safe because :meth:`glipbot.bot.Bot.handle` only
records replies: a second run produces the same replies under the same keys.
"""

from __future__ import annotations

from glipbot.errors import PermanentError, PlatformError, TransientError


class HandlerError(PlatformError):
    """A bot handler raised; the original exception is chained as ``__cause__``."""

    def __init__(self, message: str, *, handler: str, event_uuid: str, group_id: str) -> None:
        super().__init__(message)
        self.handler = handler
        self.event_uuid = event_uuid
        self.group_id = group_id


class PermanentHandlerError(HandlerError, PermanentError):
    """The handler failed in a way that running it again cannot fix."""


class TransientHandlerError(HandlerError, TransientError):
    """The handler failed because a platform call failed transiently (timeout, 5xx, 429)."""
