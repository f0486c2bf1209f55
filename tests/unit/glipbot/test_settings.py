"""Settings: built once from the environment over an optional .env file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from glipbot.errors import ConfigError
from glipbot.settings import (
    DEFAULT_SERVER_URL,
    Range,
    Settings,
    env_names,
    read_env,
    setting,
    variables,
)


def test_defaults_point_at_the_sandbox() -> None:
    settings = Settings.from_env({}, env_file=None)

    assert settings.server_url == DEFAULT_SERVER_URL
    assert settings.login_mode == "password"
    assert settings.token_refresh_margin == 60.0


def test_every_field_names_its_own_environment_variable_and_says_what_it_is_for() -> None:
    names = env_names(Settings)

    assert set(names) == set(Settings.__dataclass_fields__)
    assert len(set(names.values())) == len(names)
    assert names["server_url"] == "RINGCENTRAL_SERVER_URL"
    assert all(v.description and "\n" not in v.description for v in variables(Settings))


def test_a_variables_default_is_the_fields_default() -> None:
    defaults = {v.name: v.default for v in variables(Settings)}

    assert defaults["RINGCENTRAL_SERVER_URL"] == Settings().server_url == DEFAULT_SERVER_URL
    assert defaults["PUBNUB_SSL"] is False
    assert defaults["BOT_APP"] == ""  # the task package names the bot to run when empty


def test_the_secret_variables_are_the_fields_kept_out_of_repr() -> None:
    secret = {v.name for v in variables(Settings) if v.secret}

    assert secret == {
        "RINGCENTRAL_CLIENT_SECRET",
        "RINGCENTRAL_PASSWORD",
        "RINGCENTRAL_JWT",
        "RINGCENTRAL_BOT_TOKEN",
        "REDIS_URL",
    }


def test_a_field_declared_without_setting_is_refused() -> None:
    @dataclass(frozen=True)
    class Half:
        named: str = setting("NAMED", "", "a setting")
        anonymous: str = ""

    with pytest.raises(TypeError, match=r"Half\.anonymous"):
        variables(Half)


def test_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("REDIS_KEY_PREFIX=from-file:\nRINGCENTRAL_HTTP_TIMEOUT=3\n")

    settings = Settings.from_env({"REDIS_KEY_PREFIX": "from-env:"}, env_file=env_file)

    assert settings.key_prefix == "from-env:"
    assert settings.http_timeout == 3.0


def test_a_missing_env_file_is_fine(tmp_path: Path) -> None:
    settings = Settings.from_env({}, env_file=tmp_path / "absent.env")

    assert settings == Settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RINGCENTRAL_HTTP_TIMEOUT", "soon"),
        ("SUBSCRIPTION_EXPIRES_IN", "1.5"),
        ("PUBNUB_SSL", "maybe"),
        ("LISTENER_HEALTH_PORT", "eighty"),
        ("REDIS_SOCKET_TIMEOUT", "x"),
    ],
)
def test_a_malformed_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value}, env_file=None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "LOUD"),
        ("RINGCENTRAL_SERVER_URL", "ftp://x"),
        ("RINGCENTRAL_HTTP_TIMEOUT", "0"),
        ("RINGCENTRAL_TOKEN_REFRESH_MARGIN", "-1"),
    ],
)
def test_an_invalid_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value}, env_file=None)


def test_no_login_configured_is_an_error() -> None:
    with pytest.raises(ConfigError, match="RINGCENTRAL_USERNAME"):
        Settings.from_env({"RINGCENTRAL_PASSWORD": ""}, env_file=None)


@pytest.mark.parametrize(
    ("environ", "mode"),
    [
        ({}, "password"),
        ({"RINGCENTRAL_JWT": "eyJ.a.b"}, "jwt"),
        ({"RINGCENTRAL_JWT": "eyJ.a.b", "RINGCENTRAL_BOT_TOKEN": "static"}, "bot_token"),
        ({"RINGCENTRAL_BOT_TOKEN": "static", "RINGCENTRAL_PASSWORD": ""}, "bot_token"),
    ],
)
def test_login_mode_prefers_bot_token_then_jwt(environ: dict[str, str], mode: str) -> None:
    assert Settings.from_env(environ, env_file=None).login_mode == mode


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings(client_secret="cs-123456", password="pw-123456", bot_token="bt-123456")

    text = repr(settings)

    assert "cs-123456" not in text
    assert "pw-123456" not in text
    assert "bt-123456" not in text


def test_rate_limits_start_at_ringcentrals_and_can_be_overridden_per_group() -> None:
    settings = Settings.from_env({"RATE_LIMITS": "Light=20/2"}, env_file=None)

    assert settings.rate_limits == {
        "Light": (20, 2.0),
        "Medium": (40, 60.0),
        "Heavy": (10, 60.0),
        "Auth": (5, 60.0),
    }


@pytest.mark.parametrize("spec", ["Light=x/2", "=3/4", "Light=0/2", "Light", "Light=5/0"])
def test_a_malformed_rate_limit_names_the_setting(spec: str) -> None:
    with pytest.raises(ConfigError, match="RATE_LIMITS"):
        Settings.from_env({"RATE_LIMITS": spec}, env_file=None)


def test_a_real_app_without_a_login_is_refused_at_start() -> None:
    """The defaults are the sandbox's account: a real client id must bring its own login."""
    with pytest.raises(ConfigError, match="no login is set"):
        Settings.from_env({"RINGCENTRAL_CLIENT_ID": "real-app"}, env_file=None)

    with_jwt = Settings.from_env(
        {"RINGCENTRAL_CLIENT_ID": "real-app", "RINGCENTRAL_JWT": "a.b.c"}, env_file=None
    )
    assert with_jwt.login_mode == "jwt"


