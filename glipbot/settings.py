"""One frozen settings object, built once from the environment (and ``.env``).

Nothing reads ``os.environ`` at import time: processes call
:meth:`Settings.from_env` at start-up and pass the result down. Every default
points at the sandbox's defaults, so ``make demo`` needs no configuration.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values

from glipbot.errors import ConfigError

DEFAULT_SERVER_URL = "http://127.0.0.1:8900"
DEFAULT_PUBNUB_ORIGIN = "127.0.0.1:8901"
DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's public seed value
DEFAULT_USERNAME = "smartfriend@sandbox.test"
DEFAULT_PASSWORD = "smartfriend"  # noqa: S105 - the sandbox's public seed value
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SUBSCRIPTION_EXPIRES_IN = 900
DEFAULT_SUBSCRIPTION_RENEW_MARGIN = 120.0
DEFAULT_LEASE_TTL = 10.0
DEFAULT_HEALTH_PORT = 8930
DEFAULT_HTTP_TIMEOUT = 15.0
DEFAULT_DEDUP_TTL = 2 * 24 * 3600
DEFAULT_KEY_PREFIX = "glipbot:"
DEFAULT_BOT_APP = "tasks.smartfriend:bot"
#: RingCentral's published limits, ``group=requests/seconds``.
DEFAULT_RATE_LIMITS = "Light=50/60,Medium=40/60,Heavy=10/60,Auth=5/60"
DEFAULT_TOKEN_REFRESH_MARGIN = 60.0
DEFAULT_REDIS_SOCKET_TIMEOUT = 5.0
DEFAULT_SUBSCRIPTION_CHECK_INTERVAL = 60.0
DEFAULT_DEAD_LETTERS_MAX = 100_000

LoginMode = Literal["bot_token", "jwt", "password"]
LogFormat = Literal["auto", "json", "console"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Every setting of every role. Secrets are kept out of ``repr``."""

    server_url: str = DEFAULT_SERVER_URL
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = field(default=DEFAULT_CLIENT_SECRET, repr=False)
    username: str = DEFAULT_USERNAME
    extension: str = ""
    password: str = field(default=DEFAULT_PASSWORD, repr=False)
    jwt: str = field(default="", repr=False)
    bot_token: str = field(default="", repr=False)
    http_timeout: float = DEFAULT_HTTP_TIMEOUT
    token_refresh_margin: float = DEFAULT_TOKEN_REFRESH_MARGIN

    redis_url: str = field(default=DEFAULT_REDIS_URL, repr=False)
    key_prefix: str = DEFAULT_KEY_PREFIX
    redis_socket_timeout: float = DEFAULT_REDIS_SOCKET_TIMEOUT

    pubnub_origin: str = DEFAULT_PUBNUB_ORIGIN
    pubnub_ssl: bool = False
    subscription_expires_in: int = DEFAULT_SUBSCRIPTION_EXPIRES_IN
    subscription_renew_margin: float = DEFAULT_SUBSCRIPTION_RENEW_MARGIN
    lease_ttl: float = DEFAULT_LEASE_TTL
    dedup_ttl: int = DEFAULT_DEDUP_TTL
    health_port: int = DEFAULT_HEALTH_PORT
    #: Seconds between checks that the platform still knows the subscription.
    subscription_check_interval: float = DEFAULT_SUBSCRIPTION_CHECK_INTERVAL
    #: This listener's name in the lease and status keys ("" = hostname-pid).
    listener_instance: str = ""
    dead_letters_max: int = DEFAULT_DEAD_LETTERS_MAX

    bot_app: str = DEFAULT_BOT_APP
    rate_limits_spec: str = DEFAULT_RATE_LIMITS

    log_format: LogFormat = "auto"
    log_level: str = "INFO"

    #: SmartFriend's birthdays: a JSON or CSV file of person id or e-mail -> MM-DD ("" = none).
    birthdays_file: str = ""

    @property
    def rate_limits(self) -> dict[str, tuple[int, float]]:
        """The starting limit of each rate-limit group: ``{group: (requests, seconds)}``.

        Groups left out of ``RATE_LIMITS`` keep RingCentral's default; the
        platform's ``X-Rate-Limit-*`` headers correct them at run time.
        """
        return {
            **_parse_rate_limits(DEFAULT_RATE_LIMITS),
            **_parse_rate_limits(self.rate_limits_spec),
        }

    @property
    def login_mode(self) -> LoginMode:
        """How the token owner logs in: a static bot token wins, then JWT, then password."""
        if self.bot_token:
            return "bot_token"
        if self.jwt:
            return "jwt"
        return "password"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``) over an optional ``.env``.

        Variables set in the environment win over the file. A malformed value
        raises :class:`~glipbot.errors.ConfigError` naming the variable.
        """
        merged: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        merged.update(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in fields(cls):
            name = ENV_NAMES[f.name]
            if name not in merged:
                continue
            values[f.name] = _parse(name, merged[name], f.type)
        settings = cls(**values)  # type: ignore[arg-type]
        settings._validate()
        return settings

    def _validate(self) -> None:
        if self.log_format not in ("auto", "json", "console"):
            raise ConfigError(f"LOG_FORMAT must be auto, json or console, not {self.log_format!r}")
        if not self.server_url.startswith(("http://", "https://")):
            raise ConfigError("RINGCENTRAL_SERVER_URL must start with http:// or https://")
        if (
            self.login_mode == "password"
            and self.client_id != DEFAULT_CLIENT_ID
            and ((self.username, self.password) == (DEFAULT_USERNAME, DEFAULT_PASSWORD))
        ):
            # A real app with the sandbox's account would fail at the first call.
            raise ConfigError(
                "RINGCENTRAL_CLIENT_ID names a real app but no login is set: set "
                "RINGCENTRAL_JWT, RINGCENTRAL_BOT_TOKEN, or RINGCENTRAL_USERNAME and "
                "RINGCENTRAL_PASSWORD"
            )
        if self.login_mode == "password" and not (self.username and self.password):
            raise ConfigError(
                "no login configured: set RINGCENTRAL_BOT_TOKEN, RINGCENTRAL_JWT, "
                "or RINGCENTRAL_USERNAME and RINGCENTRAL_PASSWORD"
            )
        if self.log_level.upper() not in logging.getLevelNamesMapping():
            raise ConfigError(f"LOG_LEVEL must be a logging level name, not {self.log_level!r}")
        if self.http_timeout <= 0 or self.redis_socket_timeout <= 0:
            raise ConfigError("RINGCENTRAL_HTTP_TIMEOUT and REDIS_SOCKET_TIMEOUT must be positive")
        if self.token_refresh_margin < 0:
            raise ConfigError("RINGCENTRAL_TOKEN_REFRESH_MARGIN must not be negative")
        self.rate_limits  # noqa: B018 - raises ConfigError when malformed
        if self.lease_ttl <= 0 or self.subscription_expires_in <= 0:
            raise ConfigError("LISTENER_LEASE_TTL and SUBSCRIPTION_EXPIRES_IN must be positive")


#: The environment variable behind each field; the README's table lists the same.
ENV_NAMES: dict[str, str] = {
    "server_url": "RINGCENTRAL_SERVER_URL",
    "client_id": "RINGCENTRAL_CLIENT_ID",
    "client_secret": "RINGCENTRAL_CLIENT_SECRET",
    "username": "RINGCENTRAL_USERNAME",
    "extension": "RINGCENTRAL_EXTENSION",
    "password": "RINGCENTRAL_PASSWORD",
    "jwt": "RINGCENTRAL_JWT",
    "bot_token": "RINGCENTRAL_BOT_TOKEN",
    "http_timeout": "RINGCENTRAL_HTTP_TIMEOUT",
    "token_refresh_margin": "RINGCENTRAL_TOKEN_REFRESH_MARGIN",
    "redis_url": "REDIS_URL",
    "key_prefix": "REDIS_KEY_PREFIX",
    "redis_socket_timeout": "REDIS_SOCKET_TIMEOUT",
    "pubnub_origin": "PUBNUB_ORIGIN",
    "pubnub_ssl": "PUBNUB_SSL",
    "subscription_expires_in": "SUBSCRIPTION_EXPIRES_IN",
    "subscription_renew_margin": "SUBSCRIPTION_RENEW_MARGIN",
    "lease_ttl": "LISTENER_LEASE_TTL",
    "dedup_ttl": "EVENT_DEDUP_TTL",
    "health_port": "LISTENER_HEALTH_PORT",
    "subscription_check_interval": "SUBSCRIPTION_CHECK_INTERVAL",
    "listener_instance": "LISTENER_INSTANCE",
    "dead_letters_max": "DEAD_LETTERS_MAX",
    "bot_app": "BOT_APP",
    "rate_limits_spec": "RATE_LIMITS",
    "log_format": "LOG_FORMAT",
    "log_level": "LOG_LEVEL",
    "birthdays_file": "BIRTHDAYS_FILE",
}


def _parse(name: str, raw: str, kind: object) -> object:
    raw = raw.strip()
    try:
        if kind in (bool, "bool"):
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(raw)
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
    except ValueError:
        raise ConfigError(f"{name} has an invalid value {raw!r}") from None
    return raw


def _parse_rate_limits(spec: str) -> dict[str, tuple[int, float]]:
    limits: dict[str, tuple[int, float]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        try:
            group, _, rate = item.partition("=")
            count, _, seconds = rate.partition("/")
            limits[group.strip()] = (int(count), float(seconds))
        except ValueError:
            raise ConfigError(
                f"RATE_LIMITS item {item!r} is not group=requests/seconds, e.g. Light=50/60"
            ) from None
        if not group.strip() or limits[group.strip()][0] < 1 or limits[group.strip()][1] <= 0:
            raise ConfigError(f"RATE_LIMITS item {item!r} needs a name and positive numbers")
    return limits
