"""Every error the platform client and the workers raise, in one hierarchy.

::

    PlatformError
    ├── ConfigError                 settings are wrong; fix and restart
    ├── TransientError              retried (back-off, or after Retry-After)
    │   ├── RetryLater              not a failure: the work waits its turn (retry_after)
    │   ├── RateLimitedError        429; carries retry_after
    │   ├── ServerError             5xx
    │   └── NetworkError            timeout, connection refused/reset
    └── PermanentError              never retried; dead-lettered
        ├── AuthError               login/refresh refused (bad credentials, revoked)
        │   ├── LoginRefusedError   the configured credentials were refused: names the setting
        │   └── UnauthorizedError   401 on an API call: the access token is expired or unknown
        ├── NotFoundError           404
        ├── BadRequestError         other 4xx
        ├── InvalidEventError       a notification that cannot be understood
        └── DeadLetteredError       given up on and kept as a dead letter
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from glipbot.platform.http import RateLimitInfo


class PlatformError(Exception):
    """Base of every error raised by this project's platform code."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        body: Any = None,
        rate_limit: RateLimitInfo | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.body = body
        #: The ``X-Rate-Limit-*`` headers of the response that failed, if any.
        self.rate_limit = rate_limit


class ConfigError(PlatformError):
    """A setting is missing or malformed."""


class TransientError(PlatformError):
    """A failure that may succeed later: retry with back-off."""


class RetryLater(TransientError):
    """Not a failure: the work must wait (its chat's turn, a reply another worker holds).

    Retried after ``retry_after`` seconds without using up attempts.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(TransientError):
    """429: wait ``retry_after`` seconds before calling this group again."""

    def __init__(self, message: str, *, retry_after: float, group: str | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.group = group


class ServerError(TransientError):
    """5xx from the platform."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class NetworkError(TransientError):
    """Timeout or connection failure: the request may or may not have arrived."""


class PermanentError(PlatformError):
    """A failure that retrying cannot fix."""


class AuthError(PermanentError):
    """Login or refresh refused by the platform."""


class TokenRefusedError(AuthError):
    """The platform refused the token of installed bot ``bot_id`` (401, ``OAU-232``,
    ``CMN-405``): the bot was removed from its account. The token is never in the message."""

    def __init__(self, bot_id: str, **kw: Any) -> None:
        super().__init__(f"the platform refused the token of bot {bot_id}", **kw)
        self.bot_id = bot_id


class LoginRefusedError(AuthError):
    """The platform refused the configured credentials; retrying soon cannot help.

    ``setting`` names the variable to fix (``RINGCENTRAL_PASSWORD``,
    ``RINGCENTRAL_CLIENT_SECRET``, ``RINGCENTRAL_JWT`` or
    ``RINGCENTRAL_BOT_TOKEN``). ``retry_after`` is how long the token store
    waits before it tries these credentials again (``None`` before it
    recorded the refusal): a caller that retries should wait as long.
    """

    def __init__(
        self, message: str, *, setting: str, retry_after: float | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.setting = setting
        self.retry_after = retry_after


class UnauthorizedError(AuthError):
    """401 on an API call: the access token expired, was revoked or is unknown.

    The REST client answers it by asking the token store for a fresh token and
    retrying once; it only escapes when that retry is refused too.
    """


class NotFoundError(PermanentError):
    """404: the resource (chat, person, subscription) does not exist (any more)."""


class BadRequestError(PermanentError):
    """Any other 4xx."""


class InvalidEventError(PermanentError):
    """A notification that is malformed or of an unknown kind; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeadLetteredError(PermanentError):
    """The input was kept as a dead letter (with ``reason``) and will not be retried.

    Tasks raise it last so that the task shows as failed (in Flower, in its
    result) rather than as a success that did nothing.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
