"""Without RingCentral's spec, a test that validates against it says where the spec goes."""

from __future__ import annotations

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
