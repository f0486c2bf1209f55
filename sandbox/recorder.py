"""The request recorder: every REST call the sandbox answered, for tests to assert on.

Secrets in bodies (passwords, assertions, tokens, authorization codes, client secrets) are
masked.
Control calls (``/sandbox/...``) and WebSocket handshakes (``/ws``) are not
recorded; the REST calls made over a socket are.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from aiohttp import web

from sandbox.clock import Clock, iso
from sandbox.errors import Handler, Middleware, is_metered

MASK = "***"
SECRET_KEYS = frozenset(
    {
        "password",
        "assertion",
        "refresh_token",
        "client_secret",
        "access_token",
        "token",
        "encryptionKey",
        "code",
    }
)
MAX_RECORDS = 10000


def mask(value: Any) -> Any:
    """A copy of a JSON value with every secret-named field masked."""
    if isinstance(value, dict):
        return {k: MASK if k in SECRET_KEYS else mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


class Recorder:
    """A bounded list of request records, oldest first."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.records: list[dict[str, Any]] = []

    def clear(self) -> None:
        """Forget every record."""
        self.records.clear()

    def add(self, record: dict[str, Any]) -> None:
        """Append a record, dropping the oldest past :data:`MAX_RECORDS`."""
        self.records.append(record)
        if len(self.records) > MAX_RECORDS:
            del self.records[0]

    def select(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Records whose path matches the glob and whose method matches."""
        return [
            r
            for r in self.records
            if (path is None or fnmatch.fnmatchcase(r["path"], path))
            and (method is None or r["method"] == method.upper())
        ]

    async def record(self, request: web.Request, status: int) -> None:
        """Record one answered call."""
        query: dict[str, Any] = {}
        for key in request.query:
            values = request.query.getall(key)
            query[key] = values[0] if len(values) == 1 else values
        self.add(
            {
                "time": iso(self._clock()),
                "method": request.method,
                "path": request.path,
                "query": query,
                "status": status,
                "who": request.get("who"),
                "body": await _body(request),
                **({"fault": request["fault"]} if "fault" in request else {}),
            }
        )


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    if request.content_type.endswith("x-www-form-urlencoded"):
        form = await request.post()
        return mask({k: str(v) for k, v in form.items()})
    try:
        return mask(json.loads(raw))
    except ValueError:
        return raw.decode("utf-8", "replace")[:10000]


def recorder_middleware(recorder: Recorder) -> Middleware:
    """Record each REST call with the status it was answered (outermost middleware)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_metered(request):
            return await handler(request)
        await request.read()  # cached, so the body is still there if the client goes away
        response = await handler(request)
        await recorder.record(request, response.status)
        return response

    return middleware
