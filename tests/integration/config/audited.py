"""Run a module as ``python -m`` does, writing down every connection and program it starts.

``python audited.py LOG MODULE [ARGS...]``: each TCP connection attempt
(``socket.connect`` to an address and port) and each program started
(``subprocess.Popen``) is appended to ``LOG`` as one JSON line, as it
happens, by a Python audit hook installed before the module is imported.
So a test can show that a command refused its settings before it talked to
any broker, not merely that it failed.
"""

from __future__ import annotations

import json
import runpy
import sys
from typing import Any


def main() -> None:
    log_path, module, *args = sys.argv[1:]

    def record(entry: dict[str, Any]) -> None:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

    def hook(event: str, details: tuple[Any, ...]) -> None:
        if event == "socket.connect" and isinstance(details[1], tuple):
            record({"connect": list(details[1][:2])})
        elif event == "subprocess.Popen" and not _asks_file_about_a_binary(details[1]):
            record({"popen": str(details[1])})

    sys.addaudithook(hook)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _asks_file_about_a_binary(argv: Any) -> bool:
    # platform.architecture() runs `file -b <interpreter>` when some libraries
    # are imported (the listener's do): that is no program of ours.
    return isinstance(argv, list | tuple) and list(argv[:2]) == ["file", "-b"]


if __name__ == "__main__":
    main()
