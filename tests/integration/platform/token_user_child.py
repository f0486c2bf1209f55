"""A worker-like process for the token tests: call the platform in a loop, report as JSON.

Run as ``python token_user_child.py '<json config>'``; prints one JSON line:
``{"calls": n, "errors": {...}, "grants": {"login": n, "refresh": n}}``, where
``grants`` counts the token calls made by *this* process.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

from glipbot.errors import PlatformError
from glipbot.logging import configure_logging
from glipbot.platform import connect
from glipbot.settings import Settings


def main(config: dict[str, Any]) -> dict[str, Any]:
    settings = Settings(
        server_url=config["rest_url"],
        redis_url=config["redis_url"],
        username="smartfriend@sandbox.test",
        password="smartfriend",
        log_format="json",
    )
    configure_logging(settings)
    platform = connect(settings)
    grants: Counter[str] = Counter()
    for name in ("login", "refresh"):
        original = getattr(platform.auth, name)

        def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            grants[_name] += 1
            return _original(*args)

        setattr(platform.auth, name, counted)

    while time.time() < config["start_at"]:
        time.sleep(0.01)
    deadline = config["start_at"] + config["duration"]
    calls, errors = 0, Counter[str]()
    while time.time() < deadline:
        try:
            platform.rest.get_person("~")
            calls += 1
        except PlatformError as exc:
            errors[f"{type(exc).__name__}: {exc}"] += 1
        time.sleep(config["interval"])
    platform.close()
    return {"calls": calls, "errors": dict(errors), "grants": dict(grants)}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