# -- ranges: each message names the variable and the value (never a secret's) ------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "RINGCENTRAL_HTTP_TIMEOUT",
            "fifteen",
            "RINGCENTRAL_HTTP_TIMEOUT must be a number, not 'fifteen'",
        ),
        (
            "RINGCENTRAL_HTTP_TIMEOUT",
            "nan",
            "RINGCENTRAL_HTTP_TIMEOUT must be greater than 0, not nan",
        ),
        ("REDIS_SOCKET_TIMEOUT", "inf", "REDIS_SOCKET_TIMEOUT must be greater than 0, not inf"),
        ("LISTENER_LEASE_TTL", "-3", "LISTENER_LEASE_TTL must be greater than 0, not -3.0"),
        (
            "SUBSCRIPTION_CHECK_INTERVAL",
            "0",
            "SUBSCRIPTION_CHECK_INTERVAL must be greater than 0, not 0.0",
        ),
        (
            "RINGCENTRAL_TOKEN_REFRESH_MARGIN",
            "-inf",
            "RINGCENTRAL_TOKEN_REFRESH_MARGIN must be at least 0, not -inf",
        ),
        (
            "LISTENER_HEALTH_PORT",
            "99999",
            "LISTENER_HEALTH_PORT must be from 0 to 65535, not 99999",
        ),
        ("LISTENER_HEALTH_PORT", "-1", "LISTENER_HEALTH_PORT must be from 0 to 65535, not -1"),
        ("DEAD_LETTERS_MAX", "-5", "DEAD_LETTERS_MAX must be at least 1, not -5"),
        ("DEAD_LETTERS_MAX", "0", "DEAD_LETTERS_MAX must be at least 1, not 0"),
        ("EVENT_DEDUP_TTL", "0", "EVENT_DEDUP_TTL must be at least 1, not 0"),
        (
            "SUBSCRIPTION_EXPIRES_IN",
            "3600",
            "SUBSCRIPTION_EXPIRES_IN must be from 1 to 900, not 3600",
        ),
        ("SUBSCRIPTION_EXPIRES_IN", "1.5", "SUBSCRIPTION_EXPIRES_IN must be an integer, not '1.5'"),
        (
            "SUBSCRIPTION_RENEW_MARGIN",
            "nan",
            "SUBSCRIPTION_RENEW_MARGIN must be greater than 0, not nan",
        ),
        ("PUBNUB_SSL", "maybe", "PUBNUB_SSL must be true or false, not 'maybe'"),
        ("PUBNUB_ORIGIN", "https://ps.pndsn.com", "PUBNUB_ORIGIN must be host or host:port"),
        ("PUBNUB_ORIGIN", "127.0.0.1:70000", "PUBNUB_ORIGIN must be host or host:port"),
        ("RINGCENTRAL_SERVER_URL", "https://:443", "RINGCENTRAL_SERVER_URL must be an http://"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of auto, json, console, not 'xml'"),
        (
            "NOTIFICATION_TRANSPORT",
            "webhook",
            "NOTIFICATION_TRANSPORT must be one of pubnub, websocket, not 'webhook'",
        ),
        (
            "WEBSOCKET_HEARTBEAT_INTERVAL",
            "0",
            "WEBSOCKET_HEARTBEAT_INTERVAL must be greater than 0, not 0",
        ),
        ("BOT_APP", "tasks smartfriend", "BOT_APP must be module:attribute"),
    ],
)
def test_an_out_of_range_value_is_refused_with_its_name_and_value(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({variable: value}, env_file=None)

    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:s3cret-pw@127.0.0.1:5672//",
        "redis://:s3cret-pw@127.0.0.1:99999/0",
        "redis://:s3cret-pw@127.0.0.1:6379/zero",
        "s3cret-pw",
    ],
)
def test_a_bad_redis_url_is_named_without_showing_it(url: str) -> None:
    """REDIS_URL carries the password: the message says what is wrong, never the value."""
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"REDIS_URL": url}, env_file=None)

    assert str(refused.value).startswith("REDIS_URL must be a redis:// or rediss:// URL")
    assert "s3cret-pw" not in str(refused.value)


