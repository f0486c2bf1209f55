"""``/bot/oauth``: bots installed into RingCentral accounts become installations.

RingCentral calls the app's redirect URI at every installation (BOTS.md,
section 2), and every listener serves it on its HTTP port (beside
``/healthz``), so installing is as available as the listeners are:

* **private** install: ``POST`` with ``access_token``, ``creator_extension_id``,
  ``creator_account_id`` and ``client_id``, as JSON or as a form;
* **public** install: ``GET ?code=…&creator_extension_id=…``; the code is
  traded for the token with the app's redirect URI (``BOT_REDIRECT_URI``, or
  the URL the request arrived at).

Either way the token is asked who it is (``GET …/extension/~``): the bot id
and the account come from that answer, never from the request, and the
extension must be a ``Bot``. The token is then stored as one installation
per bot (:class:`~glipbot.state.installations.InstallationStore`: a reinstall
replaces the token) and the answer is a quick, empty 200. No subscription
is made here; the leading listener makes one for every active installation.

Anything else is refused with a short JSON body ``{"error", "message"}``, one
``install_refused`` (4xx) or ``install_failed`` (5xx) log line naming the
cause, and a count in ``glipbot_listener_installs_total{kind, result}``:

====  =====================================================================
400   a field missing or unreadable (``bad_request``)
401   the platform refused the token or the code (``refused``)
403   another app's ``client_id`` (``wrong_client``); not a bot (``not_a_bot``)
405   a method other than GET and POST (``method_not_allowed``)
413   a body over :data:`MAX_BODY` bytes (``too_large``)
502   the platform failed or could not be reached (``platform_error``)
503   rate limited, too many installs at once, or Redis down (``unavailable``)
====  =====================================================================

The token and the code are registered as secrets before anything is logged,
and only ids are logged. The configured bot (the ``RINGCENTRAL_*`` settings)
is an installation too: :mod:`listener.configured` records it at start.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl

import redis
from aiohttp import web

from glipbot import log_events as ev
from glipbot.errors import (
    PermanentError,
    PlatformError,
    RateLimitedError,
)
from glipbot.logging import get_logger
from glipbot.platform.installs import BotIdentity
from glipbot.redaction import register_secret
from glipbot.settings import Settings
from glipbot.state.installations import Installation, InstallationStore, Kind
from listener.metrics import Metrics

log = get_logger(__name__)

#: Where RingCentral calls the app at each installation (chatbot-js' path).
INSTALL_PATH = "/bot/oauth"
#: The largest install body read; RingCentral's is four short fields.
MAX_BODY = 16 * 1024
#: Installs handled at once. Their platform calls run in the event loop's
#: default executor, which the subscription keeper needs too; a flood of
#: requests must not take all of its threads.
MAX_CONCURRENT = 2
#: Seconds an install waits for its turn before it is answered 503.
QUEUE_TIMEOUT = 5.0
#: The platform's error code for a redirect URI other than the app's registered one.
REDIRECT_MISMATCH = "OAU-109"
#: The extension type a bot's token must belong to.
BOT_TYPE = "Bot"

_T = TypeVar("_T")


class InstallPlatform(Protocol):
    """The platform calls of an install (:class:`glipbot.platform.installs.InstallCalls`)."""

    def exchange_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        """A public install's code for the bot's token."""
        ...

    def whoami(self, access_token: str, bot: str | None = None) -> BotIdentity:
        """The extension behind ``access_token`` (counted in ``bot``'s buckets when known)."""
        ...


class _Refused(Exception):
    """An install answered with something other than 200."""

    def __init__(
        self,
        status: int,
        result: str,
        cause: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.result = result  # the counter's label
        self.cause = cause  # the log line's
        self.message = message  # the caller's
        self.headers = headers or {}
        self.fields = fields  # more for the log line (ids, error codes; never a secret)


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _bad_request(cause: str, message: str) -> _Refused:
    return _Refused(400, "bad_request", cause, message)


class InstallHandler:
    """The ``/bot/oauth`` endpoint: :meth:`routes` to mount on an aiohttp app."""

    def __init__(
        self,
        settings: Settings,
        platform: InstallPlatform,
        store: InstallationStore,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._platform = platform
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)

    def routes(self) -> list[web.RouteDef]:
        """Every method on :data:`INSTALL_PATH` (so that others get a JSON 405 too)."""
        return [web.route("*", INSTALL_PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        """Install, answer 200 with an empty body; or refuse (see the module docstring)."""
        kind = _kind_of(request)
        try:
            installation, new = await self._install(kind, request)
        except _Refused as refused:
            return self._refuse(kind, request, refused)
        except Exception as exc:  # a bug: still one line, a count and a JSON body
            log.exception(ev.INSTALL_FAILED, kind=kind, status=500, cause="internal_error")
            self._metrics.inc("installs", kind=kind, result="internal_error")
            body = {"error": "internal_error", "message": type(exc).__name__}
            return web.json_response(body, status=500)
        self._metrics.inc("installs", kind=kind, result="installed" if new else "reinstalled")
        log.info(
            ev.INSTALL_ACCEPTED,
            kind=kind,
            bot_id=installation.bot_id,
            account_id=installation.account_id,
            creator_extension_id=installation.creator_extension_id,
            new=new,
        )
        return web.Response(status=200)

    async def _install(self, kind: str, request: web.Request) -> tuple[Installation, bool]:
        if request.method not in ("GET", "POST"):
            raise _Refused(
                405,
                "method_not_allowed",
                "method_not_allowed",
                "use GET or POST",
                headers={"Allow": "GET, POST"},
            )
        try:
            await asyncio.wait_for(self._slots.acquire(), QUEUE_TIMEOUT)
        except TimeoutError:
            raise _Refused(
                503,
                "unavailable",
                "busy",
                "too many installs at once",
                headers=_retry_after(QUEUE_TIMEOUT),
            ) from None
        try:
            if kind == "public":
                return await self._public(request)
            return await self._private(request)
        finally:
            self._slots.release()

    async def _private(self, request: web.Request) -> tuple[Installation, bool]:
        fields = await _read_fields(request)
        token, client_id = fields.get("access_token", ""), fields.get("client_id", "")
        register_secret(token)  # before anything can log it
        missing = [name for name in ("access_token", "client_id") if not fields.get(name)]
        if missing:
            raise _bad_request("missing_fields", f"missing {', '.join(missing)}")
        if not hmac.compare_digest(client_id.encode(), self._settings.client_id.encode()):
            raise _Refused(403, "wrong_client", "wrong_client_id", "client_id is not this app's")
        identity = await self._call(self._platform.whoami, token, refused="token_refused")
        return await self._save(
            identity, "private", token, fields.get("creator_extension_id") or None
        )

    async def _public(self, request: web.Request) -> tuple[Installation, bool]:
        code = request.query.get("code", "")
        register_secret(code)
        if not code:
            raise _bad_request("missing_fields", "missing code")
        redirect_uri = self._settings.bot_redirect_uri or (
            f"{request.scheme}://{request.host}{INSTALL_PATH}"
        )
        grant = await self._call(
            self._platform.exchange_code,
            code,
            redirect_uri,
            refused="code_refused",
            redirect_uri=redirect_uri,
        )
        token = str(grant["access_token"])
        register_secret(token)
        identity = await self._call(self._platform.whoami, token, refused="token_refused")
        creator = request.query.get("creator_extension_id") or None
        return await self._save(identity, "public", token, creator)

    async def _save(
        self, identity: BotIdentity, kind: Kind, token: str, creator: str | None
    ) -> tuple[Installation, bool]:
        if identity.type != BOT_TYPE:
            raise _Refused(
                403,
                "not_a_bot",
                "not_a_bot",
                f"the token belongs to a {identity.type or 'non-bot'} extension, not a bot",
                bot_id=identity.bot_id,
                account_id=identity.account_id,
            )
        installation = Installation(
            identity.bot_id,
            identity.account_id,
            kind,
            self._clock(),
            token=token,
            creator_extension_id=creator,
        )
        try:
            new = await asyncio.to_thread(self._store.put, installation)
        except redis.RedisError as exc:
            raise _Refused(
                503, "unavailable", "redis_unavailable", "storage unavailable", error=repr(exc)
            ) from exc
        return installation, new

    async def _call(self, call: Callable[..., _T], *args: str, refused: str, **fields: Any) -> _T:
        """``call(*args)`` in a thread, its failures as refusals (401, 502 or 503)."""
        try:
            return await asyncio.to_thread(call, *args)
        except RateLimitedError as exc:
            raise _Refused(
                503,
                "unavailable",
                "rate_limited",
                "the platform is busy, try again later",
                headers=_retry_after(exc.retry_after),
                error_code=exc.error_code,
                **fields,
            ) from exc
        except PermanentError as exc:
            hint = (
                "set BOT_REDIRECT_URI to the app's registered redirect URI"
                if exc.error_code == REDIRECT_MISMATCH
                else None
            )
            raise _Refused(
                401,
                "refused",
                refused,
                "the platform refused the " + refused.removesuffix("_refused"),
                error_code=exc.error_code,
                platform_status=exc.status,
                hint=hint,
                **fields,
            ) from exc
        except PlatformError as exc:  # 5xx, network failures: transient
            raise _Refused(
                502,
                "platform_error",
                "platform_unavailable",
                "the platform could not be reached",
                error=str(exc),
                **fields,
            ) from exc

    def _refuse(self, kind: str, request: web.Request, refused: _Refused) -> web.Response:
        self._metrics.inc("installs", kind=kind, result=refused.result)
        fields = {k: v for k, v in refused.fields.items() if v is not None}
        fields.update(
            kind=kind,
            method=request.method,
            status=refused.status,
            cause=refused.cause,
            remote=request.remote,
        )
        if refused.status < 500:
            log.warning(ev.INSTALL_REFUSED, **fields)
        else:
            log.error(ev.INSTALL_FAILED, **fields)
        body = {"error": refused.cause, "message": refused.message}
        return web.json_response(body, status=refused.status, headers=refused.headers)


def _kind_of(request: web.Request) -> str:
    """``public`` with a code (a GET, or a POST as chatbot-js also accepts), else ``private``."""
    if request.method == "GET" or (request.method == "POST" and "code" in request.query):
        return "public"
    return "private" if request.method == "POST" else "unknown"


async def _read_fields(request: web.Request) -> dict[str, str]:
    """The private install's fields: a JSON object or a form (first value of each)."""
    too_large = _Refused(413, "too_large", "too_large", f"the body exceeds {MAX_BODY} bytes")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise too_large
    try:
        raw = await request.read()  # aiohttp's own cap (1 MiB) bounds a chunked body
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(raw) > MAX_BODY:
        raise too_large
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_request("unparseable_body", "the body is not UTF-8") from None
    ctype = request.content_type
    if ctype == "application/json" or ctype.endswith("+json") or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise _bad_request("unparseable_body", "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _bad_request("unparseable_body", "the body is not a JSON object")
        return {
            str(k): str(v)
            for k, v in data.items()
            if isinstance(v, str | int) and not isinstance(v, bool)
        }
    fields: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        fields.setdefault(key, value)
    return fields
