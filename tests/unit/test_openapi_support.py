"""Where the tests find RingCentral's spec, and what a test needing it says without it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import openapi


def test_a_missing_spec_fails_with_where_to_put_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(openapi, "SPEC_PATH", tmp_path / "absent.json")
    openapi.spec.cache_clear()
    try:
        with pytest.raises(pytest.fail.Exception) as failed:
            openapi.spec()
    finally:
        openapi.spec.cache_clear()
    message = str(failed.value)
    assert str(tmp_path / "absent.json") in message
    assert "RINGCENTRAL_OPENAPI_SPEC" in message
    assert "shared/" in message


def _repo(path: Path, origin: Path | None = None) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    if origin is not None:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", str(origin)], check=True)
    return path


def _spec_beside(repo: Path) -> Path:
    spec = repo.parent / openapi.BESIDE
    spec.parent.mkdir(parents=True)
    spec.write_text("{}", encoding="utf-8")
    return spec


def test_a_clone_elsewhere_finds_the_spec_beside_the_checkout_it_came_from(tmp_path: Path) -> None:
    origin = _repo(tmp_path / "work" / "main")
    spec = _spec_beside(origin)
    clone = _repo(tmp_path / "tmp" / "x", origin=origin)

    assert openapi.spec_path({}, clone) == spec


def test_the_environment_then_the_checkouts_own_neighbour_come_first(tmp_path: Path) -> None:
    origin = _repo(tmp_path / "work" / "main")
    _spec_beside(origin)
    clone = _repo(tmp_path / "tmp" / "x", origin=origin)
    own = _spec_beside(clone)

    assert openapi.spec_path({}, clone) == own
    named = {"RINGCENTRAL_OPENAPI_SPEC": str(tmp_path / "named.json")}
    assert openapi.spec_path(named, clone) == tmp_path / "named.json"


def test_with_no_spec_anywhere_the_path_beside_the_checkout_is_named(tmp_path: Path) -> None:
    clone = _repo(tmp_path / "tmp" / "x", origin=tmp_path / "gone")

    assert openapi.spec_path({}, clone) == tmp_path / "tmp" / openapi.BESIDE
