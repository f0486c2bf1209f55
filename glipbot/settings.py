"""One frozen settings object, built once from the environment (and ``.env``).

Nothing reads ``os.environ`` at import time: processes call
:meth:`Settings.from_env` at start-up and pass the result down. Every default
points at the sandbox's defaults, so ``make demo`` needs no configuration.

Each field is declared with :func:`setting`, which names its environment
variable and says in one line what it is for; :func:`variables` lists them,
so the variables, their defaults and the documentation's tables come from
one place. A bot's own settings class is declared the same way and read
with :func:`read_env`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from dotenv import dotenv_values

from glipbot.errors import ConfigError

DEFAULT_SERVER_URL = "http://127.0.0.1:8900"
DEFAULT_PUBNUB_ORIGIN = "127.0.0.1:8901"
DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's public seed value
#: The sandbox's seeded bot account (its login, not the example bot's code).
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

#: Keys of a setting's ``dataclasses.field`` metadata.
_VARIABLE = "glipbot.variable"
_DESCRIPTION = "glipbot.description"
_SECRET = "glipbot.secret"  # noqa: S105 - a metadata key, not a secret

_T = TypeVar("_T")
_S = TypeVar("_S")


def setting(variable: str, default: _T, description: str, *, secret: bool = False) -> _T:
    """A settings field read from the environment variable ``variable``.

    ``description`` is one line for the documentation's tables. A ``secret``
    value is kept out of ``repr``.
    """
    metadata = {_VARIABLE: variable, _DESCRIPTION: description, _SECRET: secret}
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True)
class Variable:
    """One environment variable behind a settings field, as the docs list it."""

    name: str
    field: str
    default: Any
    description: str
    secret: bool
    #: The field's annotation: ``"str"``, ``"int"``, ``"float"``, ``"bool"``, ...
    kind: Any


def variables(settings_class: type) -> tuple[Variable, ...]:
    """The variables of ``settings_class`` (a dataclass of :func:`setting` fields), in order."""
    found = []
    for f in fields(settings_class):
        if _VARIABLE not in f.metadata:
            raise TypeError(f"{settings_class.__name__}.{f.name} is not declared with setting()")
        found.append(
            Variable(
                name=f.metadata[_VARIABLE],
                field=f.name,
                default=f.default,
                description=f.metadata[_DESCRIPTION],
                secret=f.metadata[_SECRET],
                kind=f.type,
            )
        )
    return tuple(found)


def env_names(settings_class: type) -> dict[str, str]:
    """Field name -> environment variable, for each field of ``settings_class``."""
    return {v.field: v.name for v in variables(settings_class)}


def read_env(
    settings_class: type[_S],
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> _S:
    """Build ``settings_class`` from ``environ`` (default ``os.environ``) over an optional ``.env``.

    Variables set in the environment win over the file; a variable set in
    neither leaves the field's default. A value that does not parse as the
    field's type raises :class:`~glipbot.errors.ConfigError` naming the
    variable. Checks beyond the type are the class's own (see
    :meth:`Settings.from_env`).
    """
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    values = {
        v.field: _parse(v.name, merged[v.name], v.kind)
        for v in variables(settings_class)
        if v.name in merged
    }
    return settings_class(**values)


@dataclass(frozen=True)
class Settings:
    """Every setting of every role. Secrets are kept out of ``repr``."""

    server_url: str = setting(
        "RINGCENTRAL_SERVER_URL",
        DEFAULT_SERVER_URL,
        "the platform's base URL (`https://platform.ringcentral.com` in production)",
    )
    client_id: str = setting("RINGCENTRAL_CLIENT_ID", DEFAULT_CLIENT_ID, "the app's client id")
    client_secret: str = setting(
        "RINGCENTRAL_CLIENT_SECRET", DEFAULT_CLIENT_SECRET, "the app's client secret", secret=True
    )
    username: str = setting(
        "RINGCENTRAL_USERNAME",
        DEFAULT_USERNAME,
        "password login: the bot's username (e-mail or phone number)",
    )
    extension: str = setting(
        "RINGCENTRAL_EXTENSION", "", "password login: the extension, with a phone-number username"
    )
    password: str = setting(
        "RINGCENTRAL_PASSWORD", DEFAULT_PASSWORD, "password login: the password", secret=True
    )
    jwt: str = setting(
        "RINGCENTRAL_JWT",
        "",
        "JWT login: the JWT credential; wins over the password",
        secret=True,
    )
    bot_token: str = setting(
        "RINGCENTRAL_BOT_TOKEN",
        "",
        "a bot's permanent access token; wins over JWT and password",
        secret=True,
    )
    http_timeout: float = setting(
        "RINGCENTRAL_HTTP_TIMEOUT",
        DEFAULT_HTTP_TIMEOUT,
        "seconds before a REST call counts as a network failure",
    )
    token_refresh_margin: float = setting(
        "RINGCENTRAL_TOKEN_REFRESH_MARGIN",
        DEFAULT_TOKEN_REFRESH_MARGIN,
        "refresh the shared token this many seconds before it expires",
    )

    redis_url: str = setting(
        "REDIS_URL",
        DEFAULT_REDIS_URL,
        "broker and shared state; the password goes in the URL; "
        "for TLS `rediss://…?ssl_cert_reqs=required`",
        secret=True,
    )
    key_prefix: str = setting(
        "REDIS_KEY_PREFIX",
        DEFAULT_KEY_PREFIX,
        "prefix of the platform's own keys (Celery's queues are not prefixed: "
        "give each bot its own Redis database, the `/N` of `REDIS_URL`)",
    )
    redis_socket_timeout: float = setting(
        "REDIS_SOCKET_TIMEOUT",
        DEFAULT_REDIS_SOCKET_TIMEOUT,
        "seconds before a Redis call counts as failed",
    )

    pubnub_origin: str = setting(
        "PUBNUB_ORIGIN", DEFAULT_PUBNUB_ORIGIN, "PubNub host (and port) to subscribe to"
    )
    pubnub_ssl: bool = setting("PUBNUB_SSL", False, "use TLS to PubNub")
    subscription_expires_in: int = setting(
        "SUBSCRIPTION_EXPIRES_IN",
        DEFAULT_SUBSCRIPTION_EXPIRES_IN,
        "lifetime asked for the subscription, seconds",
    )
    subscription_renew_margin: float = setting(
        "SUBSCRIPTION_RENEW_MARGIN",
        DEFAULT_SUBSCRIPTION_RENEW_MARGIN,
        "renew this long before expiry (at most a third of the lifetime)",
    )
    lease_ttl: float = setting(
        "LISTENER_LEASE_TTL",
        DEFAULT_LEASE_TTL,
        "seconds after which a standby takes over from a silent leader",
    )
    dedup_ttl: int = setting(
        "EVENT_DEDUP_TTL",
        DEFAULT_DEDUP_TTL,
        "seconds a notification `uuid` is remembered for de-duplication",
    )
    health_port: int = setting(
        "LISTENER_HEALTH_PORT",
        DEFAULT_HEALTH_PORT,
        "port of `/healthz` and `/metrics` (`0`: a free port, logged at start)",
    )
    subscription_check_interval: float = setting(
        "SUBSCRIPTION_CHECK_INTERVAL",
        DEFAULT_SUBSCRIPTION_CHECK_INTERVAL,
        "how often the listener checks that the platform still knows the subscription",
    )
    listener_instance: str = setting(
        "LISTENER_INSTANCE",
        "",
        "this listener's name in the lease and in the status report (empty: hostname-pid)",
    )
    dead_letters_max: int = setting(
        "DEAD_LETTERS_MAX",
        DEFAULT_DEAD_LETTERS_MAX,
        "cap of the dead-letter list (what the cap trims is counted)",
    )

    bot_app: str = setting(
        "BOT_APP",
        "",
        "the bot the workers run, as `module:attribute` (empty: the task package's default)",
    )
    rate_limits_spec: str = setting(
        "RATE_LIMITS",
        DEFAULT_RATE_LIMITS,
        "starting limit per rate-limit group, `requests/seconds`; "
        "the platform's headers correct it",
    )

    # ruff cannot see through the Literal alias that the default is a plain str.
    log_format: LogFormat = setting(  # noqa: RUF009
        "LOG_FORMAT", "auto", "`json`, `console`, or `auto` (console on a terminal, JSON otherwise)"
    )
    log_level: str = setting("LOG_LEVEL", "INFO", "log level")

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
        settings = read_env(cls, environ, env_file)
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
