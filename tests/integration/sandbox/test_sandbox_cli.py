"""The command line: help, the JSON line, clean exit on SIGTERM, a bad seed."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from devtools.sandbox_process import SandboxProcess, SandboxStartError


def test_help_documents_every_flag_with_its_default() -> None:
    """--help lists each flag and its default."""
    out = subprocess.run(
        [sys.executable, "-m", "sandbox", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--host",
        "--port",
        "--pubnub-port",
        "--token-lifetime",
        "--refresh-token-lifetime",
        "--refresh-grace",
        "--subscription-max-lifetime",
        "--rate-window",
        "--rate-limit",
        "--pubnub-hold",
        "--seed",
        "--log-level",
    ):
        assert flag in out
    assert "8900" in out
    assert "3600" in out


def test_port_zero_announces_both_servers_and_sigterm_exits_zero() -> None:
    """--port 0 binds two free ports, printed as one JSON line; SIGTERM exits 0 promptly."""
    proc = SandboxProcess()
    proc.start()
    try:
        assert proc.rest_url.startswith("http://127.0.0.1:")
        assert proc.control_url == proc.rest_url + "/sandbox"
        assert proc.pubnub_origin.split(":")[1] != proc.rest_url.rsplit(":", 1)[1]
        started = time.monotonic()
        proc.stop()
        assert proc.process is not None
        assert proc.process.returncode == 0
        assert time.monotonic() - started < 5
    finally:
        proc.stop()


def test_a_bad_seed_fails_with_the_reason(tmp_path: object) -> None:
    """A seed that is not JSON stops the start with the reason on stderr."""
    bad = f"{tmp_path}/seed.json"
    with open(bad, "w") as f:
        f.write("{")
    with pytest.raises(SandboxStartError, match="seed"), SandboxProcess("--seed", bad):
        pass
