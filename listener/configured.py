"""The configured bot (the ``RINGCENTRAL_*`` settings) is an installation too.

:func:`keep_configured` runs beside the listener at start: it asks the
platform who the configured token belongs to and records it as the active
``configured`` installation (``InstallationStore.ensure_configured``).
The listener starts and serves without it: a platform or Redis outage is
logged and tried again, with back-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from glipbot import log_events as ev
from glipbot.logging import get_logger
from glipbot.platform.installs import BotIdentity
from glipbot.retry import RetryPolicy, classify
from glipbot.state.installations import Installation, InstallationStore
from listener.metrics import Metrics

log = get_logger(__name__)

#: How :func:`keep_configured` retries: transient failures back off to 5 minutes;
#: a refusal (bad credentials) is tried again every 5 minutes.
CONFIGURED_RETRY = RetryPolicy(max_attempts=None, base=2.0, cap=300.0)


async def keep_configured(
    identify: Callable[[], BotIdentity],
    store: InstallationStore,
    metrics: Metrics,
    *,
    policy: RetryPolicy = CONFIGURED_RETRY,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> Installation:
    """Record the configured bot as the active ``configured`` installation; retry until done."""
    failures = 0
    while True:
        try:
            identity = await asyncio.to_thread(identify)
            installation, changed, retired = await asyncio.to_thread(
                store.ensure_configured, identity.bot_id, identity.account_id
            )
        except Exception as exc:  # every failure is retried; the listener runs meanwhile
            failures += 1
            delay = policy.delay(exc, failures)
            delay = policy.cap if delay is None else delay  # a refusal: again, slowly
            judged = classify(exc)
            metrics.inc("installs", kind="configured", result="failed")
            log.warning(
                ev.CONFIGURED_INSTALLATION_FAILED,
                error=str(judged) or type(judged).__name__,
                error_type=type(judged).__name__,
                failures=failures,
                retry_in=round(delay, 1),
            )
            await sleep(delay)
            continue
        metrics.inc("installs", kind="configured", result="registered")
        log.info(
            ev.CONFIGURED_INSTALLATION_REGISTERED,
            bot_id=installation.bot_id,
            account_id=installation.account_id,
            changed=changed,
            retired=retired,
        )
        return installation
