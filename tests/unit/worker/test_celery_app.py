"""The Celery app is configured from the settings or not at all: never Celery's defaults.

Celery's default broker is ``amqp://localhost``; an app that fell back to it
would send the bot's work to whatever listens there. (Each ``celery -A
worker`` command is run for real in tests/integration/config.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from glipbot.errors import ConfigError
from worker.celery import App, settings_of


@pytest.fixture(autouse=True)
def _no_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of a developer's in the way


def _app() -> App:
    return App("celery-app-test", set_as_current=False)


def test_the_broker_and_the_backend_are_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/4")
    app = _app()

    assert app.conf.broker_url == app.conf.result_backend == "redis://127.0.0.1:1/4"
    assert settings_of(app).redis_url == "redis://127.0.0.1:1/4"


def test_invalid_settings_leave_the_app_unusable_not_on_amqp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RINGCENTRAL_HTTP_TIMEOUT", "fifteen")
    app = _app()

    for _ in range(2):  # and stays so: no second look falls back to the defaults
        with pytest.raises(ConfigError, match="RINGCENTRAL_HTTP_TIMEOUT must be a number"):
            app.conf.broker_url  # noqa: B018 - reading it configures the app


@pytest.mark.parametrize("variable", ["CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"])
def test_celerys_own_broker_variables_may_not_point_elsewhere(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv(variable, "amqp://guest:guest@localhost:5672//")

    with pytest.raises(ConfigError) as refused:
        settings_of(_app())

    assert str(refused.value).startswith(f"{variable} is set")
    assert "guest" not in str(refused.value)


def test_celerys_broker_variable_may_repeat_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")

    assert _app().conf.broker_url == "redis://127.0.0.1:1/0"


@pytest.mark.parametrize(("value", "sent"), [(None, True), ("false", False), ("true", True)])
def test_task_events_follow_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str | None, sent: bool
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/4")
    if value is None:
        monkeypatch.delenv("TASK_EVENTS", raising=False)
    else:
        monkeypatch.setenv("TASK_EVENTS", value)
    app = _app()

    assert (app.conf.worker_send_task_events, app.conf.task_send_sent_event) == (sent, sent)
