"""RingCentral's notification encryption: base64(AES-128-ECB(PKCS#7(utf-8 JSON))).

The platform, not PubNub, encrypts: the PubNub message is the base64 string.
:func:`decrypt_notification` is here for tests and bot authors.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad, unpad

KEY_BYTES = 16


def new_key() -> str:
    """A fresh random AES-128 key, base64-encoded as in ``deliveryMode.encryptionKey``."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def encrypt(key_b64: str, plaintext: bytes) -> str:
    """Encrypt ``plaintext`` with the base64 ``key_b64``; return base64 ciphertext."""
    cipher = AES.new(base64.b64decode(key_b64), AES.MODE_ECB)
    return base64.b64encode(cipher.encrypt(pad(plaintext, AES.block_size))).decode("ascii")


def decrypt(key_b64: str, ciphertext_b64: str) -> bytes:
    """Reverse :func:`encrypt`; raises ``ValueError`` on a bad key, padding or base64."""
    cipher = AES.new(base64.b64decode(key_b64), AES.MODE_ECB)
    return unpad(cipher.decrypt(base64.b64decode(ciphertext_b64)), AES.block_size)


def encrypt_notification(key_b64: str, notification: dict[str, Any]) -> str:
    """Serialize a notification envelope to JSON and encrypt it."""
    return encrypt(key_b64, json.dumps(notification, separators=(",", ":")).encode("utf-8"))


def decrypt_notification(key_b64: str, ciphertext_b64: str) -> Any:
    """Decrypt a PubNub payload and parse the JSON notification it carries."""
    return json.loads(decrypt(key_b64, ciphertext_b64).decode("utf-8"))
