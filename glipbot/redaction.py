"""Mask secrets in log events before anything renders them.

Two nets, because a secret can travel under any name:

* **by key**: a value stored under a sensitive key (``password``,
  ``access_token``, ``Authorization``, ``encryptionKey``...; case, ``_`` and
  ``-`` ignored) is replaced whole, at any depth of dicts and lists;
* **by value**: any string, wherever it sits (the event text, a rendered
  traceback, an exception message, a URL), has every registered secret,
  ``Bearer``/``Basic`` credentials, JWTs, ``user:password@`` in URLs and
  ``password=``-style pairs masked.

Secrets known at start (client secret, password, JWT, bot token, Redis
password) are registered by :func:`glipbot.logging.configure_logging`; secrets
learned later (access and refresh tokens, PubNub encryption keys) are
registered by whoever learns them, with :func:`register_secret`.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from structlog.typing import EventDict, WrappedLogger

#: What a masked secret is replaced with.
REDACTED = "[REDACTED]"

#: Shorter registered values are ignored: masking "1234" everywhere would hide
#: ids and numbers, and such a value is still masked under a sensitive key.
MIN_SECRET_LENGTH = 6

#: How many rotating secrets (access and refresh tokens) are remembered; the
#: oldest are forgotten first, long after the platform stopped accepting them.
MAX_ROTATING_SECRETS = 64

_SENSITIVE_NAMES = frozenset(
    {"token", "jwt", "pwd", "passwd", "cookie", "setcookie", "credentials", "subscriberkey"}
)
_SENSITIVE_SUFFIXES = (
    "password",
    "secret",
    "accesstoken",
    "refreshtoken",
    "bottoken",
    "idtoken",
    "encryptionkey",
    "cipherkey",
    "privatekey",
    "apikey",
    "authorization",
    "assertion",
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values, wherever they were formatted into a string.
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), rf"\1 {REDACTED}"),
    (re.compile(r"(?i)\b(basic)\s+[A-Za-z0-9+/]{8,}=*"), rf"\1 {REDACTED}"),
    # A JWT (header.payload.signature) is a credential whatever it is called.
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # user:password@ in URLs (redis://:pw@host, https://u:pw@host).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    # name=value (form bodies, query strings) and "name": "value" (dict reprs, JSON).
    (
        re.compile(
            r"(?i)([\"']?\b(?:access_token|refresh_token|password|client_secret|assertion"
            r"|encryption_?key|bot_token|token)[\"']?\s*(?:=|:\s*)[\"']?)[^\"'&\s,}]+"
        ),
        rf"\1{REDACTED}",
    ),
)


class _SecretRegistry:
    """The secret values to mask; thread safe.

    Indexed by their first :data:`MIN_SECRET_LENGTH` characters, so that adding
    one costs the same with ten secrets or ten thousand (a listener serving a
    thousand installed bots knows as many tokens), and scrubbing a string
    costs a lookup per position, whatever their number.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pinned: set[str] = set()
        # dict as an insertion-ordered set: the oldest rotating secret goes first.
        self._rotating: dict[str, None] = {}
        # prefix -> the secrets starting with it, longest first (a secret containing
        # another is masked whole). Replaced, never changed in place: scrub reads
        # it without the lock.
        self._index: dict[str, tuple[str, ...]] = {}

    def add(self, values: Iterable[str | None], *, rotating: bool) -> None:
        fresh = [
            v
            for v in values
            if v
            and len(v) >= MIN_SECRET_LENGTH
            and v not in self._pinned
            and v not in self._rotating
        ]
        if not fresh:
            return
        with self._lock:
            index = dict(self._index)
            if rotating:
                self._rotating.update(dict.fromkeys(fresh))
                while len(self._rotating) > MAX_ROTATING_SECRETS:
                    old = next(iter(self._rotating))
                    del self._rotating[old]
                    if old not in self._pinned:
                        _unindex(index, old)
            else:
                self._pinned.update(fresh)
            for value in fresh:
                _index(index, value)
            self._index = index

    @property
    def index(self) -> object:
        """The secrets as they stand: a new object after every change."""
        return self._index

    def clear(self) -> None:
        with self._lock:
            self._pinned.clear()
            self._rotating.clear()
            self._index = {}

    def scrub(self, text: str) -> str:
        index = self._index
        if not index or len(text) < MIN_SECRET_LENGTH:
            return text
        parts: list[str] = []
        start = i = 0
        end = len(text) - MIN_SECRET_LENGTH + 1
        while i < end:
            found = index.get(text[i : i + MIN_SECRET_LENGTH])
            if found:
                secret = next((v for v in found if text.startswith(v, i)), None)
                if secret is not None:
                    parts += (text[start:i], REDACTED)
                    i = start = i + len(secret)
                    continue
            i += 1
        if not parts:
            return text
        parts.append(text[start:])
        return "".join(parts)


