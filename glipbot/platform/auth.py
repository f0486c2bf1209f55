"""The OAuth calls: log in (password or JWT grant), refresh, revoke.

Only the token owner (:class:`glipbot.platform.tokens.TokenStore`) calls these, under
its Redis lock: RingCentral keeps about five sessions per user and app, so a
process that logs in on its own revokes someone else's.

A login the token endpoint refuses (400 ``invalid_grant``, 401
``invalid_client``, ...) raises :class:`~glipbot.errors.LoginRefusedError`
naming the setting to fix: trying the same credentials again cannot help.
"""

from __future__ import annotations

from typing import Any

from glipbot.errors import (
    AuthError,
    BadRequestError,
    ConfigError,
    LoginRefusedError,
    UnauthorizedError,
)
from glipbot.platform.http import HttpTransport
from glipbot.settings import LoginMode, Settings

TOKEN_PATH = "/restapi/oauth/token"  # noqa: S105 - a URL path, not a password
REVOKE_PATH = "/restapi/oauth/revoke"
#: The caller's own person; the sandbox and RingCentral both answer it.
WHOAMI_PATH = "/restapi/v1.0/glip/persons/~"
JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Rate-limit group of the OAuth endpoints.
AUTH_GROUP = "Auth"


class Auth:
    """OAuth client of one app (client id and secret), over a shared transport.

    Every method returns the platform's token response as a dict
    (``access_token``, ``expires_in``, ``refresh_token``,
    ``refresh_token_expires_in``, ``owner_id``, ...). A refused grant raises
    :class:`~glipbot.errors.AuthError`; 429, 5xx and network failures raise
    the transient errors of :mod:`glipbot.errors` unchanged.
    """

    def __init__(self, settings: Settings, transport: HttpTransport) -> None:
        self._settings = settings
        self._transport = transport

    def login(self) -> dict[str, Any]:
        """Log in with the configured credentials (JWT grant, else password grant).

        A refusal raises :class:`~glipbot.errors.LoginRefusedError` naming the setting.
        """
        mode = self._settings.login_mode
        if mode == "bot_token":
            raise ConfigError("a static bot token (RINGCENTRAL_BOT_TOKEN) never logs in")
        try:
            if mode == "jwt":
                return self.jwt_grant(self._settings.jwt)
            return self.password_grant(
                self._settings.username, self._settings.password, self._settings.extension
            )
        except AuthError as exc:
            if exc.status is None:  # an answer without a token: not about the credentials
                raise
            raise login_refused(exc, mode, self._settings.username) from exc

    def password_grant(self, username: str, password: str, extension: str = "") -> dict[str, Any]:
        """``grant_type=password`` with a username (phone or email) and optional extension."""
        form = {"grant_type": "password", "username": username, "password": password}
        if extension:
            form["extension"] = extension
        return self._token(form)

    def jwt_grant(self, assertion: str) -> dict[str, Any]:
        """The JWT bearer grant (today's recommended server-to-server flow)."""
        return self._token({"grant_type": JWT_GRANT_TYPE, "assertion": assertion})

    def authorization_code_grant(
        self, code: str, redirect_uri: str, *, bucket: str | None = None
    ) -> dict[str, Any]:
        """A public bot install's code for the bot's permanent token (BOTS.md, section 2).

        ``bucket``: the rate-limit bucket the call counts in (None: the configured bot's).
        """
        return self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}, bucket
        )

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Trade a refresh token for a new token pair (the old access token dies at once)."""
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, token: str) -> None:
        """End the whole session that ``token`` (access or refresh) belongs to."""
        self._oauth(REVOKE_PATH, {"token": token})

    def whoami(self, access_token: str) -> dict[str, Any]:
        """The Person that ``access_token`` belongs to (``id`` is the bot's person id)."""
        person: dict[str, Any] = self._transport.request(
            "GET",
            WHOAMI_PATH,
            group="Light",
            headers={"Authorization": f"Bearer {access_token}"},
        )
        return person

    def _token(self, form: dict[str, str], bucket: str | None = None) -> dict[str, Any]:
        answer = self._oauth(TOKEN_PATH, form, bucket)
        if not isinstance(answer, dict) or not answer.get("access_token"):
            raise AuthError("token endpoint answered without an access_token", body=answer)
        return answer

    def _oauth(self, path: str, form: dict[str, str], bucket: str | None = None) -> Any:
        try:
            return self._transport.request(
                "POST",
                path,
                group=AUTH_GROUP,
                form=form,
                auth=(self._settings.client_id, self._settings.client_secret),
                bot=bucket,
            )
        except (UnauthorizedError, BadRequestError) as exc:
            # A refused grant is a login failure, not an expired API token:
            # the REST client must not answer it with another refresh.
            raise AuthError(
                str(exc),
                status=exc.status,
                error_code=exc.error_code,
                body=exc.body,
                rate_limit=exc.rate_limit,
            ) from exc


def login_refused(exc: AuthError, mode: LoginMode, username: str = "") -> LoginRefusedError:
    """The :class:`~glipbot.errors.LoginRefusedError` for a refused ``mode`` login.

    The setting it names follows the OAuth error: ``invalid_client`` (or any
    401) is the app's id or secret, ``unauthorized_client`` and
    ``unsupported_grant_type`` are the app's permissions, anything else
    (``invalid_grant``: OAU-140) is the login's own credential.
    """
    oauth_error = exc.body.get("error") if isinstance(exc.body, dict) else None
    codes = " ".join(str(c) for c in (exc.status, oauth_error, exc.error_code) if c)
    codes = " ".join(dict.fromkeys(codes.split()))  # the error code may repeat the OAuth error
    if exc.status == 401 or oauth_error == "invalid_client":
        setting = "RINGCENTRAL_CLIENT_SECRET"
        what = "the app's client id or secret"
        fix = "RINGCENTRAL_CLIENT_SECRET (or RINGCENTRAL_CLIENT_ID)"
    elif oauth_error in ("unauthorized_client", "unsupported_grant_type"):
        setting = "RINGCENTRAL_CLIENT_ID"
        what = f"{mode} logins by this app"
        fix = "the app's grant types (in RingCentral's developer console), or RINGCENTRAL_CLIENT_ID"
    elif mode == "jwt":
        setting = "RINGCENTRAL_JWT"
        what = "the JWT login"
        fix = "RINGCENTRAL_JWT"
    else:
        setting = "RINGCENTRAL_PASSWORD"
        what = f"the password login of {username!r}" if username else "the password login"
        fix = "RINGCENTRAL_PASSWORD (or RINGCENTRAL_USERNAME, RINGCENTRAL_EXTENSION)"
    return LoginRefusedError(
        f"the platform refused {what} ({codes}): fix {fix}",
        setting=setting,
        status=exc.status,
        error_code=exc.error_code,
        body=exc.body,
        rate_limit=exc.rate_limit,
    )
