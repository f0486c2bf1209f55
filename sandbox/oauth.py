"""``/restapi/oauth/token`` and ``/restapi/oauth/revoke``, and bearer authentication.

Client authentication is HTTP Basic ``client_id:client_secret``. Grants:

- ``password``: ``username`` is an email, a person's own phone number, or the
  company's main number together with ``extension``.
- ``urn:ietf:params:oauth:grant-type:jwt-bearer`` with ``assertion``: the
  sandbox defines the JWT as HS256-signed with the **client secret**; ``sub``
  is the person's id or email; ``exp`` (epoch seconds) is checked when present.
- ``refresh_token``: single-use rotation (see :mod:`sandbox.tokens`).
- ``authorization_code`` with ``code`` and ``redirect_uri``: a public bot's
  installation code (:mod:`sandbox.auth_codes`), exchanged once for the bot's
  permanent token (no refresh token).

Optional ``access_token_ttl`` shortens the access token's life (never
lengthens it past ``--token-lifetime``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from sandbox.clock import Clock
from sandbox.errors import ApiError, api_error, oauth_body
from sandbox.seed import SeedPerson
from sandbox.store import Store
from sandbox.tokens import Session, TokenTable

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CODE_GRANT = "authorization_code"
#: What a call with a removed extension's token answers (BOTS.md §3), by error code.
REMOVED_ERRORS = {
    "OAU-232": "Extension not found",
    "CMN-405": "Login to extension required",
}
DEFAULT_REMOVED_ERROR = "OAU-232"
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~+/=-]{8,}$")  # RFC 6750 b64token


@dataclass(frozen=True)
class Identity:
    """Who makes an API call: a person, through an app."""

    person_id: str
    client_id: str


def _bad_grant(description: str, code: str = "OAU-140") -> ApiError:
    return ApiError(400, oauth_body("invalid_grant", description, code))


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class Codes(Protocol):
    """What the token endpoint needs of :class:`sandbox.auth_codes.AuthCodeTable`."""

    def redeem(self, value: str, client_id: str, redirect_uri: str) -> str:
        """Use a code up; the bot id it was issued for (raises :class:`ApiError`)."""
        ...

    def owner(self, value: str) -> str | None:
        """The bot a code was issued for, or None for an unknown code."""
        ...


class OAuth:
    """The token endpoints and the bearer check of every API call.

    ``codes`` serves the ``authorization_code`` grant (none: the grant is
    unsupported); ``removed_error`` names the error code a removed extension's
    token answers (a key of :data:`REMOVED_ERRORS`), read at each call.
    """

    def __init__(
        self,
        store: Store,
        tokens: TokenTable,
        clock: Clock,
        codes: Codes | None = None,
        removed_error: Callable[[], str] = lambda: DEFAULT_REMOVED_ERROR,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._clock = clock
        self._codes = codes
        self._removed_error = removed_error

    # bearer authentication

    def authenticate(self, request: web.Request) -> Identity:
        """The caller of an API call, or 401 with the platform's OAU code."""
        session = self.session_of(request)
        return Identity(session.person_id, session.client_id)

    def session_of(self, request: web.Request) -> Session:
        """The login (OAuth session) of an API call's bearer token; 401 as :meth:`authenticate`."""
        token = _bearer(request)
        if token is None:
            raise api_error(401, "OAU-123", "Authorization header is not specified")
        if not _TOKEN_CHARS.match(token):
            raise api_error(401, "OAU-149", "Invalid token: cannot be parsed")
        state, session = self._tokens.lookup(token)
        if state == "expired":
            raise api_error(401, "OAU-128", "Access token expired")
        if state == "removed":
            code = self._removed_error()
            raise api_error(401, code, REMOVED_ERRORS.get(code, "Extension not found"))
        if session is None:
            raise api_error(401, "OAU-213", "Token not found")
        request["who"] = session.person_id
        return session

    def peek(self, request: web.Request) -> Identity | None:
        """The caller if the bearer token is valid, else None; never raises."""
        token = _bearer(request)
        if not token:
            return None
        state, session = self._tokens.lookup(token)
        return Identity(session.person_id, session.client_id) if state == "ok" and session else None

    async def auth_subject(self, request: web.Request) -> str:
        """Whom an Auth-group call counts against: the login named, the bot a code was
        issued for (limits are per user and app), the token's owner, else the client's IP."""
        form = await request.post() if request.content_type.endswith("urlencoded") else {}
        username = str(form.get("username", "")).strip().lower()
        if username:
            return f"user:{username}"
        code = str(form.get("code") or "")
        owner = self._codes.owner(code) if code and self._codes is not None else None
        if owner is not None:
            return f"person:{owner}"
        token = str(form.get("refresh_token") or form.get("token") or "")
        session = self._tokens.find(token) if token else None
        if session is not None:
            return f"person:{session.person_id}"
        return f"ip:{request.remote}"

    # endpoints

    async def token(self, request: web.Request) -> web.Response:
        """``POST /restapi/oauth/token``."""
        client_id = self._client(request)
        form = await self._form(request)
        grant = form.get("grant_type", "")
        if grant == "password":
            person = self._password_login(form)
        elif grant == JWT_GRANT:
            person = self._jwt_login(form.get("assertion", ""))
        elif grant == "refresh_token":
            session = self._tokens.refresh(form.get("refresh_token", ""), client_id)
            if session is None:
                raise _bad_grant("Token not found or expired", "OAU-211")
            request["who"] = session.person_id
            return web.json_response(session.token_response(self._now()))
        elif grant == CODE_GRANT and self._codes is not None:
            session = self._exchange(form, client_id)
            request["who"] = session.person_id
            return web.json_response(session.token_response(self._now()))
        elif not grant:
            raise ApiError(400, oauth_body("invalid_request", "grant_type is required", "OAU-121"))
        else:
            raise ApiError(
                400,
                oauth_body("unsupported_grant_type", f"Unsupported grant type {grant}", "OAU-112"),
            )
        ttl = form.get("access_token_ttl", "")
        session = self._tokens.issue(person.id, client_id, int(ttl) if ttl.isdigit() else None)
        request["who"] = person.id
        return web.json_response(session.token_response(self._now()))

    async def revoke(self, request: web.Request) -> web.Response:
        """``POST /restapi/oauth/revoke``: end the session of an access or refresh token."""
        self._client(request)
        form = await self._form(request)
        token = form.get("token", "")
        if not token:
            raise ApiError(400, oauth_body("invalid_request", "token is required", "OAU-121"))
        session = self._tokens.find(token)
        if session is not None:
            request["who"] = session.person_id
            self._tokens.revoke(session)
        return web.Response(status=200)

    def _exchange(self, form: dict[str, str], client_id: str) -> Session:
        """A public bot's installation code for the bot's permanent token (once)."""
        assert self._codes is not None
        code = form.get("code", "")
        if not code:
            raise ApiError(400, oauth_body("invalid_request", "code is required", "OAU-121"))
        bot_id = self._codes.redeem(code, client_id, form.get("redirect_uri", ""))
        if self._store.person(bot_id) is None:  # uninstalled before the exchange
            raise _bad_grant("Invalid authorization code", "OAU-106")
        return self._tokens.issue_bot(bot_id, client_id)

    # helpers

    def _now(self) -> float:
        return self._clock()

    def _client(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, sep, secret = decoded.partition(":")
        seed = self._store.seed
        if (
            scheme.lower() != "basic"
            or not sep
            or client_id != seed.client_id
            or not hmac.compare_digest(secret, seed.client_secret)
        ):
            raise ApiError(
                401,
                oauth_body(
                    "invalid_client", "Invalid client: wrong client id or secret", "OAU-123"
                ),
                {"WWW-Authenticate": 'Basic realm="RingCentral"'},
            )
        return client_id

    async def _form(self, request: web.Request) -> dict[str, str]:
        if not request.content_type.endswith("x-www-form-urlencoded"):
            raise ApiError(
                415,
                oauth_body(
                    "invalid_request",
                    "Content-Type must be application/x-www-form-urlencoded",
                    "OAU-101",
                ),
            )
        form = await request.post()
        return {k: str(v) for k, v in form.items()}

    def _password_login(self, form: dict[str, str]) -> SeedPerson:
        username = form.get("username", "").strip()
        password = form.get("password", "")
        if not username or not password:
            raise _bad_grant("username and password are required", "OAU-140")
        person = self._find_login(username, form.get("extension", "").strip())
        if person is None or not hmac.compare_digest(person.password, password):
            raise _bad_grant("Invalid resource owner credentials")
        return person

    def _find_login(self, username: str, extension: str) -> SeedPerson | None:
        person = self._store.directory.find_login(username, extension)
        # A bot extension has no password; its password grant fails as a wrong one.
        return person if person is not None and person.password else None

    def _jwt_login(self, assertion: str) -> SeedPerson:
        claims = _verify_jwt(assertion, self._store.seed.client_secret)
        if claims is None:
            raise _bad_grant("Invalid JWT assertion", "OAU-140")
        exp = claims.get("exp")
        if exp is not None and (not isinstance(exp, int | float) or exp <= self._now()):
            raise _bad_grant("JWT assertion is expired", "OAU-140")
        sub = str(claims.get("sub", ""))
        person = self._store.person(sub) or self._store.person_by_email(sub)
        if person is None:
            raise _bad_grant("JWT subject is unknown", "OAU-140")
        return person


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify_jwt(token: str, secret: str) -> dict[str, Any] | None:
    """The claims of an HS256 JWT signed with ``secret``, or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return None
    expected = hmac.new(
        secret.encode(), f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256
    ).digest()
    return claims if hmac.compare_digest(expected, signature) else None


def make_jwt(claims: dict[str, Any], secret: str) -> str:
    """Sign ``claims`` as an HS256 JWT the sandbox accepts (for tests and bot authors)."""

    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{body}.{enc(sig)}"
