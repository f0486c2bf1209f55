"""Calling an app's OAuth redirect URI at installation, in the background, as RingCentral does.

A private install POSTs the bot's token to the redirect URI; a public install
GETs it with ``?code=…&creator_extension_id=…`` (BOTS.md §2). The call is made
once, never retried; its outcome (the HTTP status, or why there was none) is
kept on the :class:`RedirectCall` for the control API to show. Any 2xx is a
success. Codes are masked in what the control API shows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from sandbox.clock import Clock, iso

log = logging.getLogger("sandbox.redirects")

USER_AGENT = "RingCentral-Sandbox-Install/1.0"
MASK = "***"


@dataclass
class RedirectCall:
    """One call of a redirect URI: what is sent, and what came of it."""

    method: str
    url: str
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    status: int | None = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        """Whether the call has finished (answered, failed or timed out)."""
        return self.finished_at is not None

    @property
    def ok(self) -> bool:
        """Whether the redirect URI answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        """``{method, url (code masked), status, error, started_at, finished_at}``."""
        url = URL(self.url)
        if "code" in url.query:
            url = url.update_query(code=MASK)
        return {
            "method": self.method,
            "url": str(url),
            "status": self.status,
            "error": self.error,
            "started_at": None if self.started_at is None else iso(self.started_at),
            "finished_at": None if self.finished_at is None else iso(self.finished_at),
        }


class RedirectCaller:
    """Runs redirect calls as background tasks on one HTTP client."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._client: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self, call: RedirectCall, timeout: float, done: Callable[[RedirectCall], None]
    ) -> None:
        """Make ``call`` in the background; ``done`` runs when it has finished."""
        task = asyncio.get_running_loop().create_task(self._run(call, timeout, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_all(self) -> None:
        """Abandon every call in flight (reset, shutdown)."""
        for task in self._tasks:
            task.cancel()

    async def close(self) -> None:
        """Abandon the calls in flight and close the HTTP client."""
        tasks = list(self._tasks)
        self.cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _run(
        self, call: RedirectCall, timeout: float, done: Callable[[RedirectCall], None]
    ) -> None:
        if self._client is None:
            self._client = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT}, timeout=aiohttp.ClientTimeout(total=None)
            )
        call.started_at = self._clock()
        try:
            async with asyncio.timeout(timeout):
                async with self._client.request(
                    call.method, call.url, json=call.json, data=call.form, allow_redirects=False
                ) as resp:
                    await resp.read()
                    call.status = resp.status
            if not call.ok:
                call.error = f"the redirect URI answered HTTP {call.status}"
        except TimeoutError:
            call.error = f"the redirect URI did not answer within {timeout:g} s"
        except (aiohttp.ClientError, ValueError) as exc:
            call.error = f"{type(exc).__name__}: {exc}"
        call.finished_at = self._clock()
        outcome = call.error or call.status
        log.info("redirect %s %s: %s", call.method, call.to_json()["url"], outcome)
        done(call)
