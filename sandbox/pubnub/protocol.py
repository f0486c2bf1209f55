"""The PubNub HTTP protocol served over a `PubNubHub`, as the real SDK speaks it.

Routes (every answer, errors included, is JSON):

- `GET /v2/subscribe/{sub_key}/{channels}/0?tt=&tr=`: long-poll. `tt` 0 or
  absent is the handshake; otherwise retained messages newer than `tt`
  (oldest first, at most 100), or a hold until a publish or the hold time.
- `GET /time/0` -> `[timetoken]`.
- `GET /publish/{pub}/{sub}/0/{channel}/0/{json}` and
  `POST /publish/{pub}/{sub}/0/{channel}/0` (JSON body) -> `[1,"Sent","tt"]`.
- `GET /v2/presence/sub-key/{sub}/channel/{channels}/heartbeat` and `.../leave`.

Not served, answered 400 so that nobody relies on them silently: channel
groups, wildcard channels (`a.*`) and filter expressions.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import NoReturn
from urllib.parse import unquote

from aiohttp import web

from sandbox.pubnub.hub import REGION, PubNubHub, RecordedRequest

#: Where `make_app` stores the hub, for whoever mounts the app.
HUB_KEY = web.AppKey("pubnub_hub", PubNubHub)
#: The real service refuses larger publishes.
MAX_PUBLISH_BYTES = 32 * 1024
_INTEGER = re.compile(r"\d{1,19}")
_Handler = Callable[[web.Request, list[str]], Awaitable[web.StreamResponse]]


class _BadRequest(Exception):
    """A malformed request: answered 400 with a JSON body."""


def _error(status: int, message: str) -> web.Response:
    body = {"status": status, "error": True, "message": message, "service": "sandbox"}
    return web.json_response(body, status=status)


def _segment(raw: str, what: str) -> str:
    """Decode one raw path segment: names may carry `/`, `,` or `:` encoded."""
    try:
        value = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise _BadRequest(f"{what} is not valid percent-encoded UTF-8") from None
    if not value:
        raise _BadRequest(f"{what} is empty")
    return value


def _channels(raw: str) -> list[str]:
    # Split before decoding: a `,` inside a name arrives as %2C.
    names = [_segment(part, "channel") for part in raw.split(",") if part]
    if not names:
        raise _BadRequest("no channel given")
    if any(name.endswith(".*") for name in names):
        raise _BadRequest("wildcard subscriptions are not supported by the sandbox")
    return list(dict.fromkeys(names))


def _integer(request: web.Request, name: str, default: int = 0) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    if not _INTEGER.fullmatch(value):
        raise _BadRequest(f"query parameter {name} must be a non-negative integer")
    return int(value)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _parse_json(text: str) -> object:
    return json.loads(text, parse_constant=_reject_constant)


class _Server:
    """Request handlers bound to one hub; `closing` releases held polls at shutdown."""

    def __init__(self, hub: PubNubHub) -> None:
        self.hub = hub
        self.closing = False

    def _route(self, method: str, parts: list[str]) -> _Handler:
        allowed: tuple[str, ...] = ("GET",)
        handler: _Handler | None = None
        if parts == ["time", "0"]:
            handler = self._time
        elif len(parts) == 5 and parts[:2] == ["v2", "subscribe"] and parts[4] == "0":
            handler = self._subscribe
        elif len(parts) in (6, 7) and parts[0] == "publish" and parts[3] == parts[5] == "0":
            handler, allowed = self._publish, ("GET",) if len(parts) == 7 else ("POST",)
        elif (
            len(parts) == 7
            and parts[:3] == ["v2", "presence", "sub-key"]
            and parts[4] == "channel"
            and parts[6] in ("heartbeat", "leave")
        ):
            handler = self._presence
        if handler is None:
            raise web.HTTPNotFound(reason="Not Found")
        if method not in allowed:
            raise web.HTTPMethodNotAllowed(method, allowed)
        return handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve any request: route on the raw path, answer errors as JSON."""
        path = request.raw_path.partition("?")[0]
        parts = path.split("/")[1:]
        try:
            handler = self._route(request.method, parts)
            response = await handler(request, parts)
        except _BadRequest as exc:
            response = _error(400, str(exc))
        except web.HTTPException as exc:
            # aiohttp's own refusals (unknown route, body too large) would be HTML.
            response = _error(exc.status, exc.reason)
        self.hub.requests.append(
            RecordedRequest(request.method, path, dict(request.query), response.status)
        )
        return response

    async def _time(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        return web.json_response([self.hub.current_timetoken()])

    async def _subscribe(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        sub_key = _segment(parts[2], "subscribe key")
        channels = _channels(parts[3])
        if request.query.get("channel-group"):
            raise _BadRequest("channel groups are not supported by the sandbox")
        if request.query.get("filter-expr"):
            raise _BadRequest("filter expressions are not supported by the sandbox")
        after = _integer(request, "tt")
        _integer(request, "tr")
        _integer(request, "heartbeat")
        if after == 0:
            return _subscribe_response(self.hub.current_timetoken(), [])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hub.hold_seconds
        while True:
            frames, cursor = self.hub.read(sub_key, channels, after)
            remaining = deadline - loop.time()
            if frames or remaining <= 0 or self.closing or _client_gone(request):
                # An empty answer repeats the client's cursor rather than "now":
                # messages retained while paused are older than "now".
                return _subscribe_response(cursor, frames)
            await self.hub.wait_for_publish(sub_key, channels, remaining)

    async def _publish(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        sub_key = _segment(parts[2], "subscribe key")
        _segment(parts[1], "publish key")
        channel = _segment(parts[4], "channel")
        try:
            text = _segment(parts[6], "message") if len(parts) == 7 else await request.text()
            if len(text.encode()) > MAX_PUBLISH_BYTES:
                return web.json_response([0, "Message Too Large"], status=413)
            message = _parse_json(text)
            meta = request.query.get("meta")
            meta_value = None if meta is None else _parse_json(meta)
        except (_BadRequest, ValueError):
            return web.json_response([0, "Invalid JSON"], status=400)
        timetoken = self.hub.publish(
            sub_key,
            channel,
            message,
            publisher=request.query.get("uuid") or None,
            meta=meta_value,
            custom_message_type=request.query.get("custom_message_type") or None,
        )
        return web.json_response([1, "Sent", timetoken])

    async def _presence(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        _segment(parts[3], "subscribe key")
        _channels(parts[5])
        if parts[6] == "leave":
            body = {"status": 200, "message": "OK", "action": "leave", "service": "Presence"}
        else:
            _integer(request, "heartbeat")
            body = {"status": 200, "message": "OK", "service": "Presence"}
        return web.json_response(body)

    async def on_shutdown(self, app: web.Application) -> None:
        """Answer held long-polls now, so that the server stops without waiting."""
        self.closing = True
        self.hub.wake_all()


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _subscribe_response(cursor: int, frames: list[str]) -> web.Response:
    # Frames are pre-serialized at publish time; joining them keeps a
    # 100-message catch-up answer cheap.
    body = f'{{"t":{{"t":"{cursor}","r":{REGION}}},"m":[{",".join(frames)}]}}'
    return web.Response(text=body, content_type="application/json")


def make_app(hub: PubNubHub) -> web.Application:
    """An aiohttp application serving the PubNub protocol over `hub`."""
    server = _Server(hub)
    app = web.Application()
    app[HUB_KEY] = hub
    app.router.add_route("*", "/{path:.*}", server.handle)
    app.on_shutdown.append(server.on_shutdown)
    return app
