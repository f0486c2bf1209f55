"""REST over the socket: each ClientRequest is an HTTP call to the sandbox's own REST port.

So every middleware applies as to any REST call: the rate limit (counted in
the same buckets as HTTP, as the login behind the session), the faults, the
recorder, the errors. The call carries ``Authorization: Bearer`` with the
current access token of the session's login, and a one-time nonce header that
tells the subscription endpoints which WebSocket session asks (see
:class:`RequestBindings`). Only ``/restapi/...`` paths outside
``/restapi/oauth/`` may be called.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from sandbox.websocket import errors
from sandbox.websocket.frames import NO_BODY, ClientRequest

#: The header naming the WebSocket session of a proxied call (a one-time nonce).
SESSION_HEADER = "X-Sandbox-Ws-Request"

#: Answer headers that describe the HTTP transfer, not the answer.
_TRANSFER_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
#: Request headers a client may not set: the gateway sets them.
_OWN_HEADERS = frozenset({"authorization", "host", "content-length", SESSION_HEADER.lower()})


@dataclass(frozen=True)
class RestAnswer:
    """What a proxied call answered: ``body`` is parsed JSON, a string, or ``NO_BODY``."""

    status: int
    headers: dict[str, str]
    body: Any


def check_path(path: str, message_id: str | None) -> None:
    """Refuse what the socket may not call: :class:`~errors.FrameError` ``WSG-805``."""
    segments = URL(path).path.split("/")[1:]
    target = "/" + "/".join(s for s in segments if s)
    if (
        any(s in (".", "..") for s in segments)
        or not target.startswith("/restapi/")
        or target.startswith("/restapi/oauth/")
    ):
        raise errors.FrameError(
            errors.PATH_NOT_ALLOWED,
            f"Path {path} cannot be called over the WebSocket (only /restapi/..., not OAuth)",
            message_id,
        )


class RequestBindings:
    """Which WebSocket session each proxied call in flight comes from."""

    def __init__(self) -> None:
        self._open: dict[str, str] = {}

    def open(self, session_id: str) -> str:
        """A fresh nonce naming ``session_id`` until :meth:`close`."""
        nonce = secrets.token_urlsafe(24)
        self._open[nonce] = session_id
        return nonce

    def close(self, nonce: str) -> None:
        """The call is over."""
        self._open.pop(nonce, None)

    def session_of(self, request: web.Request) -> str | None:
        """The WebSocket session a REST call comes from, or None for a plain HTTP call."""
        return self._open.get(request.headers.get(SESSION_HEADER, ""))


class RestProxy:
    """Makes the HTTP calls (one client session, closed by :meth:`close`)."""

    def __init__(self) -> None:
        self._client: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def call(
        self, origin: str, access_token: str, nonce: str, request: ClientRequest
    ) -> RestAnswer:
        """Make ``request`` against ``origin`` as ``access_token``; its answer."""
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _OWN_HEADERS}
        headers["Authorization"] = f"Bearer {access_token}"
        headers[SESSION_HEADER] = nonce
        data = _encode_body(request.body, headers)
        url = URL(origin).join(URL(request.path))
        try:
            async with self._client.request(
                request.method, url, params=request.query, headers=headers, data=data
            ) as resp:
                raw = await resp.read()
                answer_headers = {
                    k: v for k, v in resp.headers.items() if k.lower() not in _TRANSFER_HEADERS
                }
                return RestAnswer(resp.status, answer_headers, _decode_body(raw, resp.content_type))
        except aiohttp.ClientError as exc:
            raise errors.GatewayError(
                502, "CMN-201", f"Service temporary unavailable: {exc}"
            ) from None


def _encode_body(body: Any, headers: dict[str, str]) -> bytes | None:
    if body is NO_BODY:
        return None
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if isinstance(body, str) and content_type is not None and "json" not in content_type:
        return body.encode()  # e.g. a text/plain body, sent as the client typed it
    if content_type is None:
        headers["Content-Type"] = "application/json"
    return json.dumps(body).encode()


def _decode_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return NO_BODY
    text = raw.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text
