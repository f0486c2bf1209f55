"""Bots installed through the sandbox arrive at every listener's ``/bot/oauth``.

The sandbox installs its bot into a new account the way RingCentral does
(``SandboxControl.install``): it calls the redirect URI in the background, a
private install with a POSTed token, a public one with a code to exchange.
Each test names one listener's ``/bot/oauth`` as that URI and waits for the
sandbox to record the call's outcome, then reads the installations in Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
import requests

from devtools.sandbox_process import SandboxProcess
from glipbot.state.installations import Installation, InstallationStore
from glipbot.state.keys import Keys
from tests.integration.listener.listener_support import BOT_ID, ListenerProcess, wait_for

pytestmark = pytest.mark.integration

EXTENSION = "/restapi/v1.0/account/~/extension/~"


@pytest.fixture
def installations(redis_client: redis.Redis) -> InstallationStore:
    return InstallationStore(redis_client, Keys("glipbot:"))


def _install_url(listener: ListenerProcess) -> str:
    return f"http://127.0.0.1:{listener.port}/bot/oauth"


def _install(sandbox: SandboxProcess, kind: str, redirect_uri: str) -> tuple[dict[str, Any], Any]:
    """Install the bot (``kind``) into a new account; the answer and the finished installation."""
    installed = sandbox.control.install(kind, redirect_uri)
    return installed, sandbox.control.wait_installation(installed["bot_id"], timeout=20)


def _stored(store: InstallationStore, bot_id: str) -> Installation:
    found = store.get(bot_id)
    assert found is not None, f"no installation of {bot_id}"
    return found


def _counted(listener: ListenerProcess, kind: str, result: str) -> bool:
    line = f'glipbot_listener_installs_total{{kind="{kind}",result="{result}"}} 1.0'
    return line in listener.metrics()


def test_private_and_public_installs_on_the_leader_and_the_standby(
    sandbox: SandboxProcess,
    start_listener: Callable[..., ListenerProcess],
    installations: InstallationStore,
) -> None:
    """Both listeners answer /bot/oauth; each bot's token is its own and works."""
    leader = start_listener("a")
    leader.wait_leader()
    standby = start_listener("b")

    private, private_done = _install(sandbox, "private", _install_url(standby))
    public, public_done = _install(sandbox, "public", _install_url(leader))

    assert (private_done["state"], private_done["redirect"]["status"]) == ("installed", 200)
    assert (public_done["state"], public_done["redirect"]["status"]) == ("installed", 200)
    for answer, kind in ((private, "private"), (public, "public")):
        stored = _stored(installations, answer["bot_id"])
        assert (stored.kind, stored.account_id, stored.state) == (
            kind,
            answer["account_id"],
            "active",
        )
        assert stored.creator_extension_id == answer["creator_extension_id"]
        assert stored.token is not None
        me = requests.get(
            sandbox.rest_url + EXTENSION,
            headers={"Authorization": f"Bearer {stored.token}"},
            timeout=5,
        )
        assert (me.status_code, str(me.json()["id"])) == (200, answer["bot_id"])
    assert _counted(standby, "private", "installed")
    assert _counted(leader, "public", "installed")

    tokens = [_stored(installations, a["bot_id"]).token for a in (private, public)]
    outputs = leader.output() + standby.output()
    assert '"install_accepted"' in outputs
    assert [t for t in tokens if t and t in outputs] == []


def test_the_configured_bot_is_an_installation_too(
    start_listener: Callable[..., ListenerProcess], installations: InstallationStore
) -> None:
    start_listener("a").wait_leader()

    configured = wait_for(lambda: installations.get(BOT_ID), timeout=15)

    assert (configured.kind, configured.state, configured.token) == ("configured", "active", None)
    assert configured.account_id


def test_a_code_exchanged_with_another_redirect_uri_is_refused_and_nothing_stored(
    sandbox: SandboxProcess,
    start_listener: Callable[..., ListenerProcess],
    installations: InstallationStore,
) -> None:
    """BOT_REDIRECT_URI names another URL than the app's: the platform answers OAU-109."""
    listener = start_listener("a", BOT_REDIRECT_URI="https://elsewhere.example.com/bot/oauth")

    public, done = _install(sandbox, "public", _install_url(listener))

    assert (done["state"], done["redirect"]["status"]) == ("failed", 401)
    assert installations.get(public["bot_id"]) is None
    assert _counted(listener, "public", "refused")
    refusals = [line for line in listener.output().splitlines() if '"install_refused"' in line]
    assert len(refusals) == 1
    assert '"OAU-109"' in refusals[0]
    assert "BOT_REDIRECT_URI" in refusals[0]
