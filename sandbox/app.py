"""Wire the sandbox's parts together and serve the REST and PubNub apps in one loop.

Middlewares of the REST app, outermost first: recorder → rate limit (headers
on every answer, 429) → errors (every failure becomes the platform's JSON) →
faults → the handler. The WebSocket gateway (``/ws``) is served by the same
app; its handshake skips the recorder, the rate limit and the faults, and the
REST calls made over its sockets come back through all of them.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field

from aiohttp import web

from sandbox.clock import Clock, system_clock
from sandbox.config import SandboxConfig
from sandbox.control import Control
from sandbox.errors import error_middleware
from sandbox.extensions import ExtensionEndpoints
from sandbox.faults import FaultTable, fault_middleware
from sandbox.flood import FloodControl
from sandbox.glip import GlipEndpoints
from sandbox.installation_control import InstallationControl
from sandbox.installations import Installations
from sandbox.notifications import Notifier
from sandbox.oauth import OAuth
from sandbox.posts import PostEndpoints
from sandbox.pubnub import PubNubHub, make_app
from sandbox.ratelimit import RateLimiter, rate_limit_middleware
from sandbox.recorder import Recorder, recorder_middleware
from sandbox.seed import Seed, load_seed
from sandbox.store import Store
from sandbox.subscription_endpoints import SubscriptionEndpoints
from sandbox.subscriptions import SubscriptionTable
from sandbox.tokens import TokenTable
from sandbox.websocket import (
    GATEWAY_PATH,
    WebSocketControl,
    WebSocketGateway,
    WsTokenEndpoint,
)

log = logging.getLogger("sandbox")


@dataclass
class Sandbox:
    """The whole state of one sandbox instance."""

    config: SandboxConfig
    seed: Seed
    clock: Clock
    store: Store
    tokens: TokenTable
    oauth: OAuth
    limiter: RateLimiter
    subscriptions: SubscriptionTable
    hub: PubNubHub
    notifier: Notifier
    websocket: WebSocketGateway
    installations: Installations
    faults: FaultTable = field(default_factory=FaultTable)
    recorder: Recorder = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.clock)
        self.reset()

    def reset(self) -> None:
        """Everything back to the seed state (no installed accounts)."""
        self.installations.reset()
        self.store.reset(self.seed)
        self.tokens.reset(self.seed.bot_tokens, self.seed.client_id)
        self.limiter.reset()
        self.subscriptions.reset()
        self.faults.clear()
        self.recorder.clear()
        self.hub.reset()
        self.websocket.reset()


def build(config: SandboxConfig, clock: Clock = system_clock) -> Sandbox:
    """A fresh sandbox from ``config`` (reads the seed file)."""
    seed = load_seed(config.seed_path)
    store = Store(seed, clock)
    tokens = TokenTable(config, clock)
    subscriptions = SubscriptionTable(config, clock)
    hub = PubNubHub(hold_seconds=config.pubnub_hold, clock=clock)
    websocket = WebSocketGateway(config, tokens, subscriptions, clock)
    notifier = Notifier(subscriptions, hub, clock, websocket)
    installations = Installations(config, store, tokens, subscriptions, notifier, websocket, clock)
    return Sandbox(
        config=config,
        seed=seed,
        clock=clock,
        store=store,
        tokens=tokens,
        oauth=OAuth(
            store,
            tokens,
            clock,
            codes=installations.codes,
            removed_error=lambda: installations.settings.removed_error_code,
        ),
        limiter=RateLimiter(config.rate_window, clock, config.rate_limits),
        subscriptions=subscriptions,
        hub=hub,
        notifier=notifier,
        websocket=websocket,
        installations=installations,
    )


def rest_app(sandbox: Sandbox) -> web.Application:
    """The aiohttp app of the REST port: OAuth, Glip, subscriptions, control API."""

    async def subject(request: web.Request, group: str) -> str:
        identity = sandbox.oauth.peek(request)
        if group == "Auth":
            if identity is not None:  # wstoken: per person and app, as the spec's Auth group
                request["who"] = identity.person_id
                return f"{identity.client_id}|person:{identity.person_id}"
            return f"{_basic_client(request)}|{await sandbox.oauth.auth_subject(request)}"
        if identity is None:
            return f"ip:{request.remote}"
        request["who"] = identity.person_id
        return f"{identity.person_id}|{identity.client_id}"

    app = web.Application(
        middlewares=[
            recorder_middleware(sandbox.recorder),
            rate_limit_middleware(sandbox.limiter, subject),
            error_middleware,
            fault_middleware(sandbox.faults),
        ],
        client_max_size=4 * 1024 * 1024,
    )
    app.router.add_post("/restapi/oauth/token", sandbox.oauth.token)
    app.router.add_post("/restapi/oauth/revoke", sandbox.oauth.revoke)
    gateway = sandbox.websocket
    app.router.add_routes(
        WsTokenEndpoint(gateway.wstokens, sandbox.oauth, lambda: gateway.settings).routes()
    )
    app.router.add_get(GATEWAY_PATH, gateway.handle)
    app.router.add_routes(GlipEndpoints(sandbox.store, sandbox.oauth, sandbox.notifier).routes())
    app.router.add_routes(PostEndpoints(sandbox.store, sandbox.oauth, sandbox.notifier).routes())
    app.router.add_routes(ExtensionEndpoints(sandbox.store, sandbox.oauth).routes())
    app.router.add_routes(
        SubscriptionEndpoints(
            sandbox.subscriptions,
            sandbox.oauth,
            sandbox.config,
            sandbox.clock,
            sockets=gateway,
            account_of=lambda person_id: _account_of(sandbox, person_id),
            not_ready=sandbox.installations.not_ready,
        ).routes()
    )
    app.router.add_routes(Control(sandbox).routes())
    app.router.add_routes(FloodControl(sandbox.store, sandbox.notifier).routes())
    app.router.add_routes(WebSocketControl(gateway).routes())
    app.router.add_routes(InstallationControl(sandbox.installations, sandbox.clock).routes())

    async def close_sockets(_: web.Application) -> None:
        sandbox.installations.redirects.cancel_all()
        await gateway.shutdown()

    async def release(_: web.Application) -> None:
        await sandbox.installations.redirects.close()
        await gateway.cleanup()

    app.on_shutdown.append(close_sockets)
    app.on_cleanup.append(release)
    return app


def _account_of(sandbox: Sandbox, person_id: str) -> str:
    person = sandbox.store.person(person_id)
    return person.account_id if person is not None else sandbox.seed.company_id


def _basic_client(request: web.Request) -> str:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return "-"
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return "-"


@dataclass
class Running:
    """A started sandbox: its addresses, and how to stop it."""

    sandbox: Sandbox
    host: str
    rest_port: int
    pubnub_port: int
    runners: list[web.AppRunner]

    @property
    def urls(self) -> dict[str, str]:
        """The JSON line the CLI prints."""
        rest = f"http://{self.host}:{self.rest_port}"
        return {
            "rest_url": rest,
            "pubnub_origin": f"{self.host}:{self.pubnub_port}",
            "control_url": f"{rest}/sandbox",
            "ws_url": f"ws://{self.host}:{self.rest_port}{GATEWAY_PATH}",
        }

    async def stop(self) -> None:
        """Close both servers (held long-polls are answered first)."""
        for runner in reversed(self.runners):
            await runner.cleanup()


async def start(config: SandboxConfig, clock: Clock = system_clock) -> Running:
    """Build a sandbox and serve it on ``config``'s host and ports (0 = any free port)."""
    sandbox = build(config, clock)
    runners = []
    ports = []
    for app, port in (
        (rest_app(sandbox), config.port),
        (make_app(sandbox.hub), config.pubnub_port),
    ):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.host, port, shutdown_timeout=1.0)
        await site.start()
        runners.append(runner)
        ports.append(int(runner.addresses[0][1]))
    host = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return Running(sandbox, host, ports[0], ports[1], runners)
