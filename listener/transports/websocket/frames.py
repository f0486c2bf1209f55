"""The gateway's frames: JSON arrays ``[header]`` or ``[header, body]`` (WEBSOCKET.md, section 3).

Pure functions, no I/O. :func:`parse` reads a server frame and raises
:class:`FrameError` for anything else, so one unparsable frame is logged and
skipped, never fatal. The client's frames are built by :func:`client_request`
and :func:`heartbeat`; a missing body is omitted, never ``null`` (the gateway
answers a ``null`` body with WSG-808).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

# Frame types.
CONNECTION_DETAILS = "ConnectionDetails"
CLIENT_REQUEST = "ClientRequest"
SERVER_NOTIFICATION = "ServerNotification"
HEARTBEAT = "Heartbeat"
ERROR = "Error"


class FrameError(ValueError):
    """A frame that is not ``[header]`` or ``[header, body]`` JSON; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Wsc:
    """The session context a frame carries; the one with the highest sequence is the newest."""

    token: str
    sequence: int


@dataclass(frozen=True)
class Frame:
    """One server frame."""

    header: dict[str, Any]
    body: Any = None

    @property
    def type(self) -> str:
        """The header's ``type``."""
        return str(self.header.get("type", ""))

    @property
    def message_id(self) -> str | None:
        """The header's ``messageId`` (answers carry the request's)."""
        value = self.header.get("messageId")
        return None if value is None else str(value)

    @property
    def status(self) -> int:
        """The header's HTTP-like ``status`` (200 when absent)."""
        try:
            return int(self.header.get("status", 200))
        except (TypeError, ValueError):
            return 0

    @property
    def wsc(self) -> Wsc | None:
        """The frame's session context, if it carries a usable one."""
        raw = self.header.get("wsc")
        if not isinstance(raw, dict) or not isinstance(raw.get("token"), str):
            return None
        try:
            return Wsc(raw["token"], int(raw.get("sequence", 0)))
        except (TypeError, ValueError):
            return None

    def error_code(self) -> str | None:
        """The ``errorCode`` of an error body (the gateway's, or the REST API's)."""
        body = self.body
        if isinstance(body, dict):
            if isinstance(body.get("errorCode"), str):
                return str(body["errorCode"])
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                code = errors[0].get("errorCode")
                return None if code is None else str(code)
        return None


def parse(text: str | bytes) -> Frame:
    """Read one server frame; :class:`FrameError` when it is not one."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        # A multipart answer (`[{…},--Boundary…`) lands here too: we never ask for one.
        raise FrameError("not_json") from None
    if not isinstance(data, list) or not 1 <= len(data) <= 2:
        raise FrameError("not_a_frame")
    if not isinstance(data[0], dict):
        raise FrameError("bad_header")
    return Frame(data[0], data[1] if len(data) == 2 else None)


def _encode(header: dict[str, Any], body: Any = None) -> str:
    return json.dumps([header] if body is None else [header, body], separators=(",", ":"))


def new_message_id() -> str:
    """A fresh ``messageId`` (a UUID, as the SDKs choose)."""
    return str(uuid.uuid4())


def client_request(
    method: str, path: str, body: Any = None, *, message_id: str | None = None
) -> tuple[str, str]:
    """A REST call over the socket: ``(messageId, frame text)``."""
    message_id = message_id or new_message_id()
    header = {"type": CLIENT_REQUEST, "messageId": message_id, "method": method, "path": path}
    return message_id, _encode(header, body)


def heartbeat() -> str:
    """A Heartbeat frame (the gateway answers in kind)."""
    return _encode({"type": HEARTBEAT, "messageId": new_message_id()})
