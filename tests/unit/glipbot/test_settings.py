"""Settings: built once from the environment over an optional .env file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from glipbot.errors import ConfigError
from glipbot.settings import DEFAULT_SERVER_URL, Settings, env_names, setting, variables


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