@pytest.mark.parametrize(
    "environ",
    [
        {"LISTENER_HEALTH_PORT": "0"},  # a free port, logged at start
        {"RINGCENTRAL_TOKEN_REFRESH_MARGIN": "0"},
        {"SUBSCRIPTION_EXPIRES_IN": "900", "SUBSCRIPTION_RENEW_MARGIN": "899.5"},
        {"SUBSCRIPTION_EXPIRES_IN": "6", "SUBSCRIPTION_RENEW_MARGIN": "2"},
        {"REDIS_URL": "rediss://:pw@redis.example:6380/3?ssl_cert_reqs=required"},
        {"REDIS_URL": "redis://localhost"},
        {"PUBNUB_ORIGIN": "ps.pndsn.com"},
        {"BOT_APP": "my_bots.support"},
        {"BOT_APP": "my_bots.support:helpdesk"},
    ],
)
def test_values_at_the_edges_of_their_ranges_are_accepted(environ: dict[str, str]) -> None:
    Settings.from_env(environ, env_file=None)


def test_the_renew_margin_must_be_shorter_than_the_subscriptions_life() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SUBSCRIPTION_EXPIRES_IN": "60"}, env_file=None)

    assert str(refused.value) == (
        "SUBSCRIPTION_RENEW_MARGIN must be less than SUBSCRIPTION_EXPIRES_IN (60), not 120"
    )


@pytest.mark.parametrize("spec", ["Light=5/nan", "Light=5/inf", "Light=5/-1"])
def test_a_rate_limit_window_must_be_a_finite_positive_number(spec: str) -> None:
    with pytest.raises(ConfigError, match="RATE_LIMITS item"):
        Settings.from_env({"RATE_LIMITS": spec}, env_file=None)


def test_every_number_the_platform_reads_declares_its_range() -> None:
    """A numeric setting without a check would take nan, inf or a negative value silently."""
    unchecked = [
        v.name for v in variables(Settings) if v.kind in ("int", "float") and v.check is None
    ]

    assert unchecked == []


def test_a_bots_own_settings_class_gets_its_checks_from_read_env() -> None:
    @dataclass(frozen=True)
    class BotSettings:
        retries: int = setting("MYBOT_RETRIES", 3, "how often to retry", check=Range(0, 10))

    assert read_env(BotSettings, {"MYBOT_RETRIES": "4"}, env_file=None).retries == 4
    with pytest.raises(ConfigError, match=r"^MYBOT_RETRIES must be from 0 to 10, not 11$"):
        read_env(BotSettings, {"MYBOT_RETRIES": "11"}, env_file=None)


def test_a_value_in_the_env_file_is_checked_like_one_in_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LISTENER_HEALTH_PORT=99999\n")

    with pytest.raises(ConfigError, match="LISTENER_HEALTH_PORT must be from 0 to 65535"):
        Settings.from_env({}, env_file=env_file)
