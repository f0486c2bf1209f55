"""Frames: JSON arrays ``[header]`` or ``[header, body]`` (WEBSOCKET.md, section 3).

:func:`parse` reads one client frame into a :class:`ClientRequest` or a
:class:`Heartbeat`, or raises :class:`~sandbox.websocket.errors.FrameError`.
:func:`encode` writes a server frame.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from sandbox.websocket import errors

CONNECTION_DETAILS = "ConnectionDetails"
CLIENT_REQUEST = "ClientRequest"
SERVER_NOTIFICATION = "ServerNotification"
HEARTBEAT = "Heartbeat"
ERROR = "Error"


class _Missing(enum.Enum):
    NO_BODY = "NO_BODY"


#: A body element that is not there (``None`` would be JSON ``null``, which is an error).
NO_BODY = _Missing.NO_BODY

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Heartbeat:
    """A client's keep-alive."""

    message_id: str | None


@dataclass(frozen=True)
class ClientRequest:
    """A REST call over the socket."""

    message_id: str | None
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = NO_BODY


def parse(text: str) -> ClientRequest | Heartbeat:
    """One client text frame, or :class:`~sandbox.websocket.errors.FrameError`."""
    try:
        data = json.loads(text)
    except ValueError:
        raise errors.FrameError(errors.NOT_JSON, "Frame is not valid JSON") from None
    if not isinstance(data, list) or not 1 <= len(data) <= 2 or not isinstance(data[0], dict):
        raise errors.FrameError(
            errors.NOT_A_FRAME, "Frame must be a JSON array [header] or [header, body]"
        )
    header: dict[str, Any] = data[0]
    raw_id = header.get("messageId")
    message_id = raw_id if isinstance(raw_id, str) and raw_id else None
    if len(data) == 2 and data[1] is None:
        raise errors.FrameError(errors.NULL_BODY, "Body must not be null", message_id)
    kind = header.get("type")
    if kind == HEARTBEAT:
        return Heartbeat(message_id)
    if kind != CLIENT_REQUEST:
        raise errors.FrameError(
            errors.UNKNOWN_TYPE, f"Unknown message type {kind!r} from a client", message_id
        )
    return _client_request(header, message_id, data[1] if len(data) == 2 else NO_BODY)


def _client_request(header: dict[str, Any], message_id: str | None, body: Any) -> ClientRequest:
    def bad(why: str) -> errors.FrameError:
        return errors.FrameError(errors.BAD_REQUEST, f"Invalid ClientRequest: {why}", message_id)

    if message_id is None:
        raise bad("messageId must be a non-empty string")
    method, path = header.get("method"), header.get("path")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise bad("method must be an HTTP method")
    if not isinstance(path, str) or not path.startswith("/"):
        raise bad("path must be an absolute path")
    query = header.get("query")
    query = {} if query is None else query
    headers = header.get("headers")
    headers = {} if headers is None else headers
    if not isinstance(query, dict):
        raise bad("query must be an object")
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise bad("headers must be an object of strings")
    if body == "":  # RingCentral.Net sends "" for "no body"
        body = NO_BODY
    return ClientRequest(message_id, method.upper(), path, _query(query), headers, body)


def _query(query: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                pairs.append((key, "true" if item else "false"))
            elif item is not None:
                pairs.append((key, str(item)))
    return pairs


def encode(header: dict[str, Any], body: Any = NO_BODY) -> str:
    """A server frame's text."""
    frame = [header] if body is NO_BODY else [header, body]
    return json.dumps(frame, separators=(",", ":"))
