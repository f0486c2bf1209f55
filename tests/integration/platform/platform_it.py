"""Shared names of the platform client's integration tests (the sandbox's seed accounts)."""

from __future__ import annotations

from collections.abc import Callable

from glipbot.platform import Platform

#: The ``make_platform`` fixture: ``make(rest_url, hooks=(), **settings_overrides)``.
PlatformFactory = Callable[..., Platform]

SMARTFRIEND = {"username": "smartfriend@sandbox.test", "password": "smartfriend"}
JOHN = {"username": "john.smith@sandbox.test", "password": "john"}
SMARTFRIEND_ID = "400000001"
JOHN_ID = "400000002"
JANE_ID = "400000003"
BOB_ID = "400000004"
GENERAL_TEAM_ID = "500000001"
