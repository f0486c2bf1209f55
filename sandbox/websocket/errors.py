"""The gateway's error codes, close codes, and the exceptions that carry them.

Codes RingCentral is known to send (WEBSOCKET.md): ``WSG-400``, ``WSG-808``,
``WSG-902``, ``WSG-903``, ``WSG-1003``, ``WSG-1005``, and close code 4400.
The others are the sandbox's own choices, marked so here and in the README.

::

    GatewayError                       an Error frame (status, code, message)
    ├── FrameError                     a bad client frame: answered, the socket stays open
    └── ConnectRefused                 a refused connection: Error frame, then close
"""

from __future__ import annotations

from typing import Any

from sandbox.errors import classic_body

# Bad client frames (the socket stays open).
NOT_JSON = "WSG-801"  # sandbox code
NOT_A_FRAME = "WSG-802"  # sandbox code
UNKNOWN_TYPE = "WSG-803"  # sandbox code
BAD_REQUEST = "WSG-804"  # sandbox code
PATH_NOT_ALLOWED = "WSG-805"  # sandbox code
NULL_BODY = "WSG-808"

# The socket's life.
MALFORMED_WSC = "WSG-400"
IDLE_TIMEOUT = "WSG-902"
ABSOLUTE_TIMEOUT = "WSG-903"

# recoveryErrorCode of a Failed recovery.
SESSION_NOT_FOUND = "WSG-1001"  # sandbox code: unknown, ended or expired session
OTHER_OAUTH_SESSION = "WSG-1003"
NO_SUBSCRIPTION = "WSG-1005"

# Refused ws tokens (the REST API's codes for the same situations).
UNKNOWN_CREDENTIAL = "OAU-213"
EXPIRED_CREDENTIAL = "OAU-128"

# Close codes.
CLOSE_NO_TOKEN = 4400
#: After an Error frame that refuses the connection (401, or WSG-400).
CLOSE_REFUSED = 1008
#: After WSG-902/903, a takeover by a recovering socket, or an ended session.
CLOSE_NORMAL = 1000
#: The sandbox is stopping.
CLOSE_GOING_AWAY = 1001


class GatewayError(Exception):
    """What an ``Error`` frame says: an HTTP-like status and the platform's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The frame's body: ``{errorCode, message, errors: [{errorCode, message}]}``."""
        return classic_body(self.code, self.message)


class FrameError(GatewayError):
    """A client frame the gateway cannot act on; ``message_id`` is the request's, if known."""

    def __init__(self, code: str, message: str, message_id: str | None = None) -> None:
        super().__init__(400, code, message)
        self.message_id = message_id


class ConnectRefused(GatewayError):
    """The connection cannot go on: the socket gets this Error frame, then close."""
