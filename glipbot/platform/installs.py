"""The platform calls of a bot installation: trade a code for a token, ask a token who it is.

RingCentral calls the app's redirect URI at every installation (BOTS.md,
section 2): a private install carries the bot's permanent token, a public
one a code that :meth:`InstallCalls.exchange_code` trades for it. Either way
the token's own answer to :meth:`InstallCalls.whoami` (``GET
/restapi/v1.0/account/~/extension/~``) says which bot extension and which
account it belongs to: ids in the install request itself are never trusted.

Both calls go through the process's shared :class:`~glipbot.platform.http.HttpTransport`
(and so through its cluster-wide rate limiter), but neither uses the
configured bot's token: the code exchange authenticates the app (Basic auth,
as every grant of :class:`~glipbot.platform.auth.Auth` does) and ``whoami``
sends the token it is given. Failures are the errors of :mod:`glipbot.errors`:
a refused code (OAU-109 "Redirect URIs do not match", a used or unknown code)
is an :class:`~glipbot.errors.AuthError`; a refused token is an
:class:`~glipbot.errors.UnauthorizedError` (401), or the
:class:`~glipbot.errors.NotFoundError`/:class:`~glipbot.errors.BadRequestError`
of a deleted extension (OAU-232, CMN-405); 429, 5xx and network failures
are transient. :func:`configured_identity` asks the same of the configured
bot (the ``RINGCENTRAL_*`` settings), which is an installation too.

Neither is the configured bot's call, so neither counts in its rate-limit
buckets (where a burst of installs would starve its own ``wstoken`` and
token refreshes), nor in one shared bucket (which would cap installs at a
bucket's limit a minute, cluster-wide): the platform counts each against
the bot the code or token belongs to, so each counts in a bucket of its own
under :data:`INSTALL_BUCKET`. The listener's periodic check of an installed bot
names the bot, and counts in its buckets.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple, Protocol

from glipbot.errors import ServerError, UnauthorizedError
from glipbot.platform.auth import Auth
from glipbot.platform.endpoints import API, ENDPOINT_GROUPS
from glipbot.platform.http import HttpTransport
from glipbot.settings import Settings

__all__ = [
    "EXTENSION_PATH",
    "INSTALL_BUCKET",
    "BotIdentity",
    "ConfiguredTokens",
    "InstallCalls",
    "configured_identity",
]

#: The rate-limit buckets of the install flow's calls (the bot is not known before them).
INSTALL_BUCKET = "install-flow"
#: The template of the extension endpoint (its rate-limit group's key).
_EXTENSION_TEMPLATE = f"{API}/account/{{accountId}}/extension/{{extensionId}}"
#: The caller's own extension in the caller's own account.
EXTENSION_PATH = f"{API}/account/~/extension/~"


class BotIdentity(NamedTuple):
    """Who a token belongs to: ``(bot_id, account_id, type)``."""

    #: The extension id: the bot's person id, every notification's ``ownerId``.
    bot_id: str
    account_id: str
    #: The extension's type: ``Bot`` for a bot, ``User``, ... for anything else.
    type: str


class InstallCalls:
    """The two calls an installation needs, over a shared transport."""

    def __init__(self, settings: Settings, transport: HttpTransport) -> None:
        self._auth = Auth(settings, transport)
        self._transport = transport

    def exchange_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        """A public install's code for the bot's token (``POST /restapi/oauth/token``).

        The answer is the platform's: ``access_token``, ``token_type``,
        ``expires_in``, ``scope``, ``owner_id`` (the bot extension id),
        ``endpoint_id``. ``redirect_uri`` must be the one registered for the
        app, or the platform refuses (OAU-109).
        """
        # The platform counts the exchange against the code's bot, unknown until it
        # answers: one bucket per code, so that installs never wait on each other.
        return self._auth.authorization_code_grant(code, redirect_uri, bucket=_bucket(code))

    def whoami(self, access_token: str, bot: str | None = None) -> BotIdentity:
        """The extension behind ``access_token`` (``GET /restapi/v1.0/account/~/extension/~``).

        ``bot``: the installed bot the token is known to belong to, whose
        rate-limit buckets the call counts in (None: the token's own bucket in
        the install flow's, :data:`INSTALL_BUCKET`: the platform counts it
        against the token's bot, not known yet).
        """
        answer = self._transport.request(
            "GET",
            EXTENSION_PATH,
            group=ENDPOINT_GROUPS[("GET", _EXTENSION_TEMPLATE)],
            headers={"Authorization": f"Bearer {access_token}"},
            bot=bot or _bucket(access_token),
        )
        account = answer.get("account") if isinstance(answer, dict) else None
        bot_id = answer.get("id") if isinstance(answer, dict) else None
        account_id = account.get("id") if isinstance(account, dict) else None
        if bot_id in (None, "") or account_id in (None, ""):
            # A 200 we cannot use is the platform's fault, like a 5xx.
            raise ServerError(
                f"GET {EXTENSION_PATH} answered without an extension id and account id",
                status=200,
            )
        return BotIdentity(str(bot_id), str(account_id), str(answer.get("type") or ""))


def _bucket(credential: str) -> str:
    """The install flow's rate-limit bucket of one code or token (named by its hash)."""
    return f"{INSTALL_BUCKET}:{hashlib.sha256(credential.encode()).hexdigest()[:16]}"


class ConfiguredTokens(Protocol):
    """The configured bot's token (:class:`glipbot.platform.tokens.TokenStore`)."""

    def access_token(self) -> str:
        """The token to send now."""
        ...

    def on_unauthorized(self, stale_token: str) -> str:
        """The platform refused ``stale_token``: a token to retry with."""
        ...

    def owner_id(self) -> str:
        """The bot's own person id."""
        ...


class _Whoami(Protocol):
    def whoami(self, access_token: str) -> BotIdentity: ...


def configured_identity(tokens: ConfiguredTokens, calls: _Whoami) -> BotIdentity:
    """Who the configured bot (``RINGCENTRAL_*``) is: its token's owner, in ``whoami``'s account.

    Its type is not checked: a user's login serves as the bot, as it always did.
    """
    token = tokens.access_token()
    try:
        who = calls.whoami(token)
    except UnauthorizedError:  # expired since it was read: the store refreshes it once
        who = calls.whoami(tokens.on_unauthorized(token))
    return BotIdentity(tokens.owner_id(), who.account_id, who.type)