def _index(index: dict[str, tuple[str, ...]], value: str) -> None:
    prefix = value[:MIN_SECRET_LENGTH]
    found = {*index.get(prefix, ()), value}
    index[prefix] = tuple(sorted(found, key=len, reverse=True))


def _unindex(index: dict[str, tuple[str, ...]], value: str) -> None:
    prefix = value[:MIN_SECRET_LENGTH]
    left = tuple(v for v in index.get(prefix, ()) if v != value)
    if left:
        index[prefix] = left
    else:
        index.pop(prefix, None)


_registry = _SecretRegistry()


def register_secret(*values: str | None, rotating: bool = False) -> None:
    """Mask these values in every log line from now on (empty and short ones are ignored).

    ``rotating=True`` is for values that are replaced regularly (access and
    refresh tokens): only the latest :data:`MAX_ROTATING_SECRETS` are kept.
    """
    _registry.add(values, rotating=rotating)


def clear_secrets() -> None:
    """Forget every registered value (for tests)."""
    _registry.clear()


def is_sensitive_key(key: object) -> bool:
    """Whether a value stored under ``key`` must be masked whole."""
    return isinstance(key, str) and _sensitive_name(key)


@functools.lru_cache(maxsize=4096)
def _sensitive_name(key: str) -> bool:
    # Cached: every log line asks again for the same few dozen keys.
    name = re.sub(r"[^a-z0-9]", "", key.lower())
    return name in _SENSITIVE_NAMES or name.endswith(_SENSITIVE_SUFFIXES)


class _Memo:
    """Short strings masked before, while the registered secrets stay the same.

    Event names, logger names, ids and keys recur in every log line; masking
    one costs a scan per character, so its result is kept. Any change to the
    secrets (the registry's index is replaced, never changed in place) empties it.
    """

    LONGEST = 256
    SIZE = 8192

    def __init__(self) -> None:
        # The index the results were masked with, and the results: one tuple, read whole.
        self._state: tuple[object, dict[str, str]] = (None, {})

    def redact(self, text: str) -> str:
        if len(text) > self.LONGEST:
            return _redact_text(text)
        index = _registry.index
        seen, masked = self._state
        if seen is not index or len(masked) >= self.SIZE:
            masked = {}
            self._state = (index, masked)
        result = masked.get(text)
        if result is None:
            # Masked with these secrets or newer ones, so never with fewer than ``index``.
            result = masked[text] = _redact_text(text)
        return result


_memo = _Memo()


def redact_text(text: str) -> str:
    """``text`` with registered secrets and credential-shaped substrings masked."""
    return _memo.redact(text)


def _redact_text(text: str) -> str:
    text = _registry.scrub(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` (any JSON-like structure) with every secret masked.

    Objects other than str, numbers, dicts, lists and tuples are rendered with
    ``repr`` first, because a renderer would do so later and an exception's or
    a request's repr can carry a secret.
    """
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if is_sensitive_key(k) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    return redact_text(repr(value))


def redact_processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets in every key and value of the event.

    Run it after exceptions are formatted into text and before the renderer.
    """
    redacted: EventDict = redact(event_dict)
    return redacted
