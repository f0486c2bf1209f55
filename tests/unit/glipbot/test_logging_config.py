"""configure_logging: one handler, JSON or console, bound context, no secrets in the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from glipbot.logging import bound_context, clear_context, configure_logging, get_logger
from glipbot.redaction import clear_secrets, register_secret
from glipbot.settings import Settings

SECRETS = {
    "client_secret": "client-secret-0123456789",
    "password": "p4ssw0rd-of-the-bot",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJl",
}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()
    clear_context()
    clear_secrets()


def _configured(log_format: str = "json") -> io.StringIO:
    stream = io.StringIO()
    settings = Settings(
        log_format=log_format,  # type: ignore[arg-type]
        log_level="DEBUG",
        redis_url="redis://:redis-password-xyz@127.0.0.1:1/0",
        **SECRETS,
    )
    configure_logging(settings, stream=stream)
    return stream


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_bound_context() -> None:
    stream = _configured()

    with bound_context(event_uuid="u-1", group_id="g-1"):
        get_logger("test").info("event_handled", subscription_id="s-1")

    [line] = _lines(stream)
    assert line["event"] == "event_handled"
    assert line["event_uuid"] == "u-1"
    assert line["group_id"] == "g-1"
    assert line["subscription_id"] == "s-1"
    assert line["level"] == "info"
    assert line["logger"] == "test"
    assert "timestamp" in line


def test_stdlib_records_go_through_the_same_pipeline() -> None:
    stream = _configured()

    with bound_context(task_id="t-9"):
        logging.getLogger("celery.worker").warning("connection lost to %s", "broker")

    [line] = _lines(stream)
    assert line["event"] == "connection lost to broker"
    assert line["task_id"] == "t-9"
    assert line["logger"] == "celery.worker"


def test_configuring_twice_installs_one_handler() -> None:
    _configured()
    stream = _configured()

    get_logger("test").info("once")

    ours = [h for h in logging.getLogger().handlers if getattr(h, "_glipbot_handler", False)]
    assert len(ours) == 1
    assert len(_lines(stream)) == 1


def test_auto_format_renders_json_when_not_a_terminal() -> None:
    stream = _configured("auto")

    get_logger("test").info("hello")

    assert _lines(stream)[0]["event"] == "hello"


def test_console_format_is_readable_text() -> None:
    stream = _configured("console")

    get_logger("test").info("hello", group_id="g-1")

    text = stream.getvalue()
    assert "hello" in text
    assert "group_id=g-1" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def _log_every_way(password: str, token: str) -> None:
    log = get_logger("leaky")
    log.info("login", password=password, form={"grant_type": "password", "password": password})
    log.info(f"sending Authorization: Bearer {token}")
    log.info("request", headers={"Authorization": f"Bearer {token}"})
    log.info("config", dsn="redis://:redis-password-xyz@127.0.0.1:1/0")
    log.info("jwt", value=SECRETS["jwt"], secret=SECRETS["client_secret"])
    logging.getLogger("requests").debug("body grant_type=password&password=%s", password)
    try:
        raise RuntimeError(f"refused {password} with {token}")
    except RuntimeError:
        log.exception("login_failed")
        logging.getLogger("pubnub").exception("callback failed")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_no_secret_reaches_the_output(log_format: str) -> None:
    stream = _configured(log_format)
    register_secret("runtime-access-token-123", rotating=True)

    _log_every_way(SECRETS["password"], "runtime-access-token-123")

    output = stream.getvalue()
    assert "Traceback" in output  # the exceptions were rendered
    assert "RuntimeError: refused [REDACTED]" in output
    for secret in [*SECRETS.values(), "runtime-access-token-123", "redis-password-xyz"]:
        assert secret not in output
