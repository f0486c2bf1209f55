"""RingCentral's notification encryption, reversed.

Ingest's first act on each message (:mod:`listener.ingest`). A PubNub
message of a RingCentral subscription is a base64 string of
AES-128-ECB(key, PKCS#7-padded UTF-8 JSON). :class:`Decryptor` keeps one
cipher per key (building it is most of the cost) and raises
:class:`DecryptError` with a short ``reason`` that never contains the key or
the plaintext.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from Crypto.Cipher import AES
from Crypto.Util.Padding import unpad

BLOCK = AES.block_size

#: ``DecryptError.reason`` values; they are also the dead-letter reasons.
BAD_BASE64 = "bad_base64"
BAD_LENGTH = "bad_length"
BAD_PADDING = "bad_padding"  # wrong key or corrupted ciphertext: ECB cannot tell them apart
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NOT_A_STRING = "not_a_string"


class DecryptError(ValueError):
    """A payload that cannot be decrypted; ``reason`` is one of this module's constants."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Decryptor:
    """Decrypts payloads with one subscription's ``encryptionKey`` (base64 of 16 bytes)."""

    def __init__(self, key_b64: str) -> None:
        try:
            key = base64.b64decode(key_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("encryption key is not base64") from None
        if len(key) not in (16, 24, 32):
            raise ValueError(f"encryption key has {len(key)} bytes, not 16")
        # ECB keeps no state between calls, so one cipher object serves every message.
        self._cipher = AES.new(key, AES.MODE_ECB)

    def decrypt_bytes(self, payload: Any) -> bytes:
        """base64 → AES-ECB → strict PKCS#7 unpad; return the plaintext bytes."""
        if not isinstance(payload, str | bytes):
            raise DecryptError(NOT_A_STRING, type(payload).__name__)
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError(BAD_BASE64) from None
        if not raw or len(raw) % BLOCK:
            raise DecryptError(BAD_LENGTH, f"{len(raw)} bytes")
        try:
            return unpad(self._cipher.decrypt(raw), BLOCK, style="pkcs7")
        except ValueError:
            raise DecryptError(BAD_PADDING, "wrong key or corrupted ciphertext") from None

    def decrypt(self, payload: Any) -> Any:
        """Decrypt ``payload`` and parse the UTF-8 JSON it carries."""
        plain = self.decrypt_bytes(payload)
        try:
            text = plain.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptError(NOT_UTF8) from None
        try:
            return json.loads(text)
        except ValueError:
            raise DecryptError(NOT_JSON) from None


class Plain:
    """The "decryptor" of a channel whose notifications come unencrypted and parsed.

    WebSocket subscriptions carry ``encryption: false``: the frame's body is
    the notification itself (WEBSOCKET.md, section 4).
    """

    def decrypt(self, payload: Any) -> Any:
        """``payload`` as it is."""
        return payload
