"""Validate JSON bodies against RingCentral's OpenAPI spec (``shared/reference``).

The spec (OpenAPI 3.0.1) inlines its schemas and uses neither ``$ref`` nor
``nullable``, so each schema is a valid Draft 4 JSON Schema as it stands.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

#: This repository's top folder.
ROOT = Path(__file__).resolve().parents[2]

#: Where the spec sits in the ``shared/`` folder beside the repository.
BESIDE = Path("shared/reference/ringcentral-openapi-1.0.46.json")


def spec_path(environ: Mapping[str, str] = os.environ, root: Path = ROOT) -> Path:
    """``RINGCENTRAL_OPENAPI_SPEC``, else ``shared/`` beside this checkout, else beside
    the checkout it was cloned from when that is a folder on this machine (a fresh
    clone in ``/tmp`` still finds it); the first place when none has it."""
    named = environ.get("RINGCENTRAL_OPENAPI_SPEC")
    if named:
        return Path(named)
    beside = root.parent / BESIDE
    if beside.is_file():
        return beside
    origin = _local_origin(root)  # asked only when needed: it runs git
    if origin is not None and (origin.parent / BESIDE).is_file():
        return origin.parent / BESIDE
    return beside


def _local_origin(root: Path) -> Path | None:
    try:
        url = subprocess.run(
            ["git", "-C", str(root), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(url.removeprefix("file://")) if url else None
    return path.resolve() if path is not None and path.is_dir() else None


SPEC_PATH = spec_path()


@cache
def spec() -> dict[str, Any]:
    """The parsed spec (read once per process); a test that needs it fails with where to
    put it when it is missing (the repository sits beside ``shared/``, or the
    environment names the file)."""
    if not SPEC_PATH.is_file():
        pytest.fail(
            f"RingCentral's OpenAPI spec is not at {SPEC_PATH}: clone this repository beside "
            f"shared/ ({BESIDE}) or set RINGCENTRAL_OPENAPI_SPEC to the file",
            pytrace=False,
        )
    return dict(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


@cache
def _operations() -> dict[str, dict[str, Any]]:
    ops = {}
    for path_item in spec()["paths"].values():
        for op in path_item.values():
            if isinstance(op, dict) and "operationId" in op:
                ops[op["operationId"]] = op
    return ops


def response_schema(operation_id: str, status: str = "200") -> dict[str, Any]:
    """The JSON schema of an operation's response."""
    response = _operations()[operation_id]["responses"][status]
    return dict(response["content"]["application/json"]["schema"])


def component_schema(name: str) -> dict[str, Any]:
    """A schema of ``components/schemas``."""
    return dict(spec()["components"]["schemas"][name])


def throttling_group(operation_id: str) -> str:
    """The operation's ``x-throttling-group``."""
    return str(_operations()[operation_id]["x-throttling-group"])


def assert_valid(body: Any, schema: dict[str, Any]) -> None:
    """Fail with every schema violation listed when ``body`` does not match."""
    errors = sorted(Draft4Validator(schema).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def assert_response(body: Any, operation_id: str, status: str = "200") -> None:
    """Assert an operation's response body matches the spec."""
    assert_valid(body, response_schema(operation_id, status))


def assert_error_body(body: Any, code: str) -> None:
    """Assert a classic error body: the spec's ErrorResponse, with ``code`` first."""
    assert_valid(body, component_schema("ErrorResponse"))
    assert body["errors"][0]["errorCode"] == code, body
    assert body["errorCode"] == code, body
