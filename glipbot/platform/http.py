"""The HTTP core under the REST and OAuth clients.

One :class:`HttpTransport` per process wraps a ``requests.Session`` with a
base URL and a timeout on every call, turns JSON in and out, parses the
``X-Rate-Limit-*`` headers of every response, splits ``207`` multipart
answers, and maps every failure onto :mod:`glipbot.errors`:

========================  ==============================================
401                       :class:`~glipbot.errors.UnauthorizedError`
429                       :class:`~glipbot.errors.RateLimitedError` (``Retry-After``, else 30 s)
5xx                       :class:`~glipbot.errors.ServerError` (``Retry-After`` if sent)
404                       :class:`~glipbot.errors.NotFoundError`
other 4xx                 :class:`~glipbot.errors.BadRequestError`
timeout, connection       :class:`~glipbot.errors.NetworkError`
========================  ==============================================
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import requests

from glipbot import log_events as ev
from glipbot.errors import (
    BadRequestError,
    NetworkError,
    NotFoundError,
    PlatformError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
)
from glipbot.logging import get_logger

#: Seconds to wait after a 429 that carries no ``Retry-After`` (the platform's advice).
DEFAULT_RETRY_AFTER = 30.0

_log = get_logger(__name__)


@dataclass(frozen=True)
class RateLimitInfo:
    """The ``X-Rate-Limit-*`` headers of one response: the state of its group."""

    group: str
    limit: int
    remaining: int
    window: int

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo | None:
        """Parse the four headers; ``None`` unless all are present and well formed."""
        group = headers.get("X-Rate-Limit-Group")
        limit = _int_or_none(headers.get("X-Rate-Limit-Limit"))
        remaining = _int_or_none(headers.get("X-Rate-Limit-Remaining"))
        window = _int_or_none(headers.get("X-Rate-Limit-Window"))
        if not group or limit is None or remaining is None or window is None:
            return None
        return cls(group=group, limit=limit, remaining=remaining, window=window)


class RequestHook(Protocol):
    """Called around every request, e.g. by a cluster-wide rate limiter.

    ``before_request`` may block until the group has room, or raise
    :class:`~glipbot.errors.RateLimitedError` to give up; ``after_response``
    follows every request that was sent, answered or not, and learns from the
    headers (``rate_limit``) and from a 429 (``error``).

    The platform counts requests per bot (each installation is its own user),
    so a request made for an installed bot names it: both methods then get
    ``bot=<its bot id>`` as a keyword. Requests of the configured bot (and
    OAuth's) are called without it, as they always were, so a hook that
    counts only those need not take it.
    """

    def before_request(self, group: str, *, bot: str | None = None) -> None:
        """The request about to be sent belongs to rate-limit ``group`` (of ``bot``)."""

    def after_response(
        self,
        group: str,
        rate_limit: RateLimitInfo | None,
        error: PlatformError | None,
        *,
        bot: str | None = None,
    ) -> None:
        """The request ended: answered (``error`` set when mapped to one) or failed in transit."""


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), never negative."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


def parse_multipart(content_type: str, body: bytes) -> list[Any]:
    """Split a ``207 multipart/mixed`` batch answer into the JSON of each item.

    The first part is the status summary (``{"response": [{"status": ...}]}``)
    and is dropped; the others follow the order of the requested ids. An item
    the platform could not return is its error body (it has ``errorCode``).
    """
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    if not message.is_multipart():
        raise ServerError("207 answer is not multipart", status=207, body=body[:500])
    items: list[Any] = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise ServerError("207 part has no body", status=207)
        try:
            items.append(json.loads(payload.decode("utf-8")) if payload.strip() else None)
        except ValueError as exc:
            raise ServerError(f"207 part is not JSON: {exc}", status=207) from None
    return items[1:]


def _body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _error_code_and_message(body: Any) -> tuple[str | None, str | None]:
    """Read the classic body (``errorCode``/``message``) or the OAuth one (``error``)."""
    if not isinstance(body, dict):
        return None, body if isinstance(body, str) and body else None
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = body.get("errorCode") or first.get("errorCode") or body.get("error")
    message = body.get("message") or body.get("error_description") or first.get("message")
    return code, message


def error_from_response(
    response: requests.Response, rate_limit: RateLimitInfo | None, what: str
) -> PlatformError:
    """The error of :mod:`glipbot.errors` that a failed ``response`` means."""
    status = response.status_code
    body = _body(response)
    code, message = _error_code_and_message(body)
    text = f"{what} -> {status}" + (f" {code}" if code else "")
    text += f": {message}" if message else ""
    common: dict[str, Any] = {
        "status": status,
        "error_code": code,
        "body": body,
        "rate_limit": rate_limit,
    }
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 401:
        return UnauthorizedError(text, **common)
    if status == 429:
        group = response.headers.get("X-Rate-Limit-Group") or (rate_limit and rate_limit.group)
        return RateLimitedError(
            text,
            retry_after=DEFAULT_RETRY_AFTER if retry_after is None else retry_after,
            group=group or None,
            **common,
        )
    if status >= 500:
        return ServerError(text, retry_after=retry_after, **common)
    if status == 404:
        return NotFoundError(text, **common)
    return BadRequestError(text, **common)


def environment_session(base_url: str) -> requests.Session:
    """A session that reads the environment's proxy and CA bundle settings for ``base_url``
    once, at start.

    A default session scans the whole environment again on every request
    (seen in a worker's CPU profile), and would let a ``.netrc``
    entry for the host replace the bearer token; every request of a transport
    goes to one host, so reading them once gives the same answer.
    """
    session = requests.Session()
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(found["proxies"])
    session.verify = found["verify"]
    session.trust_env = False
    return session


class HttpTransport:
    """``requests.Session`` + base URL + timeout + error mapping; shared by REST and OAuth."""

    def __init__(
        self,
        base_url: str,
        timeout: float,
        session: requests.Session | None = None,
        hooks: Sequence[RequestHook] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session if session is not None else environment_session(self.base_url)
        self.hooks: list[RequestHook] = list(hooks)
        #: The rate-limit headers of the last response (success or error).
        self.last_rate_limit: RateLimitInfo | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        group: str,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        bot: str | None = None,
    ) -> Any:
        """Send one request; return its JSON, ``None`` when empty, a list for a 207.

        ``group`` is the endpoint's rate-limit group, handed to the hooks, with
        ``bot`` when the request is made for an installed bot (see
        :class:`RequestHook`). Raises the mapped
        :class:`~glipbot.errors.PlatformError` on failure.
        """
        what = f"{method} {path}"
        scope: dict[str, str] = {} if bot is None else {"bot": bot}
        for hook in self.hooks:
            hook.before_request(group, **scope)
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                data=form,
                headers={"Accept": "application/json", **(headers or {})},
                auth=auth,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            if isinstance(exc, requests.Timeout):
                failed = NetworkError(f"{what} timed out after {self.timeout} s: {exc}")
            else:
                failed = NetworkError(f"{what} failed: {type(exc).__name__}: {exc}")
            for hook in self.hooks:  # it may have reached the platform all the same
                hook.after_response(group, None, failed, **scope)
            raise failed from exc
        rate_limit = RateLimitInfo.from_headers(response.headers)
        self.last_rate_limit = rate_limit
        error = None if response.ok else error_from_response(response, rate_limit, what)
        _log.debug(
            ev.HTTP_RESPONSE,
            method=method,
            path=path,
            status=response.status_code,
            elapsed_ms=round((time.monotonic() - started) * 1000, 1),
            bot_id=bot,
            rate_limit_group=rate_limit.group if rate_limit else None,
            rate_limit_remaining=rate_limit.remaining if rate_limit else None,
        )
        for hook in self.hooks:
            hook.after_response(group, rate_limit, error, **scope)
        if error is not None:
            raise error
        return self._decode(response, what)

    @staticmethod
    def _decode(response: requests.Response, what: str) -> Any:
        content_type = response.headers.get("Content-Type", "")
        if response.status_code == 207 or content_type.lower().startswith("multipart/"):
            return parse_multipart(content_type, response.content)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                f"{what} -> {response.status_code} but the body is not JSON",
                status=response.status_code,
                body=response.text[:500],
            ) from None
