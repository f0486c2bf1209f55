"""``python -m tasks.ops``: trigger the ops tasks and read their answers.

The command sends the named task to the ``ops`` queue, as ``celery call``
and Flower do, waits for a worker's answer and prints it for people
(``--json`` for scripts). It checks the settings first: invalid ones end it
with one line naming the variable and exit status 2, before anything is
sent; variables that look like misspelt settings are warned about.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeoutError

from glipbot.contracts import OPS_QUEUE
from glipbot.errors import ConfigError
from glipbot.logging import configure_logging
from glipbot.unknown_variables import warn_unknown
from tasks import deployment_variables
from worker.celery import EXIT_CONFIG, app, settings_of

#: subcommand -> (task name, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("tasks.ops.status", "leader, subscription, queues, dead letters, rate limits"),
    "broadcast": ("tasks.ops.broadcast", "post a message to every chat of some types"),
    "create-chat": ("tasks.ops.create_chat", "create a PrivateChat or Team with the bot"),
    "add-members": ("tasks.ops.add_members", "add people to a Team"),
    "remove-members": ("tasks.ops.remove_members", "remove people from a Team"),
    "renew": ("tasks.ops.renew_subscription", "ask the listener to renew its subscription now"),
    "replay": ("tasks.ops.replay_dead_letters", "send dead letters back through the pipeline"),
    "birthdays": ("tasks.ops.birthday_greetings", "send today's birthday greetings now"),
    "reap": ("tasks.ops.reap", "send lost work again now (beat does it every 15 s)"),
    "installations": ("tasks.ops.installations", "list, show or remove bot installations"),
}
#: ``installations`` actions -> the task each sends.
INSTALLATION_TASKS = {
    "list": "tasks.ops.installations",
    "show": "tasks.ops.installations",
    "remove": "tasks.ops.remove_installation",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.ops",
        description="Trigger the bot's ops tasks on the workers (settings from the environment).",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    parser.add_argument("--no-wait", action="store_true", help="print the task id and return")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cmd = {name: sub.add_parser(name, help=text) for name, (_, text) in COMMANDS.items()}
    cmd["broadcast"].add_argument("text", help="the message")
    cmd["broadcast"].add_argument(
        "--type",
        action="append",
        dest="types",
        choices=["PrivateChat", "Group", "Team", "PersonalChat"],
        help="chat type (repeat; default PrivateChat, Group, Team)",
    )
    cmd["create-chat"].add_argument("type", choices=["PrivateChat", "Team"])
    cmd["create-chat"].add_argument("members", nargs="+", help="person ids or e-mail addresses")
    cmd["create-chat"].add_argument("--name", help="the Team's name")
    cmd["add-members"].add_argument("group_id")
    cmd["add-members"].add_argument("members", nargs="+", help="person ids or e-mail addresses")
    cmd["remove-members"].add_argument("group_id")
    cmd["remove-members"].add_argument("members", nargs="+", help="person ids")
    cmd["renew"].add_argument("--recreate", action="store_true", help="re-create, not renew")
    cmd["replay"].add_argument("--limit", type=int, help="at most this many (default all)")
    cmd["birthdays"].add_argument("--date", help="YYYY-MM-DD (default today, UTC)")
    installs = cmd["installations"].add_subparsers(dest="action", required=True, metavar="ACTION")
    installs.add_parser("list", help="every installation (a table; no tokens)")
    installs.add_parser("show", help="one installation as JSON (no token)").add_argument("bot_id")
    remove = installs.add_parser("remove", help="mark removed and forget the token")
    remove.add_argument("bot_id")
    remove.add_argument("--reason", help="recorded with the removal (default: removed by ops)")
    return parser


def task_call(args: argparse.Namespace) -> tuple[str, list[Any], dict[str, Any]]:
    """The task name, args and kwargs that a parsed command line asks for."""
    name = COMMANDS[args.command][0]
    opt = vars(args).get
    if args.command == "installations":
        kwargs = {"bot_id": opt("bot_id")}
        if opt("action") == "remove":
            kwargs["reason"] = opt("reason")
        return INSTALLATION_TASKS[args.action], [], kwargs
    calls: dict[str, tuple[list[Any], dict[str, Any]]] = {
        "status": ([], {}),
        "broadcast": ([opt("text")], {"types": opt("types")}),
        "create-chat": (
            [opt("type"), opt("members")],
            {"name": opt("name")},
        ),
        "add-members": ([opt("group_id"), opt("members")], {}),
        "remove-members": ([opt("group_id"), opt("members")], {}),
        "renew": ([], {"recreate": opt("recreate", False)}),
        "replay": ([], {"limit": opt("limit")}),
        "birthdays": ([], {"day": opt("date")}),
        "reap": ([], {}),
    }
    task_args, task_kwargs = calls[args.command]
    return name, task_args, task_kwargs


def render(command: str, answer: Any) -> str:
    """The answer for people: nested dicts as indented ``key: value`` lines."""
    lines = [f"{command}:"]
    _render(answer, lines, 1)
    return "\n".join(lines)


def _render(value: Any, lines: list[str], depth: int) -> None:
    pad = "  " * depth
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:")
                _render(item, lines, depth + 1)
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                lines.append(f"{pad}-")
                _render(item, lines, depth + 1)
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(f"{pad}{_scalar(value)}")


def _scalar(value: Any) -> str:
    if value is None or value == []:
        return "-"
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_of(app)
    except ConfigError as exc:
        print(f"python -m tasks.ops: {exc}", file=sys.stderr)  # logging is not set up yet
        return EXIT_CONFIG
    configure_logging(settings)
    warn_unknown(v.name for v in deployment_variables())
    name, task_args, task_kwargs = task_call(args)
    result = app.send_task(name, args=task_args, kwargs=task_kwargs, queue=OPS_QUEUE)
    if args.no_wait:
        print(result.id)
        return 0
    try:
        answer = result.get(timeout=args.timeout)
    except CeleryTimeoutError:
        print(
            f"error: no worker answered {name} within {args.timeout:g}s "
            f"(task {result.id}); is a worker consuming the '{OPS_QUEUE}' queue?",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # the task's own error, re-raised by Celery
        print(f"error: {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(for_people(args, answer))
    return 0


def for_people(args: argparse.Namespace, answer: Any) -> str:
    """The answer as the command prints it (``--json``: JSON)."""
    action = vars(args).get("action")
    if args.json or action == "show":
        return json.dumps(answer, indent=2)
    if action == "list":
        return installation_table(answer["installations"])
    if action == "remove":
        return removal_report(answer)
    return render(args.command, answer)


def installation_table(records: list[dict[str, Any]]) -> str:
    """One line per installation: bot id, account, kind, state, installed at (UTC)."""
    rows = [("BOT ID", "ACCOUNT", "KIND", "STATE", "INSTALLED AT")]
    rows += [
        (
            str(r["bot_id"]),
            str(r["account_id"]),
            str(r["kind"]),
            str(r["state"]),
            _utc(r["installed_at"]),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines if records else [*lines, "(no installations)"])


def removal_report(answer: dict[str, Any]) -> str:
    """What ``installations remove`` did, in a sentence or two."""
    record = answer["installation"]
    who = f"bot {record['bot_id']} ({record['kind']}, account {record['account_id']})"
    if not answer["removed"]:
        return f"{who} was already removed at {_utc(record['removed_at'])}; nothing done."
    text = (
        f"removed {who}: its token is forgotten; the leading listener stops its "
        "subscription when it sees the change."
    )
    if record["kind"] == "configured":
        text += (
            "\nIt is the configured bot (RINGCENTRAL_* settings): the next listener start "
            "makes it active again unless those settings name another bot."
        )
    return text


def _utc(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(float(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    sys.exit(main())
