"""The OAuth calls: log in (password or JWT grant), refresh, revoke.

Only the token owner (:class:`glipbot.platform.tokens.TokenStore`) calls these, under
its Redis lock: RingCentral keeps about five sessions per user and app, so a
process that logs in on its own revokes someone else's.
"""

from __future__ import annotations

from typing import Any

from glipbot.errors import AuthError, BadRequestError, ConfigError, UnauthorizedError
from glipbot.platform.http import HttpTransport
from glipbot.settings import Settings

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
        """Log in with the configured credentials (JWT grant, else password grant)."""
        mode = self._settings.login_mode
        if mode == "jwt":
            return self.jwt_grant(self._settings.jwt)
        if mode == "password":
            return self.password_grant(
                self._settings.username, self._settings.password, self._settings.extension
            )
        raise ConfigError("a static bot token (RINGCENTRAL_BOT_TOKEN) never logs in")

    def password_grant(self, username: str, password: str, extension: str = "") -> dict[str, Any]:
        """``grant_type=password`` with a username (phone or email) and optional extension."""
        form = {"grant_type": "password", "username": username, "password": password}
        if extension:
            form["extension"] = extension
        return self._token(form)

    def jwt_grant(self, assertion: str) -> dict[str, Any]:
        """The JWT bearer grant (today's recommended server-to-server flow)."""
        return self._token({"grant_type": JWT_GRANT_TYPE, "assertion": assertion})

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

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        answer = self._oauth(TOKEN_PATH, form)
        if not isinstance(answer, dict) or not answer.get("access_token"):
            raise AuthError("token endpoint answered without an access_token", body=answer)
        return answer

    def _oauth(self, path: str, form: dict[str, str]) -> Any:
        try:
            return self._transport.request(
                "POST",
                path,
                group=AUTH_GROUP,
                form=form,
                auth=(self._settings.client_id, self._settings.client_secret),
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
