"""``/healthz`` and ``/metrics`` over HTTP, and the rules that judge the status.

The body of ``/healthz`` is :meth:`listener.status.Status.snapshot` (also
mirrored in Redis); ``/metrics`` is :meth:`listener.metrics.Metrics.render`.
More routes share the port (``routes``: ``/bot/oauth``, :mod:`listener.install`).

Status rules (:func:`judge`, which also gives the reason; :func:`evaluate`):

* the leadership loop stuck: a step past its bound (see
  :mod:`listener.watchdog`) → ``failing`` (503), whatever the role; the
  watchdog ends the process if it stays stuck;
* Redis unreachable → ``failing`` (503), whatever the role;
* a standby with Redis → ``ok`` (200): standing by is healthy;
* a leader without a live subscription (none yet, lost, past expiry) →
  ``failing`` (503);
* a leader whose renewals are failing but whose subscription is still live,
  or whose transport reports errors → ``degraded`` (200);
* otherwise ``ok`` (200).

``seconds_since_last_event`` is reported, not judged: a quiet chat is normal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from glipbot.logging import get_logger
from listener.metrics import Metrics

log = get_logger(__name__)

OK, DEGRADED, FAILING = "ok", "degraded", "failing"


def judge(
    *,
    role: str,
    redis_ok: bool,
    subscription_live: bool,
    renewal_failures: int = 0,
    transport_errors: bool = False,
    stuck: str | None = None,
    login_refused: str | None = None,
) -> tuple[str, str | None]:
    """The status word for these facts and why it is not ``ok`` (None when it is).

    ``stuck`` describes a stuck step of the leadership loop
    (:meth:`listener.watchdog.Overrun.describe`), or is None.
    """
    if stuck is not None:
        return FAILING, stuck
    if not redis_ok:
        return FAILING, "redis unreachable"
    if role != "leader":
        return OK, None
    if not subscription_live:
        if login_refused is not None:
            return FAILING, f"login refused: check {login_refused}"
        return FAILING, "no live subscription"
    if renewal_failures:
        return DEGRADED, f"{renewal_failures} subscription attempts failed in a row"
    if transport_errors:
        return DEGRADED, "the transport's message callback raised"
    return OK, None


def evaluate(
    *,
    role: str,
    redis_ok: bool,
    subscription_live: bool,
    renewal_failures: int = 0,
    transport_errors: bool = False,
    stuck: str | None = None,
) -> str:
    """The status word for these facts (see the module docstring)."""
    status, _reason = judge(
        role=role,
        redis_ok=redis_ok,
        subscription_live=subscription_live,
        renewal_failures=renewal_failures,
        transport_errors=transport_errors,
        stuck=stuck,
    )
    return status


def http_status(status: str) -> int:
    """200 for ok and degraded, 503 for failing."""
    return 503 if status == FAILING else 200


class HealthServer:
    """An aiohttp server answering from ``snapshot()`` (the ``/healthz`` body) and metrics."""

    def __init__(
        self,
        snapshot: Callable[[], dict[str, Any]],
        metrics: Metrics,
        *,
        host: str,
        port: int,
        routes: Iterable[web.AbstractRouteDef] = (),
    ) -> None:
        self._snapshot = snapshot
        self._routes = list(routes)
        self._metrics = metrics
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> int:
        """Bind (port 0 → a free port) and return the bound port."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_text)
        app.router.add_routes(self._routes)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self._port
        return self.port

    async def stop(self) -> None:
        """Close the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        body = self._snapshot()
        return web.json_response(body, status=http_status(str(body.get("status"))))

    async def _metrics_text(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
