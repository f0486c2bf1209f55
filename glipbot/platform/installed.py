"""An installed bot's token, and how to tell that the platform refused it.

An installed bot (a ``private`` or ``public`` record of
:class:`~glipbot.state.installations.InstallationStore`) calls the platform
with its own permanent token: :class:`InstallationToken` is that token as a
:class:`~glipbot.platform.rest.TokenSource`. The platform refuses it once the
bot is uninstalled (BOTS.md section 3): a 401, or a deleted extension's code
whatever the status (:data:`REFUSED_CODES`); :func:`token_refused` tells such
a refusal from any other failure. Workers and listeners use both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from glipbot import log_events as ev
from glipbot.errors import PlatformError, TokenRefusedError, UnauthorizedError
from glipbot.logging import get_logger
from glipbot.redaction import register_secret

__all__ = ["REFUSED_CODES", "InstallationToken", "token_refused"]

#: The platform's codes for a deleted bot extension (BOTS.md section 3), whatever the status.
REFUSED_CODES = frozenset({"OAU-232", "CMN-405"})

_log = get_logger(__name__)


class InstallationToken:
    """The :class:`~glipbot.platform.rest.TokenSource` of an installed bot: its permanent token.

    On a 401 the installation is read again: a reinstall may have replaced the
    token; otherwise the bot was removed, a :class:`~glipbot.errors.TokenRefusedError`.
    """

    def __init__(self, bot_id: str, token: str, reload: Callable[[str], str | None]) -> None:
        self.bot_id = bot_id
        self._token = token
        self._reload = reload
        register_secret(token)

    def access_token(self) -> str:
        """The bot's token."""
        return self._token

    def replace(self, token: str) -> None:
        """Use ``token`` from now on (a reinstall replaced the stored one)."""
        register_secret(token)
        self._token = token

    def on_unauthorized(self, stale_token: str) -> str:
        """The stored token when it is another one now, else :class:`TokenRefusedError`."""
        fresh = self._reload(self.bot_id)
        if fresh and fresh != stale_token:
            register_secret(fresh)
            self._token = fresh
            _log.info(ev.INSTALLATION_TOKEN_REPLACED, bot_id=self.bot_id)
            return fresh
        raise TokenRefusedError(self.bot_id, status=401)


def token_refused(error: BaseException, scope: str | None) -> bool:
    """Whether ``error`` (or what caused it) is the platform refusing the token of installed
    bot ``scope``: a 401 or a deleted extension's code. Never for the configured bot
    (``scope`` None), whose token the token store renews."""
    if scope is None:
        return False
    for cause in _chain(error):
        if isinstance(cause, TokenRefusedError | UnauthorizedError):
            return True
        if isinstance(cause, PlatformError) and cause.error_code in REFUSED_CODES:
            return True
    return False


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
