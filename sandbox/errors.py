"""The platform's error bodies, and the middleware that turns every exception into one.

Two body shapes, as RingCentral answers:

- classic: ``{"errorCode", "message", "errors": [{"errorCode", "message", "parameterName"?}]}``
- OAuth (token endpoints): ``{"error", "error_description", "errors": [{"errorCode", "message"}]}``

No request can make the sandbox answer a traceback: anything unexpected is
logged and answered 500 ``CMN-201``.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger("sandbox.errors")

__all__ = ["ApiError", "Handler", "Middleware"]


CONTROL_PREFIX = "/sandbox"
#: The WebSocket gateway's handshake, served on the REST port.
GATEWAY_PATH = "/ws"


def is_control(request: web.Request) -> bool:
    """Whether a call goes to the control API."""
    return request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/")


def is_metered(request: web.Request) -> bool:
    """Whether a call is recorded, rate-limited and faulted: not control, not a handshake."""
    return not is_control(request) and request.path != GATEWAY_PATH


class ApiError(Exception):
    """An error answer: raise it anywhere in a handler."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> web.Response:
        """The JSON response this error stands for."""
        return web.json_response(self.body, status=self.status, headers=self.headers)


def classic_body(code: str, message: str, parameter_name: str | None = None) -> dict[str, Any]:
    """The classic RingCentral error body."""
    entry: dict[str, Any] = {"errorCode": code, "message": message}
    if parameter_name is not None:
        entry["parameterName"] = parameter_name
    return {"errorCode": code, "message": message, "errors": [entry]}


def oauth_body(error: str, description: str, code: str) -> dict[str, Any]:
    """The OAuth error body of the token and revoke endpoints."""
    return {
        "error": error,
        "error_description": description,
        "errors": [{"errorCode": code, "message": description}],
    }


def api_error(status: int, code: str, message: str, parameter: str | None = None) -> ApiError:
    """An :class:`ApiError` with a classic body."""
    return ApiError(status, classic_body(code, message, parameter))


def not_found(parameter: str) -> ApiError:
    """404 ``CMN-102`` for an unknown (or invisible) resource named by ``parameter``."""
    return api_error(
        404, "CMN-102", f"Resource for parameter [{parameter}] is not found", parameter
    )


def missing(parameter: str) -> ApiError:
    """400 ``CMN-100`` for a required field or parameter that is absent."""
    return api_error(400, "CMN-100", f"Parameter [{parameter}] is required", parameter)


def invalid(parameter: str, why: str = "") -> ApiError:
    """400 ``CMN-101`` for a field or parameter whose value is wrong."""
    message = f"Parameter [{parameter}] value is invalid" + (f": {why}" if why else "")
    return api_error(400, "CMN-101", message, parameter)


def forbidden(message: str) -> ApiError:
    """403 ``CMN-403`` (a sandbox code: the spec gives 403 without a code)."""
    return api_error(403, "CMN-403", message)


def rate_limited(retry_after: float | None) -> ApiError:
    """429 ``CMN-301``, with ``Retry-After`` when given."""
    headers = {"Retry-After": f"{math.ceil(retry_after)}"} if retry_after is not None else {}
    return ApiError(429, classic_body("CMN-301", "Request rate exceeded"), headers)


#: The body a forced status answers with (control API faults).
_STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("CMN-101", "Parameter value is invalid"),
    401: ("OAU-213", "Token not found"),
    403: ("CMN-403", "Forbidden"),
    404: ("CMN-102", "Resource is not found"),
    429: ("CMN-301", "Request rate exceeded"),
    500: ("CMN-201", "Service temporary unavailable"),
    502: ("CMN-201", "Service temporary unavailable"),
    503: ("CMN-211", "Service is overloaded, try again later"),
    504: ("CMN-201", "Service temporary unavailable"),
}


def error_for_status(status: int, retry_after: float | None = None) -> ApiError:
    """The platform's error for ``status``, as a forced fault answers it."""
    code, message = _STATUS_CODES.get(
        status,
        ("CMN-201", "Service temporary unavailable") if status >= 500 else ("CMN-101", "Error"),
    )
    headers = {"Retry-After": f"{math.ceil(retry_after)}"} if retry_after is not None else {}
    return ApiError(status, classic_body(code, message), headers)


async def read_json_object(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object body, or a 415/400 :class:`ApiError`."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise api_error(400, "CMN-100", "Request body is required")
        return {}
    if request.content_type not in ("application/json", "text/json") and not (
        request.content_type.endswith("+json")
    ):
        raise api_error(
            415,
            "CMN-101",
            f"Unsupported Content-Type [{request.content_type}], use application/json",
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise api_error(400, "CMN-101", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise api_error(400, "CMN-101", "Request body must be a JSON object")
    return body


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure with the platform's JSON error body, never a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        return _from_http_exception(exc)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return api_error(500, "CMN-201", "Service temporary unavailable").response()


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    if exc.status == 404:
        body = classic_body("CMN-102", "Resource for parameter [url] is not found", "url")
    elif exc.status == 405:
        body = classic_body("CMN-405", "Method not allowed for this resource")
    elif exc.status == 413:
        body = classic_body("CMN-101", "Request body is too large")
    else:
        body = classic_body("CMN-101" if exc.status < 500 else "CMN-201", exc.reason)
    headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
    return web.json_response(body, status=exc.status, headers=headers)
