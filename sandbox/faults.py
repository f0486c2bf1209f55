"""Injected failures: make the next N matching REST calls fail or hang.

A fault matches a method (or any) and a path glob (``*`` matches anything,
``/`` included). By default the failing call does not perform its action. With
``after`` the action IS performed and only the answer is replaced (or
delayed): "the POST succeeded but the client never saw the answer".
"""

from __future__ import annotations

import asyncio
import fnmatch
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from sandbox.errors import Handler, Middleware, error_for_status, invalid, is_metered


@dataclass
class Fault:
    """One rule: the next ``count`` matching calls answer ``status`` and/or hang."""

    path: str
    count: int = 1
    method: str | None = None
    status: int | None = None
    retry_after: float | None = None
    hang: float | None = None
    after: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a call."""
        return (self.method is None or self.method == method) and fnmatch.fnmatchcase(
            path, self.path
        )

    def to_json(self) -> dict[str, Any]:
        """The rule as the control API shows it."""
        out = asdict(self)
        out["retryAfter"] = out.pop("retry_after")
        return out

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Fault:
        """Parse the control API's JSON; raise a 400 ``ApiError`` when it is wrong."""
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise invalid("path", "a path glob is required")
        count = body.get("count", 1)
        status = body.get("status")
        retry_after = body.get("retryAfter")
        hang = body.get("hang")
        method = body.get("method")
        if not isinstance(count, int) or count < 1:
            raise invalid("count", "a positive integer")
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise invalid("status", "an HTTP status code")
        for name, value in (("retryAfter", retry_after), ("hang", hang)):
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise invalid(name, "a non-negative number of seconds or null")
        if status is None and hang is None:
            raise invalid("status", "give a status, a hang, or both")
        if method is not None and not isinstance(method, str):
            raise invalid("method")
        return cls(
            path=path,
            count=count,
            method=method.upper() if method else None,
            status=status,
            retry_after=retry_after,
            hang=hang,
            after=bool(body.get("after", False)),
        )


class FaultTable:
    """The active fault rules, consumed one call at a time."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Append a rule (earlier rules match first)."""
        self.faults.append(fault)

    def clear(self) -> None:
        """Remove every rule."""
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule matching this call, spending one of its count."""
        for fault in self.faults:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None


def fault_middleware(table: FaultTable) -> Middleware:
    """Apply the fault rules to each REST call (inside the error middleware)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = None if not is_metered(request) else table.take(request.method, request.path)
        if fault is None:
            return await handler(request)
        request["fault"] = fault.to_json()
        if fault.after:
            response = await handler(request)
            if fault.hang:
                await asyncio.sleep(fault.hang)
            if fault.status is None:
                return response
            raise error_for_status(fault.status, fault.retry_after)
        if fault.hang:
            await asyncio.sleep(fault.hang)
        if fault.status is None:
            return await handler(request)
        raise error_for_status(fault.status, fault.retry_after)

    return middleware
