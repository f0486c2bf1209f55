"""The ``wsc`` session context token: an HMAC-signed encoding of (session id, sequence).

The token changes with every sequence, so a client holding the newest one
tells the gateway exactly which frames it has seen. Anything not signed by
this gateway, or altered, is malformed (``WSG-400``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

_MAC_BYTES = 16


class MalformedWsc(ValueError):
    """A wsc token this gateway did not issue, or one that was altered."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class WscCodec:
    """Signs and reads wsc tokens with one secret (a fresh random one by default)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, session_id: str, sequence: int) -> str:
        """The token for ``sequence`` of a session."""
        payload = f"{session_id}:{sequence}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, token: str) -> tuple[str, int]:
        """``(session id, sequence)`` of a token; :class:`MalformedWsc` if it is not ours."""
        head, dot, tail = token.partition(".")
        try:
            payload, mac = _unb64(head), _unb64(tail)
        except (binascii.Error, ValueError):
            raise MalformedWsc(token) from None
        if not dot or not hmac.compare_digest(mac, self._mac(payload)):
            raise MalformedWsc(token)
        session_id, _, sequence = payload.decode("utf-8", "replace").rpartition(":")
        if not session_id or not sequence.isdigit():
            raise MalformedWsc(token)
        return session_id, int(sequence)
