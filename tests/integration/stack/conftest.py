"""Fixtures of the stack tests: the whole system, started per module and stopped after it.

A module asks for the system it needs through ``start_stack(**options)`` (see
:class:`tests.support.stack.Stack`) in a module-scoped fixture of its own, so
its tests share one start-up. Redis is the session's real ``redis-server``,
emptied before and after each module. When a test fails, the end of every
process's log is printed with its report.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import pytest
import redis

from devtools.localredis import LocalRedis
from tests.support.stack import Stack

_FAILED = pytest.StashKey[bool]()
_running: list[Stack] = []


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.failed:  # type: ignore[attr-defined]
        item.stash[_FAILED] = True
    return report


@pytest.fixture(autouse=True)
def _print_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if request.node.stash.get(_FAILED, False):
        for stack in _running:
            print(stack.log_tails(), file=sys.stderr)


@pytest.fixture(scope="module")
def start_stack(
    redis_server: LocalRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Stack]]:
    """Start a :class:`Stack` on an empty Redis; everything it started stops after the module."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    started: list[Stack] = []

    def start(**options: object) -> Stack:
        stack = Stack(redis_server.url, tmp_path_factory.mktemp("stack"), **options)  # type: ignore[arg-type]
        started.append(stack)
        _running.append(stack)
        try:
            return stack.start()
        except BaseException:
            print(stack.log_tails(), file=sys.stderr)
            raise

    yield start
    for stack in started:
        stack.stop()
        _running.remove(stack)
    client.flushall()
    client.close()
