"""Clients of a running sandbox's HTTP API, for tests and bot authors: drive it, act as a person.

::

    john = as_person("http://127.0.0.1:8900", "john.smith@sandbox.test", "john")
    chat = john.post("/glip/groups", json={"type": "PrivateChat",
                                           "members": [{"id": "400000001"}]}).json()
    control = SandboxControl("http://127.0.0.1:8900/sandbox")
    control.fail("POST", "/restapi/v1.0/glip/posts", count=1, status=503)
    control.flood(chat["id"], "john.smith@sandbox.test", 20000, rate=5000)  # PostAdded each
    bot = control.install("public", "http://127.0.0.1:8080/bot/oauth")  # then a GET ?code=
    control.uninstall(bot["bot_id"])  # Delete event, then its token answers OAU-232

Start the sandbox with ``python -m sandbox`` as any server (the project's own
tests do it with ``devtools.sandbox_process``, outside the sandbox package).
"""

from __future__ import annotations

import time
from typing import Any

import requests

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's public seed value
BOT_TOKEN = "sandbox-bot-token-smartfriend"  # noqa: S105 - the seed's static bot token
API_PREFIX = "/restapi/v1.0"


class SandboxControl:
    """A client of the control API (``/sandbox/...``); one method per endpoint."""

    def __init__(self, control_url: str, timeout: float = 10.0) -> None:
        self.url = control_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _call(
        self,
        verb: str,
        route: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        resp = self._http.request(
            verb,
            self.url + route,
            json=body,
            timeout=self.timeout if timeout is None else timeout,
            params={k: v for k, v in (params or {}).items() if v is not None} or None,
        )
        resp.raise_for_status()
        return resp.json()

    def reset(self) -> None:
        """Back to the seed state."""
        self._call("POST", "/reset")

    def fail(
        self,
        method: str | None,
        path: str,
        count: int = 1,
        status: int | None = None,
        retry_after: float | None = None,
        hang: float | None = None,
        after: bool = False,
    ) -> dict[str, Any]:
        """Make the next ``count`` calls matching ``method`` and ``path`` (glob) fail or hang."""
        body = {
            "method": method,
            "path": path,
            "count": count,
            "status": status,
            "retryAfter": retry_after,
            "hang": hang,
            "after": after,
        }
        return dict(self._call("POST", "/faults", body)["fault"])

    def faults(self) -> list[dict[str, Any]]:
        """The active fault rules."""
        return list(self._call("GET", "/faults")["faults"])

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._call("DELETE", "/faults")

    def expire_subscription(self, subscription_id: str) -> None:
        """Expire a subscription now."""
        self._call("POST", f"/subscriptions/{subscription_id}/expire")

    def delete_subscription(self, subscription_id: str) -> None:
        """Delete a subscription as if the platform lost it."""
        self._call("DELETE", f"/subscriptions/{subscription_id}")

    def expire_tokens(self, access_token: str | None = None, person_id: str | None = None) -> int:
        """Expire access tokens (one, a person's, or all); return how many."""
        return int(
            self._call("POST", "/tokens/expire", _selector(access_token, person_id))["count"]
        )

    def revoke_tokens(self, access_token: str | None = None, person_id: str | None = None) -> int:
        """Revoke sessions (one, a person's, or all); return how many."""
        return int(
            self._call("POST", "/tokens/revoke", _selector(access_token, person_id))["count"]
        )

    def pause_pubnub(self) -> None:
        """Retain publishes without delivering them."""
        self._call("POST", "/pubnub/pause")

    def resume_pubnub(self) -> None:
        """Deliver again."""
        self._call("POST", "/pubnub/resume")

    def duplicate_next(self, count: int = 1) -> None:
        """Deliver each of the next ``count`` notifications twice."""
        self._call("POST", "/pubnub/duplicate-next", {"count": count})

    def publish_raw(self, subscriber_key: str, channel: str, message: Any) -> str:
        """Publish ``message`` as is (unencrypted) on a channel; return its timetoken."""
        body = {"subscriberKey": subscriber_key, "channel": channel, "message": message}
        return str(self._call("POST", "/pubnub/publish", body)["timetoken"])

    def flood(
        self,
        group_id: str,
        person_id: str,
        count: int,
        rate: float | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """Make ``count`` posts by ``person_id`` (id or email) in ``group_id``, each as
        ``POST /glip/posts`` makes it (PostAdded included), ``rate`` per second or as fast as
        possible; once all are made, ``{"created", "seconds", "firstPostId", "lastPostId"}``.
        ``text`` defaults to ``"flood {n}"`` (``{n}``: the post's 1-based index)."""
        body: dict[str, Any] = {"groupId": group_id, "personId": person_id, "count": count}
        if rate is not None:
            body["rate"] = rate
        if text is not None:
            body["text"] = text
        # The answer comes when the last post is made: allow for the flood's own length
        # (at least a thousand posts a second without a rate).
        lasts = count / rate if rate else count / 1000
        return dict(self._call("POST", "/posts/flood", body, timeout=self.timeout + lasts))

    def requests(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded REST calls, oldest first, filtered by path glob and method."""
        return list(
            self._call("GET", "/requests", params={"path": path, "method": method})["records"]
        )

    def clear_requests(self) -> None:
        """Forget the recorded calls."""
        self._call("DELETE", "/requests")

    def state(self) -> dict[str, Any]:
        """The debugging summary."""
        return dict(self._call("GET", "/state"))

    def act(
        self,
        as_: str,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A REST call as a person without OAuth; ``{"status", "headers", "body"}``."""
        payload: dict[str, Any] = {"as": as_, "method": method, "path": path}
        if body is not None:
            payload["body"] = body
        if query is not None:
            payload["query"] = query
        return dict(self._call("POST", "/act", payload))

    def websocket_state(self) -> dict[str, Any]:
        """The gateway's ``{"config", "sessions"}`` (each session as the README shows it)."""
        return dict(self._call("GET", "/websocket"))

    def websocket_config(self, **fields: float) -> dict[str, Any]:
        """Change gateway settings (``recoveryTimeout=1`` or ``recovery_timeout=1``); all now."""
        body = {_camel(key): value for key, value in fields.items()}
        return dict(self._call("POST", "/websocket/config", body)["config"])

    def drop_websockets(self, session_id: str | None = None, person_id: str | None = None) -> int:
        """Cut sockets without a close frame (one session's, a person's, or all); how many."""
        body = _ws_selector(session_id, person_id)
        return int(self._call("POST", "/websocket/drop", body)["dropped"])

    def refuse_websockets(self, seconds: float) -> None:
        """Answer WebSocket handshakes 503 for ``seconds`` (0 ends it)."""
        self._call("POST", "/websocket/refuse", {"seconds": seconds})

    def expire_websocket_sessions(
        self, session_id: str | None = None, person_id: str | None = None
    ) -> int:
        """End WebSocket sessions now (sockets closed, subscriptions deleted); how many."""
        body = _ws_selector(session_id, person_id)
        return int(self._call("POST", "/websocket/expire", body)["expired"])

    def install(
        self,
        kind: str,
        redirect_uri: str,
        people: int = 2,
        *,
        account_id: str | None = None,
        encoding: str | None = None,
    ) -> dict[str, Any]:
        """Install the bot (``"private"`` or ``"public"``) in a new account with ``people``
        people (or in ``account_id``, adding ``people``); ``{"account_id", "bot_id", "kind",
        "creator_extension_id", "people": [{"id", "username", "password"}]}``. The sandbox
        then calls ``redirect_uri`` in the background (see :meth:`wait_installation`)."""
        body: dict[str, Any] = {"kind": kind, "redirect_uri": redirect_uri, "people": people}
        if account_id is not None:
            body["account_id"] = account_id
        if encoding is not None:
            body["encoding"] = encoding
        return dict(self._call("POST", "/installations", body))

    def installations(self) -> list[dict[str, Any]]:
        """Every installation since the last reset, oldest first (uninstalled ones too)."""
        return list(self._call("GET", "/installations")["installations"])

    def installation(self, bot_id: str) -> dict[str, Any]:
        """One installation: ``{"account_id", "bot_id", "kind", "state", "redirect", ...}``."""
        return dict(self._call("GET", f"/installations/{bot_id}"))

    def wait_installation(
        self, bot_id: str, timeout: float = 10.0, interval: float = 0.02
    ) -> dict[str, Any]:
        """The installation once its redirect call has finished (state no longer ``pending``);
        ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.installation(bot_id)
            if found["state"] != "pending":
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"installation {bot_id} still pending after {timeout} s")
            time.sleep(interval)

    def uninstall(self, bot_id: str) -> dict[str, Any]:
        """Remove a bot (Delete events, then its subscriptions, tokens and extension); what
        was done: ``{"bot_id", "account_id", "kind", "state", "delete_notifications",
        "subscriptions_deleted", "tokens_revoked"}``."""
        return dict(self._call("DELETE", f"/installations/{bot_id}"))

    def installation_config(self, **fields: Any) -> dict[str, Any]:
        """Change installation settings (``notReadySeconds=0`` or ``not_ready_seconds=0``,
        ``authCodeLifetime``, ``redirectTimeout``, ``removedErrorCode``); the new settings.
        Without arguments, the current ones."""
        if not fields:
            return dict(self._call("GET", "/installations/config")["config"])
        body = {_camel(key): value for key, value in fields.items()}
        return dict(self._call("POST", "/installations/config", body)["config"])

    def set_not_ready_window(self, seconds: float) -> None:
        """How long later installs' bots answer SUB-406 to a subscription (0: never)."""
        self.installation_config(notReadySeconds=seconds)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _ws_selector(session_id: str | None, person_id: str | None) -> dict[str, str]:
    out = {}
    if session_id is not None:
        out["session_id"] = session_id
    if person_id is not None:
        out["person_id"] = person_id
    return out


def _selector(access_token: str | None, person_id: str | None) -> dict[str, str]:
    out = {}
    if access_token is not None:
        out["accessToken"] = access_token
    if person_id is not None:
        out["personId"] = person_id
    return out


def login(
    rest_url: str,
    username: str,
    password: str,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    extension: str | None = None,
) -> dict[str, Any]:
    """Password-grant login; the token response (raises on failure)."""
    form = {"grant_type": "password", "username": username, "password": password}
    if extension is not None:
        form["extension"] = extension
    resp = requests.post(
        rest_url.rstrip("/") + "/restapi/oauth/token",
        data=form,
        auth=(client_id, client_secret),
        timeout=10,
    )
    resp.raise_for_status()
    return dict(resp.json())


class Person(requests.Session):
    """A requests session acting as one person: paths are relative to ``/restapi/v1.0``."""

    def __init__(self, rest_url: str, token: dict[str, Any]) -> None:
        super().__init__()
        self.rest_url = rest_url.rstrip("/")
        self.token = token
        self.id = str(token["owner_id"])
        self.headers["Authorization"] = f"Bearer {token['access_token']}"

    def url(self, path: str) -> str:
        """The absolute URL of an API path (``/glip/posts`` or ``/restapi/...``)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.rest_url + (path if path.startswith("/restapi/") else API_PREFIX + path)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """As requests, with API-relative paths and a default timeout."""
        kwargs.setdefault("timeout", 10)
        target = url.decode() if isinstance(url, bytes) else url
        return super().request(method, self.url(target), *args, **kwargs)


def as_person(rest_url: str, username: str, password: str, **login_kwargs: Any) -> Person:
    """Log in and return a :class:`Person` session with the bearer token set."""
    return Person(rest_url, login(rest_url, username, password, **login_kwargs))
