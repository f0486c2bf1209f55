"""Test doubles for the platform client's unit tests: an HTTP transport and an OAuth client."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from glipbot.errors import AuthError, LoginRefusedError, PlatformError
from glipbot.platform.http import RateLimitInfo

BASE_URL = "http://platform.test"


@dataclass
class Sent:
    """One request the adapter received."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None

    @property
    def path(self) -> str:
        return requests.utils.urlparse(self.url).path

    @property
    def query(self) -> str:
        return requests.utils.urlparse(self.url).query

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class ScriptedAdapter(BaseAdapter):
    """A requests transport that answers from a script and records what it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.script: deque[requests.Response | BaseException] = deque()
        self.sent: list[Sent] = []

    def reply(
        self,
        status: int = 200,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> ScriptedAdapter:
        """Queue a response: ``body`` as JSON, or ``raw`` bytes."""
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers or {})
        if raw is not None:
            response._content = raw
        elif body is not None:
            response._content = json.dumps(body).encode()
            response.headers.setdefault("Content-Type", "application/json")
        else:
            response._content = b""
        self.script.append(response)
        return self

    def fail(self, exc: BaseException) -> ScriptedAdapter:
        """Queue a transport failure (timeout, connection refused)."""
        self.script.append(exc)
        return self

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        self.sent.append(Sent(request.method or "", request.url or "", dict(request.headers), body))
        self.last_timeout = kwargs.get("timeout")
        item = self.script.popleft()
        if isinstance(item, BaseException):
            raise item
        item.request = request
        item.url = request.url or ""
        return item

    def close(self) -> None:
        pass


def session_with(adapter: ScriptedAdapter) -> requests.Session:
    """A session whose every request to :data:`BASE_URL` goes to ``adapter``."""
    session = requests.Session()
    session.mount(BASE_URL, adapter)
    return session


@dataclass
class FakeAuth:
    """An OAuth client that mints numbered tokens; ``delay`` widens race windows.

    ``refuse_login`` names a setting: every login is then refused as wrong in it.
    """

    expires_in: int = 3600
    delay: float = 0.0
    refuse_refresh: bool = False
    refuse_login: str | None = None
    owner: str = "bot-1"
    calls: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _n: int = 0

    def _grant(self, kind: str) -> dict[str, Any]:
        time.sleep(self.delay)
        with self._lock:
            self.calls.append(kind)
            self._n += 1
            n = self._n
        return {
            "access_token": f"access-{n}-{kind}",
            "refresh_token": f"refresh-{n}-{kind}",
            "expires_in": self.expires_in,
            "refresh_token_expires_in": 604800,
            "owner_id": self.owner,
            "token_type": "bearer",
        }

    def login(self) -> dict[str, Any]:
        if self.refuse_login:
            with self._lock:
                self.calls.append("login-refused")
            raise LoginRefusedError(
                f"login refused (400 invalid_grant OAU-140): fix {self.refuse_login}",
                setting=self.refuse_login,
                status=400,
                error_code="OAU-140",
            )
        return self._grant("login")

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        if self.refuse_refresh:
            with self._lock:
                self.calls.append("refresh-refused")
            raise AuthError("refresh refused", status=400, error_code="OAU-211")
        return self._grant("refresh")

    def revoke(self, token: str) -> None:
        with self._lock:
            self.calls.append("revoke")

    def whoami(self, access_token: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append("whoami")
        return {"id": self.owner}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class BotRecordingHook:
    """A hook that tells the bots apart (the rate limiter does)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []

    def before_request(self, group: str, *, bot: str | None = None) -> None:
        self.seen.append(("before", group, bot))

    def after_response(
        self,
        group: str,
        rate_limit: RateLimitInfo | None,
        error: PlatformError | None,
        *,
        bot: str | None = None,
    ) -> None:
        self.seen.append(("after", group, bot))
