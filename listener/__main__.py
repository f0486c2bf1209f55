"""``python -m listener``: settings from the environment, logging, run until a signal.

SIGTERM or SIGINT: stop consuming, enqueue what is buffered and persist the
timetoken, release the lease, leave the subscription in place, exit (within
a few seconds: shutdown steps are bounded by timeouts). Whatever is stuck,
the watchdog (:mod:`listener.watchdog`) ends the process within its
shutdown bound, with status 70; it also ends a process whose loop is stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from functools import partial

from glipbot.errors import ConfigError
from glipbot.logging import configure_logging, get_logger
from glipbot.platform import connect
from glipbot.platform.installs import InstallCalls, configured_identity
from glipbot.settings import Settings, variables
from glipbot.state.installations import InstallationStore
from glipbot.unknown_variables import warn_unknown
from listener.backfill import Backfill
from listener.configured import keep_configured
from listener.service import ListenerService

log = get_logger("listener")


async def _main(settings: Settings) -> None:
    platform = connect(settings)
    backfill = Backfill(platform.rest, platform.tokens.owner_id)
    installs = InstallCalls(settings, platform.rest.transport)
    service = ListenerService(
        settings,
        platform.rest,
        platform.redis,
        backfill=backfill,
        installs=installs,
        connect_installed=platform.installed_client,
    )
    # The configured bot is an installation too; recorded beside the run, never in its way.
    configured = asyncio.create_task(
        keep_configured(
            partial(configured_identity, platform.tokens, installs),
            InstallationStore(platform.redis, platform.keys),
            service.metrics,
        ),
        name="configured_installation",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def shut_down() -> None:
        # From here on the process exits within the watchdog's shutdown bound,
        # even if a step is stuck; a stuck event loop is the watchdog's alone.
        service.watchdog.shutdown_requested()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shut_down)
    service.watchdog.start()
    try:
        await service.run(stop)
    finally:
        # Whatever ended the run, what is left (the executor's threads included) is bounded.
        service.watchdog.shutdown_requested()
        configured.cancel()
        platform.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argparse.ArgumentParser(
        prog="python -m listener",
        description=(
            "Keep the bot's RingCentral subscription alive and put each event on the "
            "'events' queue. Any number may run: one leads, the others stand by. "
            "Settings come from the environment (see the README's configuration table): "
            "RINGCENTRAL_*, REDIS_URL, NOTIFICATION_TRANSPORT (pubnub or websocket), "
            "PUBNUB_*, WEBSOCKET_*, SUBSCRIPTION_*, LISTENER_* and LOG_*. "
            "SIGTERM or SIGINT stops it cleanly."
        ),
    ).parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"listener: {exc}", file=sys.stderr)  # logging is not set up yet
        return 2
    configure_logging(settings)
    # The listener reads only the platform's settings (it knows no bot's).
    warn_unknown(v.name for v in variables(Settings))
    # One INFO line per PubNub long-poll would drown the listener's own events.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    asyncio.run(_main(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
