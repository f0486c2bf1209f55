"""Redaction: secrets are masked by key name and by value, at any depth."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from glipbot.redaction import (
    MAX_ROTATING_SECRETS,
    REDACTED,
    clear_secrets,
    is_sensitive_key,
    redact,
    redact_processor,
    redact_text,
    register_secret,
)


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "client_secret",
        "clientSecret",
        "access_token",
        "accessToken",
        "refresh_token",
        "Authorization",
        "encryptionKey",
        "encryption_key",
        "assertion",
        "jwt",
        "bot_token",
        "token",
        "X-Api-Key",
    ],
)
def test_sensitive_keys_are_recognised(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["event", "group_id", "timetoken", "pageToken", "tokens_left"])
def test_ordinary_keys_are_not(key: str) -> None:
    assert not is_sensitive_key(key)


def test_values_under_sensitive_keys_are_masked_at_any_depth() -> None:
    event = {
        "event": "login",
        "form": {"grant_type": "password", "Password": "hunter2"},
        "sessions": [{"accessToken": "abc"}, {"refresh_token": "def", "owner_id": "42"}],
        "headers": {"Authorization": "Basic Zm9vOmJhcg=="},
    }

    assert redact(event) == {
        "event": "login",
        "form": {"grant_type": "password", "Password": REDACTED},
        "sessions": [{"accessToken": REDACTED}, {"refresh_token": REDACTED, "owner_id": "42"}],
        "headers": {"Authorization": REDACTED},
    }


def test_registered_secrets_are_masked_inside_any_string() -> None:
    register_secret("s3cr3t-client-secret")

    text = redact_text("calling with secret=s3cr3t-client-secret, again s3cr3t-client-secret!")

    assert "s3cr3t-client-secret" not in text
    assert text.count(REDACTED) == 2


def test_short_registered_values_are_ignored() -> None:
    register_secret("1234", "", None)

    assert redact_text("group 1234") == "group 1234"


def test_rotating_secrets_are_bounded_oldest_first() -> None:
    register_secret("pinned-secret-value")
    for n in range(MAX_ROTATING_SECRETS + 1):
        register_secret(f"rotating-token-{n:04d}", rotating=True)

    assert "rotating-token-0000" in redact_text("rotating-token-0000")
    assert redact_text(f"rotating-token-{MAX_ROTATING_SECRETS:04d}") == REDACTED
    assert redact_text("pinned-secret-value") == REDACTED


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer U0pDMDFQMDFQQVMwMHxBQUJ", "U0pDMDFQMDFQQVMwMHxBQUJ"),
        ("headers={'Authorization': 'bearer abc.def-ghi'}", "abc.def-ghi"),
        ("Authorization: Basic c2FuZGJveDpzZWNyZXQ=", "c2FuZGJveDpzZWNyZXQ="),
        ("redis://:redis-pass@127.0.0.1:6379/0", "redis-pass"),
        ("grant_type=password&username=bob&password=pa55word", "pa55word"),
        ('{"access_token": "tok-123", "expires_in": 3600}', "tok-123"),
        ("refresh_token=rt-xyz&grant_type=refresh_token", "rt-xyz"),
        ("assertion=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJzdWIiOiIxIn0"),
        ("the jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln leaked", "eyJzdWIiOiIxIn0"),
        ("{'encryptionKey': 'YWJjZGVmZ2hpamtsbW5vcA=='}", "YWJjZGVmZ2hpamtsbW5vcA=="),
    ],
)
def test_credential_shaped_substrings_are_masked(text: str, leak: str) -> None:
    assert leak not in redact_text(text)


def test_ordinary_text_is_left_alone() -> None:
    text = "PostAdded in group 1234 by 5678: book me a flight, timetoken=1700000000"

    assert redact_text(text) == text


def test_exception_objects_are_rendered_and_masked() -> None:
    register_secret("p4ssw0rd-value")
    error = ValueError("login failed for p4ssw0rd-value")

    assert redact({"error": error}) == {"error": f"ValueError('login failed for {REDACTED}')"}


def test_the_processor_masks_the_whole_event() -> None:
    register_secret("top-secret-value")
    event = {"event": "oops top-secret-value", "exception": "Traceback...\ntop-secret-value"}

    result = redact_processor(None, "info", event)

    assert "top-secret-value" not in repr(result)


def test_thousands_of_secrets_are_each_masked_and_overlaps_masked_whole() -> None:
    """A listener serving many installed bots registers a token per bot."""
    tokens = [f"TOKEN-{n:05d}-{'x' * (n % 7)}" for n in range(5000)]
    register_secret(*tokens)
    register_secret("TOKEN-00001-xy-longer")  # shares a prefix with a shorter one

    line = f"a {tokens[4321]} b {tokens[7]}{tokens[8]} c TOKEN-00001-xy-longer d TOKEN-99999"
    assert redact_text(line) == (f"a {REDACTED} b {REDACTED}{REDACTED} c {REDACTED} d TOKEN-99999")


def test_a_string_masked_before_a_secret_was_registered_is_masked_again_after() -> None:
    """Short strings' results are kept between log lines, never past a new secret."""
    line = "token-for-bot 3f9a1c77e0 issued"
    assert redact_text(line) == line  # kept, with no secret known yet

    register_secret("3f9a1c77e0")

    assert redact_text(line) == f"token-for-bot {REDACTED} issued"
    clear_secrets()
    assert redact_text(line) == line
