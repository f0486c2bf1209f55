"""The sandbox's settings: one frozen object built once by the CLI (or a test).

Every default is a named constant so the README, ``--help`` and the tests agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8900
DEFAULT_PUBNUB_PORT = 8901
DEFAULT_TOKEN_LIFETIME = 3600
DEFAULT_REFRESH_TOKEN_LIFETIME = 604800
DEFAULT_REFRESH_GRACE = 10.0
DEFAULT_SUBSCRIPTION_MAX_LIFETIME = 900
DEFAULT_SUBSCRIPTION_LIMIT = 20
DEFAULT_MAX_SESSIONS = 5
DEFAULT_RATE_WINDOW = 60.0
DEFAULT_PUBNUB_HOLD = 20.0
DEFAULT_LOG_LEVEL = "info"

# The WebSocket gateway (WEBSOCKET.md): RingCentral's announced values.
DEFAULT_WS_RECOVERY_TIMEOUT = 180.0
DEFAULT_WS_RECOVERY_BUFFER_SIZE = 100
DEFAULT_WS_IDLE_TIMEOUT = 1800.0
DEFAULT_WS_ABSOLUTE_TIMEOUT = 86400.0
#: Seconds a ws token stays usable (the guide's example says 30, the SDKs' comments 600).
DEFAULT_WSTOKEN_LIFETIME = 60.0

# Installations (BOTS.md §2, §6).
#: Seconds a newly installed bot's subscription creation answers SUB-406 ("not ready").
DEFAULT_BOT_NOT_READY = 2.0
#: Seconds a public bot's authorization code can be exchanged.
DEFAULT_AUTH_CODE_LIFETIME = 60.0
#: Seconds the sandbox waits for the app's redirect URI to answer an installation call.
DEFAULT_REDIRECT_TIMEOUT = 30.0

#: Requests per window of each rate-limit group (RingCentral's defaults).
RATE_LIMITS: dict[str, int] = {"Light": 50, "Medium": 40, "Heavy": 10, "Auth": 5}

#: The PubNub subscribe key of every subscription, as RingCentral uses one per app.
SUBSCRIBER_KEY = "sub-c-sandbox-0000-4e7b-9a2f-000000000001"

#: Lifetime reported for the seed's static bot tokens (RingCentral's "forever").
BOT_TOKEN_EXPIRES_IN = 2147483647

SEED_PATH = Path(__file__).with_name("seed.json")


@dataclass(frozen=True)
class SandboxConfig:
    """Every knob of one sandbox instance; see ``python -m sandbox --help``."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    pubnub_port: int = DEFAULT_PUBNUB_PORT
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    refresh_token_lifetime: int = DEFAULT_REFRESH_TOKEN_LIFETIME
    refresh_grace: float = DEFAULT_REFRESH_GRACE
    subscription_max_lifetime: int = DEFAULT_SUBSCRIPTION_MAX_LIFETIME
    subscription_limit: int = DEFAULT_SUBSCRIPTION_LIMIT
    max_sessions: int = DEFAULT_MAX_SESSIONS
    rate_window: float = DEFAULT_RATE_WINDOW
    #: Requests per window of each rate-limit group (``--rate-limit``); defaults to RATE_LIMITS.
    rate_limits: dict[str, int] = field(default_factory=lambda: dict(RATE_LIMITS))
    pubnub_hold: float = DEFAULT_PUBNUB_HOLD
    ws_recovery_timeout: float = DEFAULT_WS_RECOVERY_TIMEOUT
    ws_recovery_buffer_size: int = DEFAULT_WS_RECOVERY_BUFFER_SIZE
    ws_idle_timeout: float = DEFAULT_WS_IDLE_TIMEOUT
    ws_absolute_timeout: float = DEFAULT_WS_ABSOLUTE_TIMEOUT
    wstoken_lifetime: float = DEFAULT_WSTOKEN_LIFETIME
    bot_not_ready: float = DEFAULT_BOT_NOT_READY
    auth_code_lifetime: float = DEFAULT_AUTH_CODE_LIFETIME
    redirect_timeout: float = DEFAULT_REDIRECT_TIMEOUT
    seed_path: Path = SEED_PATH
    log_level: str = DEFAULT_LOG_LEVEL
