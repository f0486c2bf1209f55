"""The ops inbox: ``renew`` and ``recreate`` requested by people, read while leading.

Not on an event's path, but it changes where events come from: the ops task
(``tasks.ops``) pushes a command (:mod:`glipbot.contracts.listener_commands`) onto the list
:attr:`~glipbot.state.keys.Keys.listener_commands`; the leader pops it
(``BLPOP``, one second at a time) and asks the subscription keeper to act
at its next step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from glipbot import log_events as ev
from glipbot.contracts import listener_commands
from glipbot.logging import get_logger
from glipbot.state.keys import Keys
from listener.metrics import Metrics
from listener.subscription import SubscriptionHolder

log = get_logger(__name__)

#: Seconds one BLPOP waits (and the pause after a Redis error).
COMMAND_POLL = 1.0


class CommandInbox:
    """Pops ops commands and hands them to the keeper of the current reign."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        metrics: Metrics,
        keeper: Callable[[], SubscriptionHolder | None],
    ) -> None:
        self._redis = client
        self._key = keys.listener_commands
        self._metrics = metrics
        self._keeper = keeper

    async def run(self) -> None:
        """Pop and dispatch commands until cancelled."""
        while True:
            try:
                item = await self._redis.blpop([self._key], timeout=COMMAND_POLL)
            except (RedisError, OSError):
                await asyncio.sleep(COMMAND_POLL)
                continue
            if item is not None:
                self._dispatch(item[1])

    def _dispatch(self, raw: bytes | str) -> None:
        command = listener_commands.decode(raw)
        keeper = self._keeper()
        if command is None:
            log.warning(ev.OPS_COMMAND_UNKNOWN, raw=str(raw)[:200])
        elif keeper is None:
            log.warning(ev.OPS_COMMAND_DROPPED, command=command, reason="no subscription yet")
        else:
            self._metrics.inc("commands", command=command)
            log.info(ev.OPS_COMMAND, command=command)
            keeper.request(command)
