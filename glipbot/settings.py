"""One frozen settings object, built once from the environment (and ``.env``).

Nothing reads ``os.environ`` at import time: processes call
:meth:`Settings.from_env` at start-up and pass the result down. Every default
points at the sandbox's defaults, so ``make demo`` needs no configuration.

Each field is declared with :func:`~glipbot.env_settings.setting`, which
names its environment variable, says in one line what it is for and may state
the values it accepts; :func:`~glipbot.env_settings.variables` lists them, so
the variables, their defaults, their checks and the documentation's tables
come from one place (:mod:`glipbot.env_settings`, re-exported here). A bot's
own settings class is declared the same way and read with ``read_env``.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from glipbot.env_settings import (
    AT_LEAST_ONE,
    NON_NEGATIVE,
    PORT,
    POSITIVE,
    Check,
    Range,
    Variable,
    env_names,
    environment,
    read_env,
    setting,
    variables,
)
from glipbot.errors import ConfigError

__all__ = [
    "AT_LEAST_ONE",
    "NON_NEGATIVE",
    "PORT",
    "POSITIVE",
    "Range",
    "Settings",
    "Variable",
    "env_names",
    "environment",
    "read_env",
    "setting",
    "variables",
]

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
DEFAULT_LISTENER_SHARDS = 8
DEFAULT_INSTALLATION_CHECK_INTERVAL = 300.0
DEFAULT_HEALTH_PORT = 8930
#: Loopback: a probe from another host needs `0.0.0.0`, which the container images set.
DEFAULT_HEALTH_HOST = "127.0.0.1"
DEFAULT_HTTP_TIMEOUT = 15.0
DEFAULT_DEDUP_TTL = 2 * 24 * 3600
DEFAULT_KEY_PREFIX = "glipbot:"
#: RingCentral's published limits, ``group=requests/seconds``.
DEFAULT_RATE_LIMITS = "Light=50/60,Medium=40/60,Heavy=10/60,Auth=5/60"
DEFAULT_TOKEN_REFRESH_MARGIN = 60.0
DEFAULT_REDIS_SOCKET_TIMEOUT = 5.0
DEFAULT_SUBSCRIPTION_CHECK_INTERVAL = 60.0
DEFAULT_DEAD_LETTERS_MAX = 100_000
#: rc-ex sends one after 60 s of silence; ping frames do not count as traffic.
DEFAULT_WEBSOCKET_HEARTBEAT_INTERVAL = 60.0
#: The longest a PubNub subscription lives (PLATFORM.md, section 4); the
#: platform caps a longer ``expiresIn`` to it.
MAX_SUBSCRIPTION_EXPIRES_IN = 900

LoginMode = Literal["bot_token", "jwt", "password"]
LogFormat = Literal["auto", "json", "console"]
NotificationTransport = Literal["pubnub", "websocket"]


def _one_of(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _log_level(value: str) -> str | None:
    if value.upper() in logging.getLevelNamesMapping():
        return None
    return "must be a logging level name (DEBUG, INFO, WARNING, ERROR, CRITICAL)"


def _url_port_ok(url: str) -> bool:
    try:
        port = urlsplit(url).port
    except ValueError:  # not a number, or out of 0..65535
        return False
    return port is None or port > 0


def _http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.hostname and _url_port_ok(value):
        return None
    return "must be an http:// or https:// URL with a host (and a port from 1 to 65535)"


def _redis_url(value: str) -> str | None:
    parts = urlsplit(value)
    database = parts.path.lstrip("/")
    if (
        parts.scheme in ("redis", "rediss")
        and parts.hostname
        and _url_port_ok(value)
        and (database == "" or database.isdigit())
    ):
        return None
    return (
        "must be a redis:// or rediss:// URL: redis://[:password@]host[:port][/database], "
        "a port from 1 to 65535 and a database number"
    )


def _host_port(value: str) -> str | None:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "")
    if (
        value
        and "/" not in value
        and host
        and (not port or (port.isdigit() and 1 <= int(port) <= 65535))
    ):
        return None
    return "must be host or host:port (no scheme), with a port from 1 to 65535"


def _http_url_or_empty(value: str) -> str | None:
    problem = _http_url(value)
    if value == "" or problem is None:
        return None
    return f"must be empty or {problem.removeprefix('must be ')}"


_MODULE_ATTRIBUTE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?")


def _bot_app(value: str) -> str | None:
    if value == "" or _MODULE_ATTRIBUTE.fullmatch(value):
        return None
    return "must be module:attribute, e.g. tasks.smartfriend:bot"


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _ip_or_host_name(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    labels = value.removesuffix(".").split(".")
    if (
        0 < len(value) <= 253
        and all(_HOST_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()  # 256.1.1.1 is a wrong address, not a name
    ):
        return None
    return "must be an IP address (e.g. 127.0.0.1, 0.0.0.0, ::) or a host name"


@dataclass(frozen=True)
class Settings:
    """Every setting of every role. Secrets are kept out of ``repr``."""

    server_url: str = setting(
        "RINGCENTRAL_SERVER_URL",
        DEFAULT_SERVER_URL,
        "the platform's base URL (`https://platform.ringcentral.com` in production)",
        check=_http_url,
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
        check=POSITIVE,
    )
    token_refresh_margin: float = setting(
        "RINGCENTRAL_TOKEN_REFRESH_MARGIN",
        DEFAULT_TOKEN_REFRESH_MARGIN,
        "refresh the shared token this many seconds before it expires",
        check=NON_NEGATIVE,
    )

    redis_url: str = setting(
        "REDIS_URL",
        DEFAULT_REDIS_URL,
        "broker and shared state; the password goes in the URL; "
        "for TLS `rediss://…?ssl_cert_reqs=required`",
        secret=True,
        check=_redis_url,
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
        check=POSITIVE,
    )

    # ruff cannot see through the Literal alias that the default is a plain str.
    notification_transport: NotificationTransport = setting(  # noqa: RUF009
        "NOTIFICATION_TRANSPORT",
        "pubnub",
        "how the listener receives events: `pubnub` (the seed's) or `websocket` "
        "(RingCentral's current gateway; recommended in production)",
        check=_one_of("pubnub", "websocket"),
    )
    websocket_heartbeat_interval: float = setting(
        "WEBSOCKET_HEARTBEAT_INTERVAL",
        DEFAULT_WEBSOCKET_HEARTBEAT_INTERVAL,
        "seconds between the listener's Heartbeat frames (never more than a third of "
        "the gateway's `idleTimeout`)",
        check=POSITIVE,
    )
    pubnub_origin: str = setting(
        "PUBNUB_ORIGIN",
        DEFAULT_PUBNUB_ORIGIN,
        "PubNub host (and port) to subscribe to",
        check=_host_port,
    )
    pubnub_ssl: bool = setting("PUBNUB_SSL", False, "use TLS to PubNub")
    subscription_expires_in: int = setting(
        "SUBSCRIPTION_EXPIRES_IN",
        DEFAULT_SUBSCRIPTION_EXPIRES_IN,
        "lifetime asked for the subscription, seconds",
        check=Range(1, MAX_SUBSCRIPTION_EXPIRES_IN),
    )
    subscription_renew_margin: float = setting(
        "SUBSCRIPTION_RENEW_MARGIN",
        DEFAULT_SUBSCRIPTION_RENEW_MARGIN,
        "renew this long before expiry (at most a third of the lifetime)",
        check=POSITIVE,
    )
    lease_ttl: float = setting(
        "LISTENER_LEASE_TTL",
        DEFAULT_LEASE_TTL,
        "seconds after which a standby takes over from a silent leader",
        check=POSITIVE,
    )
    dedup_ttl: int = setting(
        "EVENT_DEDUP_TTL",
        DEFAULT_DEDUP_TTL,
        "seconds a notification `uuid` is remembered for de-duplication",
        check=AT_LEAST_ONE,
    )
    health_port: int = setting(
        "LISTENER_HEALTH_PORT",
        DEFAULT_HEALTH_PORT,
        "port of `/healthz` and `/metrics` (`0`: a free port, logged at start)",
        check=PORT,
    )
    health_host: str = setting(
        "LISTENER_HEALTH_HOST",
        DEFAULT_HEALTH_HOST,
        "address `/healthz` and `/metrics` listen on (`0.0.0.0`: every interface, "
        "as the container images set)",
        check=_ip_or_host_name,
    )
    bot_redirect_uri: str = setting(
        "BOT_REDIRECT_URI",
        "",
        "the app's registered OAuth redirect URI, sent in a public install's code exchange "
        "(empty: the URL the install request arrived at, `scheme://host/bot/oauth`)",
        check=_http_url_or_empty,
    )
    subscription_check_interval: float = setting(
        "SUBSCRIPTION_CHECK_INTERVAL",
        DEFAULT_SUBSCRIPTION_CHECK_INTERVAL,
        "how often the listener checks that the platform still knows the subscription",
        check=POSITIVE,
    )
    listener_shards: int = setting(
        "LISTENER_SHARDS",
        DEFAULT_LISTENER_SHARDS,
        "installed bots are divided into this many shards, each led by one listener "
        "(the same on every listener)",
        check=AT_LEAST_ONE,
    )
    installation_check_interval: float = setting(
        "INSTALLATION_CHECK_INTERVAL",
        DEFAULT_INSTALLATION_CHECK_INTERVAL,
        "how often the listener asks the platform whether each installed bot still exists",
        check=POSITIVE,
    )
    listener_instance: str = setting(
        "LISTENER_INSTANCE",
        "",
        "this listener's name in the lease and in the status report (empty: hostname-pid)",
    )
    task_events: bool = setting(
        "TASK_EVENTS",
        True,
        "workers send task events (what Flower shows)",
    )
    dead_letters_max: int = setting(
        "DEAD_LETTERS_MAX",
        DEFAULT_DEAD_LETTERS_MAX,
        "cap of the dead-letter list (what the cap trims is counted)",
        check=AT_LEAST_ONE,
    )

    bot_app: str = setting(
        "BOT_APP",
        "",
        "the bot the workers run, as `module:attribute` (empty: the task package's default)",
        check=_bot_app,
    )
    rate_limits_spec: str = setting(
        "RATE_LIMITS",
        DEFAULT_RATE_LIMITS,
        "starting limit per rate-limit group, `requests/seconds`; "
        "the platform's headers correct it",
    )

    # ruff cannot see through the Literal alias that the default is a plain str.
    log_format: LogFormat = setting(  # noqa: RUF009
        "LOG_FORMAT",
        "auto",
        "`json`, `console`, or `auto` (console on a terminal, JSON otherwise)",
        check=_one_of("auto", "json", "console"),
    )
    log_level: str = setting("LOG_LEVEL", "INFO", "log level", check=_log_level)

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

        Variables set in the environment win over the file. A malformed or
        out-of-range value, or settings that contradict each other, raise
        :class:`~glipbot.errors.ConfigError` naming the variable.
        """
        settings = read_env(cls, environ, env_file)
        settings._validate()
        return settings

    def _validate(self) -> None:
        """What involves several fields; each field's own range is its ``check``."""
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
        self.rate_limits  # noqa: B018 - raises ConfigError when malformed
        if self.subscription_renew_margin >= self.subscription_expires_in:
            raise ConfigError(
                f"SUBSCRIPTION_RENEW_MARGIN must be less than SUBSCRIPTION_EXPIRES_IN "
                f"({self.subscription_expires_in}), not {self.subscription_renew_margin:g}"
            )


def _parse_rate_limits(spec: str) -> dict[str, tuple[int, float]]:
    limits: dict[str, tuple[int, float]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        try:
            group, _, rate = item.partition("=")
            requests, _, seconds = rate.partition("/")
            limits[group.strip()] = (int(requests), float(seconds))
        except ValueError:
            raise ConfigError(
                f"RATE_LIMITS item {item!r} is not group=requests/seconds, e.g. Light=50/60"
            ) from None
        count, window = limits[group.strip()]
        if not group.strip() or count < 1 or not (math.isfinite(window) and window > 0):
            raise ConfigError(f"RATE_LIMITS item {item!r} needs a name and positive numbers")
    return limits
