"""The control API, under ``/sandbox/`` on the REST port (no authentication).

===========================================  ===============================================
``POST   /sandbox/reset``                    back to the seed: store (no installed
                                             accounts), tokens, subscriptions, rate limits,
                                             faults, recorder, PubNub hub, WebSocket gateway
                                             (sessions, settings), installations (settings)
``POST   /sandbox/faults``                   ``{"method"?, "path" (glob), "count"?=1,
                                             "status"?, "retryAfter"?, "hang"?, "after"?}``
``GET    /sandbox/faults``                   the active rules
``DELETE /sandbox/faults``                   remove every rule
``POST   /sandbox/subscriptions/{id}/expire`` expire a subscription now
``DELETE /sandbox/subscriptions/{id}``       delete a subscription
``POST   /sandbox/tokens/expire``            ``{"accessToken"}`` | ``{"personId"}`` | ``{}`` (all)
``POST   /sandbox/tokens/revoke``            same selectors; the sessions end
``POST   /sandbox/pubnub/pause``             retain publishes, deliver nothing
``POST   /sandbox/pubnub/resume``            deliver again (what was retained first)
``POST   /sandbox/pubnub/duplicate-next``    ``{"count"?=1}``: next publishes go out twice
``POST   /sandbox/pubnub/publish``           ``{"subscriberKey", "channel", "message"}`` raw
``GET    /sandbox/requests``                 ``?path=GLOB&method=``: recorded REST calls
``DELETE /sandbox/requests``                 forget them
``GET    /sandbox/state``                    subscriptions, sessions per person, pause flag
``POST   /sandbox/act``                      ``{"as", "method", "path", "body"?, "query"?}``:
                                             a REST call as a person (id or email), no OAuth
===========================================  ===============================================

The WebSocket gateway's endpoints (``/sandbox/websocket/...``) are in
:mod:`sandbox.websocket.control`; the installations' (``/sandbox/installations...``)
in :mod:`sandbox.installation_control`; ``POST /sandbox/posts/flood`` (``{"groupId",
"personId", "count", "rate"?, "text"?}``: many posts, each as ``POST /glip/posts`` makes
it, at once or at a rate) in :mod:`sandbox.flood`.

Every answer is JSON; a bad control request answers 400 with the classic body.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from sandbox.errors import invalid, missing, not_found, read_json_object
from sandbox.faults import Fault

if TYPE_CHECKING:
    from sandbox.app import Sandbox
    from sandbox.tokens import Session

PREFIX = "/sandbox"


class Control:
    """Handlers of the control API over one wired :class:`~sandbox.app.Sandbox`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self._act_tokens: dict[str, str] = {}

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes of the control API."""
        p = PREFIX
        return [
            web.post(p + "/reset", self.reset),
            web.post(p + "/faults", self.add_fault),
            web.get(p + "/faults", self.list_faults),
            web.delete(p + "/faults", self.clear_faults),
            web.post(p + "/subscriptions/{id}/expire", self.expire_subscription),
            web.delete(p + "/subscriptions/{id}", self.delete_subscription),
            web.post(p + "/tokens/expire", self.expire_tokens),
            web.post(p + "/tokens/revoke", self.revoke_tokens),
            web.post(p + "/pubnub/pause", self.pause),
            web.post(p + "/pubnub/resume", self.resume),
            web.post(p + "/pubnub/duplicate-next", self.duplicate_next),
            web.post(p + "/pubnub/publish", self.publish),
            web.get(p + "/requests", self.requests),
            web.delete(p + "/requests", self.clear_requests),
            web.get(p + "/state", self.state),
            web.post(p + "/act", self.act),
        ]

    async def reset(self, request: web.Request) -> web.Response:
        """Back to the seed state."""
        self._sb.reset()
        self._act_tokens.clear()
        return _ok()

    async def add_fault(self, request: web.Request) -> web.Response:
        """Add a fault rule."""
        fault = Fault.from_json(await read_json_object(request))
        self._sb.faults.add(fault)
        return _ok(fault=fault.to_json())

    async def list_faults(self, request: web.Request) -> web.Response:
        """The active fault rules."""
        return web.json_response({"faults": [f.to_json() for f in self._sb.faults.faults]})

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Remove every fault rule."""
        self._sb.faults.clear()
        return _ok()

    async def expire_subscription(self, request: web.Request) -> web.Response:
        """Expire a subscription now: it stops delivering and answers 404."""
        if not self._sb.subscriptions.expire(request.match_info["id"]):
            raise not_found("subscriptionId")
        return _ok()

    async def delete_subscription(self, request: web.Request) -> web.Response:
        """Delete a subscription, as if the platform lost it."""
        if not self._sb.subscriptions.delete(request.match_info["id"]):
            raise not_found("subscriptionId")
        return _ok()

    async def expire_tokens(self, request: web.Request) -> web.Response:
        """Expire access tokens now (refresh tokens keep working)."""
        sessions = await self._select_sessions(request)
        for s in sessions:
            self._sb.tokens.expire(s)
        return _ok(count=len(sessions))

    async def revoke_tokens(self, request: web.Request) -> web.Response:
        """End sessions: their access and refresh tokens stop working."""
        sessions = await self._select_sessions(request)
        for s in sessions:
            self._sb.tokens.revoke(s)
        return _ok(count=len(sessions))

    async def pause(self, request: web.Request) -> web.Response:
        """Pause PubNub delivery."""
        self._sb.hub.pause()
        return _ok(paused=True)

    async def resume(self, request: web.Request) -> web.Response:
        """Resume PubNub delivery."""
        self._sb.hub.resume()
        return _ok(paused=False)

    async def duplicate_next(self, request: web.Request) -> web.Response:
        """Deliver each of the next ``count`` publishes twice."""
        body = await read_json_object(request, required=False)
        count = body.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise invalid("count", "a positive integer")
        self._sb.hub.duplicate_next(count)
        return _ok(count=count)

    async def publish(self, request: web.Request) -> web.Response:
        """Publish a raw, unencrypted message on a channel."""
        body = await read_json_object(request)
        for key in ("subscriberKey", "channel", "message"):
            if key not in body:
                raise missing(key)
        if not isinstance(body["subscriberKey"], str) or not isinstance(body["channel"], str):
            raise invalid("channel", "subscriberKey and channel are strings")
        timetoken = self._sb.hub.publish(body["subscriberKey"], body["channel"], body["message"])
        return _ok(timetoken=timetoken)

    async def requests(self, request: web.Request) -> web.Response:
        """Recorded REST calls, oldest first, filtered by path glob and method."""
        records = self._sb.recorder.select(request.query.get("path"), request.query.get("method"))
        return web.json_response({"records": records})

    async def clear_requests(self, request: web.Request) -> web.Response:
        """Forget the recorded calls."""
        self._sb.recorder.clear()
        return _ok()

    async def state(self, request: web.Request) -> web.Response:
        """A summary for debugging."""
        sb = self._sb
        now = sb.clock()
        sessions: dict[str, int] = {}
        for s in sb.tokens.sessions():
            if not s.static and s.access_expires > now:
                sessions[s.person_id] = sessions.get(s.person_id, 0) + 1
        subs = [
            {
                "id": s.id,
                "ownerId": s.owner_id,
                "eventFilters": s.event_filters,
                "address": s.address,
                "transportType": s.transport,
                # A WebSocket subscription lives as long as its session: no expiry.
                "expiresIn": round(s.expires_at - now, 3) if math.isfinite(s.expires_at) else None,
            }
            for s in sb.subscriptions.live()
        ]
        return web.json_response(
            {
                "subscriptions": subs,
                "liveTokensPerPerson": sessions,
                "pubnubPaused": bool(sb.hub.paused),
                "faults": [f.to_json() for f in sb.faults.faults],
                "accounts": len(sb.store.directory.accounts),
                "installations": len(sb.installations.all()),
                "groups": len(sb.store.groups),
                "posts": sum(len(p) for p in sb.store.posts.values()),
                "recordedRequests": len(sb.recorder.records),
            }
        )

    async def act(self, request: web.Request) -> web.Response:
        """Make a REST call as a person without OAuth; answer its status, headers and body."""
        body = await read_json_object(request)
        who = body.get("as")
        person = None
        if isinstance(who, str):
            person = self._sb.store.person_by_email(who) or self._sb.store.person(who)
        if person is None:
            raise invalid("as", "a person id or email")
        method, path = body.get("method", "GET"), body.get("path")
        if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
            raise invalid("path", "a method and an absolute path")
        token = self._act_tokens.get(person.id)
        if token is None or self._sb.tokens.lookup(token)[0] != "ok":
            token = self._sb.tokens.issue_static(person.id, self._sb.seed.client_id)
            self._act_tokens[person.id] = token
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"}}
        if "body" in body:
            kwargs["json"] = body["body"]
        if isinstance(body.get("query"), dict):
            kwargs["params"] = body["query"]
        url = f"{request.url.origin()}{path}"
        async with aiohttp.ClientSession() as client, client.request(method, url, **kwargs) as resp:
            raw = await resp.read()
            answer: Any
            try:
                answer = await resp.json(content_type=None)
            except ValueError:
                answer = raw.decode("utf-8", "replace")
            return web.json_response(
                {"status": resp.status, "headers": dict(resp.headers), "body": answer}
            )

    async def _select_sessions(self, request: web.Request) -> list[Session]:
        body = await read_json_object(request, required=False)
        token, person = body.get("accessToken"), body.get("personId")
        if token is not None and not isinstance(token, str):
            raise invalid("accessToken")
        if person is not None and not isinstance(person, str):
            raise invalid("personId")
        return self._sb.tokens.sessions(access_token=token, person_id=person)


def _ok(**extra: Any) -> web.Response:
    return web.json_response({"ok": True, **extra})
