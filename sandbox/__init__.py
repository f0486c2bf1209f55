"""A faithful local stand-in for RingCentral (REST, OAuth, Glip, subscriptions) and PubNub.

RingCentral's WebSocket gateway is served at ``/ws`` on the REST port
(:mod:`sandbox.websocket`). It plays many accounts and installs its bot in them as
RingCentral does (:mod:`sandbox.installations`). Run it with ``python -m sandbox`` (see
``--help`` and ``sandbox/README.md``); drive it with :class:`SandboxControl` and
:func:`as_person`.
It imports nothing of ``glipbot``, ``worker``, ``listener``, ``tasks`` or ``devtools``.
"""

from sandbox.config import SandboxConfig
from sandbox.crypto import decrypt_notification, encrypt_notification
from sandbox.oauth import make_jwt
from sandbox.testing import (
    BOT_TOKEN,
    Person,
    SandboxControl,
    as_person,
    login,
)

__all__ = [
    "BOT_TOKEN",
    "Person",
    "SandboxConfig",
    "SandboxControl",
    "as_person",
    "decrypt_notification",
    "encrypt_notification",
    "login",
    "make_jwt",
]
