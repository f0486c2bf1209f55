"""Decryption of RingCentral's AES-128-ECB notifications, and each way it fails."""

from __future__ import annotations

import base64

import pytest
from Crypto.Cipher import AES

from listener.decrypt import (
    BAD_BASE64,
    BAD_LENGTH,
    BAD_PADDING,
    NOT_A_STRING,
    NOT_JSON,
    NOT_UTF8,
    DecryptError,
    Decryptor,
)
from sandbox.crypto import encrypt, encrypt_notification, new_key

KEY = new_key()


def _raw(key: str, block: bytes) -> str:
    return base64.b64encode(AES.new(base64.b64decode(key), AES.MODE_ECB).encrypt(block)).decode()


def test_decrypts_what_the_platform_encrypts() -> None:
    notification = {"uuid": "u", "body": {"text": "héllo"}}
    assert Decryptor(KEY).decrypt(encrypt_notification(KEY, notification)) == notification


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("not base64 !!", BAD_BASE64),
        (base64.b64encode(b"short").decode(), BAD_LENGTH),
        ("", BAD_LENGTH),
        (encrypt_notification(new_key(), {"uuid": "u"}), BAD_PADDING),  # wrong key
        (_raw(KEY, b"x" * 16), BAD_PADDING),  # last byte 'x' is not a pad length
        (_raw(KEY, b"abc" + bytes([0]) * 13), BAD_PADDING),  # pad byte 0
        (_raw(KEY, b"abcdefghijklmn" + bytes([3, 2])), BAD_PADDING),  # inconsistent pad
        (encrypt(KEY, b"\xff\xfe"), NOT_UTF8),
        (encrypt(KEY, b"{not json"), NOT_JSON),
        (42, NOT_A_STRING),
    ],
)
def test_each_failure_has_its_reason(payload: object, reason: str) -> None:
    with pytest.raises(DecryptError) as caught:
        Decryptor(KEY).decrypt(payload)
    assert caught.value.reason == reason


def test_errors_never_carry_the_key_or_the_plaintext() -> None:
    secret_text = "the secret plaintext"
    with pytest.raises(DecryptError) as caught:
        Decryptor(KEY).decrypt(encrypt(KEY, secret_text.encode()))
    assert KEY not in str(caught.value)
    assert secret_text not in str(caught.value)


def test_a_malformed_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16"):
        Decryptor(base64.b64encode(b"tooshort").decode())
