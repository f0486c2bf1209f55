"""What every process of the platform shares: settings, logging, Redis, the REST client.

The public surface is re-exported here and loaded lazily (PEP 562), so
``import worker`` stays cheap for Celery's ``-A worker`` app discovery and for
modules that need only one piece.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from worker.errors import (
    AuthError,
    BadRequestError,
    ConfigError,
    NetworkError,
    NotFoundError,
    PermanentError,
    PlatformError,
    RateLimitedError,
    ServerError,
    TransientError,
    UnauthorizedError,
)
from worker.settings import Settings

if TYPE_CHECKING:
    from worker.auth import Auth
    from worker.endpoints import ENDPOINT_GROUPS
    from worker.http import HttpTransport, RateLimitInfo, RequestHook
    from worker.keys import Keys
    from worker.logging import bind_context, bound_context, configure_logging, get_logger
    from worker.platform import Platform, connect
    from worker.redaction import register_secret
    from worker.redis import redis_from_settings
    from worker.rest import RestClient
    from worker.tokens import Token, TokenStore

_LAZY = {
    "Auth": "worker.auth",
    "HttpTransport": "worker.http",
    "RateLimitInfo": "worker.http",
    "RequestHook": "worker.http",
    "Keys": "worker.keys",
    "bind_context": "worker.logging",
    "bound_context": "worker.logging",
    "configure_logging": "worker.logging",
    "get_logger": "worker.logging",
    "Platform": "worker.platform",
    "connect": "worker.platform",
    "register_secret": "worker.redaction",
    "redis_from_settings": "worker.redis",
    "ENDPOINT_GROUPS": "worker.endpoints",
    "RestClient": "worker.rest",
    "Token": "worker.tokens",
    "TokenStore": "worker.tokens",
}

__all__ = [
    "ENDPOINT_GROUPS",
    "Auth",
    "AuthError",
    "BadRequestError",
    "ConfigError",
    "HttpTransport",
    "Keys",
    "NetworkError",
    "NotFoundError",
    "PermanentError",
    "Platform",
    "PlatformError",
    "RateLimitInfo",
    "RateLimitedError",
    "RequestHook",
    "RestClient",
    "ServerError",
    "Settings",
    "Token",
    "TokenStore",
    "TransientError",
    "UnauthorizedError",
    "bind_context",
    "bound_context",
    "configure_logging",
    "connect",
    "get_logger",
    "redis_from_settings",
    "register_secret",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'worker' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
