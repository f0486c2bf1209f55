"""The installations' part of the control API, under ``/sandbox/installations`` (no auth).

==============================================  ================================================
``POST   /sandbox/installations``               ``{"kind": "private"|"public", "redirect_uri",
                                                "people"?: 2 (0..50), "account_id"?,
                                                "encoding"?: "json"|"form"}`` → **201**
                                                ``{"account_id", "bot_id", "kind",
                                                "creator_extension_id", "people": [{"id",
                                                "username", "password"}]}``; then the redirect
                                                URI is called in the background
``GET    /sandbox/installations``               ``{"installations": [...], "config": {...}}``
``GET    /sandbox/installations/{bot_id}``      one installation (404 if none)
``DELETE /sandbox/installations/{bot_id}``      uninstall (an installed bot or the seed's):
                                                200 ``{"bot_id", "account_id", "kind", "state",
                                                "delete_notifications",
                                                "subscriptions_deleted", "tokens_revoked"}``
``GET    /sandbox/installations/config``        ``{"config"}``
``POST   /sandbox/installations/config``        any of ``notReadySeconds``,
                                                ``authCodeLifetime``, ``redirectTimeout``,
                                                ``removedErrorCode`` → ``{"config"}``
==============================================  ================================================

An installation in the list: ``{"account_id", "bot_id", "kind", "state", "redirect_uri",
"creator_extension_id", "created_at", "ready", "ready_at", "uninstalled_at",
"redirect": {"method", "url", "status", "error", "started_at", "finished_at"}}``
(see :mod:`sandbox.installations` for the states). ``account_id`` installs into an
existing account that has no bot (e.g. again after an uninstall; ``people``, 0
allowed, are added to it); the answer's ``people`` are then all the account's
people, the creator first.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from yarl import URL

from sandbox.clock import Clock
from sandbox.errors import invalid, missing, not_found, read_json_object
from sandbox.installations import KINDS, PRIVATE, Installations, InstallError

PREFIX = "/sandbox/installations"
DEFAULT_PEOPLE = 2
MAX_PEOPLE = 50
ENCODINGS = ("json", "form")


class InstallationControl:
    """Handlers of the installation control endpoints."""

    def __init__(self, installations: Installations, clock: Clock) -> None:
        self._installations = installations
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes (``config`` before the bot id, which is digits only)."""
        return [
            web.post(PREFIX, self.install),
            web.get(PREFIX, self.list),
            web.get(PREFIX + "/config", self.config),
            web.post(PREFIX + "/config", self.configure),
            web.get(PREFIX + r"/{bot_id:\d+}", self.read),
            web.delete(PREFIX + r"/{bot_id:\d+}", self.uninstall),
        ]

    async def install(self, request: web.Request) -> web.StreamResponse:
        """Install the bot; answer 201 first, then call the redirect URI in the background."""
        body = await read_json_object(request)
        kind = body.get("kind")
        if kind is None:
            raise missing("kind")
        if kind not in KINDS:
            raise invalid("kind", " or ".join(KINDS))
        redirect_uri = _redirect_uri(body.get("redirect_uri"))
        account_id = body.get("account_id")
        if account_id is not None and not isinstance(account_id, str):
            raise invalid("account_id", "a string")
        people = body.get("people", DEFAULT_PEOPLE)
        if isinstance(people, bool) or not isinstance(people, int) or not 0 <= people <= MAX_PEOPLE:
            raise invalid("people", f"an integer from 0 to {MAX_PEOPLE}")
        encoding = body.get("encoding", "json")
        if encoding not in ENCODINGS or (encoding != "json" and kind != PRIVATE):
            raise invalid("encoding", "json or form (form for a private install only)")
        try:
            installation = self._installations.install(
                kind, redirect_uri, people, account_id, encoding
            )
        except InstallError as exc:
            raise invalid(exc.parameter, exc.why) from None
        response = web.json_response(installation.answer(), status=201)
        # RingCentral calls the redirect URI after the install is done: send the answer first.
        await response.prepare(request)
        await response.write_eof()
        self._installations.call_redirect(installation)
        return response

    async def list(self, request: web.Request) -> web.Response:
        """Every installation since the last reset, oldest first, and the settings."""
        now = self._clock()
        return web.json_response(
            {
                "installations": [i.to_json(now) for i in self._installations.all()],
                "config": self._installations.settings.to_json(),
            }
        )

    async def read(self, request: web.Request) -> web.Response:
        """One installation."""
        found = self._installations.get(request.match_info["bot_id"])
        if found is None:
            raise not_found("bot_id")
        return web.json_response(found.to_json(self._clock()))

    async def uninstall(self, request: web.Request) -> web.Response:
        """Remove a bot: Delete events, then its subscriptions, tokens and extension."""
        done = self._installations.uninstall(request.match_info["bot_id"])
        if done is None:
            raise not_found("bot_id")
        return web.json_response(done)

    async def config(self, request: web.Request) -> web.Response:
        """The settings."""
        return web.json_response({"config": self._installations.settings.to_json()})

    async def configure(self, request: web.Request) -> web.Response:
        """Change settings."""
        fields = await read_json_object(request, required=False)
        return web.json_response({"config": self._installations.configure(fields).to_json()})


def _redirect_uri(value: Any) -> str:
    if value is None:
        raise missing("redirect_uri")
    try:
        url = URL(value) if isinstance(value, str) else None
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise invalid("redirect_uri", "an absolute http or https URL")
    return str(value)
