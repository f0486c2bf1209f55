"""``python -m sandbox``: serve the RingCentral + PubNub stand-in until SIGTERM/SIGINT.

On start it prints one JSON line on stdout (``rest_url``, ``pubnub_origin``,
``control_url``, ``ws_url``, ``pid``); logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import sys
from pathlib import Path

from sandbox import config as c
from sandbox.app import start
from sandbox.seed import SeedError


def parse_args(argv: list[str] | None = None) -> c.SandboxConfig:
    """The configuration named by the command line."""
    p = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="A local RingCentral (REST, OAuth, Glip, subscriptions) and PubNub stand-in.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default=c.DEFAULT_HOST, help="address both servers bind")
    p.add_argument(
        "--port",
        type=int,
        default=c.DEFAULT_PORT,
        help="REST port (0 = a free port, and then the PubNub port defaults to 0 too)",
    )
    p.add_argument(
        "--pubnub-port",
        type=int,
        default=None,
        help=f"PubNub port (default {c.DEFAULT_PUBNUB_PORT}, or 0 when --port is 0)",
    )
    p.add_argument(
        "--token-lifetime",
        type=int,
        default=c.DEFAULT_TOKEN_LIFETIME,
        help="access token lifetime, seconds",
    )
    p.add_argument(
        "--refresh-token-lifetime",
        type=int,
        default=c.DEFAULT_REFRESH_TOKEN_LIFETIME,
        help="refresh token lifetime, seconds",
    )
    p.add_argument(
        "--refresh-grace",
        type=float,
        default=c.DEFAULT_REFRESH_GRACE,
        help="seconds a used refresh token keeps answering",
    )
    p.add_argument(
        "--subscription-max-lifetime",
        type=int,
        default=c.DEFAULT_SUBSCRIPTION_MAX_LIFETIME,
        help="cap (and default) of a subscription's expiresIn, seconds",
    )
    p.add_argument(
        "--subscription-limit",
        type=int,
        default=c.DEFAULT_SUBSCRIPTION_LIMIT,
        help="live subscriptions per person and app (403 SUB-505 past it)",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=c.DEFAULT_MAX_SESSIONS,
        help="live logins per person and app; a new login revokes the oldest (0 = unlimited)",
    )
    p.add_argument(
        "--rate-window",
        type=float,
        default=c.DEFAULT_RATE_WINDOW,
        help="rate-limit window and penalty, seconds",
    )
    p.add_argument(
        "--rate-limit",
        action="append",
        default=argparse.SUPPRESS,  # repeated values append; none given: the defaults
        metavar="GROUP=N",
        type=_rate_limit,
        help=(
            "requests per window of a rate-limit group (repeat for several); the others keep "
            "RingCentral's " + ", ".join(f"{g}={n}" for g, n in c.RATE_LIMITS.items())
        ),
    )
    p.add_argument(
        "--pubnub-hold",
        type=float,
        default=c.DEFAULT_PUBNUB_HOLD,
        help="seconds a PubNub long-poll is held when there is nothing to deliver",
    )
    p.add_argument(
        "--ws-recovery-timeout",
        type=float,
        default=c.DEFAULT_WS_RECOVERY_TIMEOUT,
        help="seconds a dropped WebSocket session can be recovered (recoveryTimeout)",
    )
    p.add_argument(
        "--ws-recovery-buffer-size",
        type=int,
        default=c.DEFAULT_WS_RECOVERY_BUFFER_SIZE,
        help="notifications a WebSocket session keeps for replay (recoveryBufferSize)",
    )
    p.add_argument(
        "--ws-idle-timeout",
        type=float,
        default=c.DEFAULT_WS_IDLE_TIMEOUT,
        help="seconds without a text frame from the client before WSG-902 (idleTimeout)",
    )
    p.add_argument(
        "--ws-absolute-timeout",
        type=float,
        default=c.DEFAULT_WS_ABSOLUTE_TIMEOUT,
        help="seconds a WebSocket lives before WSG-903 (absoluteTimeout)",
    )
    p.add_argument(
        "--wstoken-lifetime",
        type=float,
        default=c.DEFAULT_WSTOKEN_LIFETIME,
        help="seconds a ws_access_token from /restapi/oauth/wstoken stays usable",
    )
    p.add_argument(
        "--bot-not-ready",
        type=float,
        default=c.DEFAULT_BOT_NOT_READY,
        help="seconds after an installation during which the bot's subscriptions answer SUB-406",
    )
    p.add_argument(
        "--auth-code-lifetime",
        type=float,
        default=c.DEFAULT_AUTH_CODE_LIFETIME,
        help="seconds a public bot's installation code can be exchanged",
    )
    p.add_argument(
        "--redirect-timeout",
        type=float,
        default=c.DEFAULT_REDIRECT_TIMEOUT,
        help="seconds to wait for the app's redirect URI to answer an installation call",
    )
    p.add_argument("--seed", type=Path, default=c.SEED_PATH, help="seed file (accounts, chats)")
    p.add_argument(
        "--log-level",
        default=c.DEFAULT_LOG_LEVEL,
        choices=["debug", "info", "warning", "error"],
        help="stderr log level",
    )
    a = p.parse_args(argv)
    pubnub_port = a.pubnub_port
    if pubnub_port is None:
        pubnub_port = 0 if a.port == 0 else c.DEFAULT_PUBNUB_PORT
    for name in ("token_lifetime", "refresh_token_lifetime", "subscription_max_lifetime"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if a.rate_window <= 0 or a.pubnub_hold <= 0 or a.refresh_grace < 0:
        p.error("--rate-window and --pubnub-hold must be positive, --refresh-grace not negative")
    for name in (
        "ws_recovery_timeout",
        "ws_idle_timeout",
        "ws_absolute_timeout",
        "wstoken_lifetime",
    ):
        if not getattr(a, name) > 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.ws_recovery_buffer_size < 0:
        p.error("--ws-recovery-buffer-size must not be negative")
    if not (math.isfinite(a.bot_not_ready) and a.bot_not_ready >= 0):
        p.error("--bot-not-ready must be a number of seconds, not negative")
    for name in ("auth_code_lifetime", "redirect_timeout"):
        if not (math.isfinite(getattr(a, name)) and getattr(a, name) > 0):
            p.error(f"--{name.replace('_', '-')} must be a positive number of seconds")
    return c.SandboxConfig(
        host=a.host,
        port=a.port,
        pubnub_port=pubnub_port,
        token_lifetime=a.token_lifetime,
        refresh_token_lifetime=a.refresh_token_lifetime,
        refresh_grace=a.refresh_grace,
        subscription_max_lifetime=a.subscription_max_lifetime,
        subscription_limit=a.subscription_limit,
        max_sessions=a.max_sessions,
        rate_window=a.rate_window,
        rate_limits={**c.RATE_LIMITS, **dict(getattr(a, "rate_limit", []))},
        pubnub_hold=a.pubnub_hold,
        ws_recovery_timeout=a.ws_recovery_timeout,
        ws_recovery_buffer_size=a.ws_recovery_buffer_size,
        ws_idle_timeout=a.ws_idle_timeout,
        ws_absolute_timeout=a.ws_absolute_timeout,
        wstoken_lifetime=a.wstoken_lifetime,
        bot_not_ready=a.bot_not_ready,
        auth_code_lifetime=a.auth_code_lifetime,
        redirect_timeout=a.redirect_timeout,
        seed_path=a.seed,
        log_level=a.log_level,
    )


def _rate_limit(text: str) -> tuple[str, int]:
    """``GROUP=N`` of ``--rate-limit``: a known group and a positive count."""
    group, _, count = text.partition("=")
    if group not in c.RATE_LIMITS or not count.isdigit() or int(count) < 1:
        groups = ", ".join(c.RATE_LIMITS)
        raise argparse.ArgumentTypeError(
            f"{text!r} is not GROUP=N with GROUP one of {groups} and N a positive integer"
        )
    return group, int(count)


async def serve(config: c.SandboxConfig) -> None:
    """Start, announce the addresses on stdout, and serve until a stop signal."""
    running = await start(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(json.dumps({**running.urls, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    logging.getLogger("sandbox").info("serving %s", running.urls)
    await stop.wait()
    await running.stop()


def main(argv: list[str] | None = None) -> int:
    """The CLI entry point."""
    config = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        asyncio.run(serve(config))
    except SeedError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sandbox: cannot listen: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
