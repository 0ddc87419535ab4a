"""``stayline sessions``: the saved sessions, the most recently used first.

Reads the session store under the stayline home and never creates it: listing on a
fresh machine prints nothing rather than leaving an empty database behind.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, whole_number

PROG = "stayline"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} sessions",
        description="List the saved sessions, the most recently used first. "
        f"Continue one with `{PROG} --resume ID`, the latest with `{PROG} --continue`.",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument(
        "--limit", type=whole_number(1), default=20, metavar="N", help="show at most N sessions (default 20)"
    )
    return parser


def sessions_command(argv: list[str], home: Path) -> int:
    """``stayline sessions [--json] [--limit N]``; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    infos: list[Any] = []
    if (home / "sessions.db").exists():  # listing never creates the store
        from agent.sessions import SessionStore, SessionStoreError

        try:
            with SessionStore(home) as store:
                infos = store.list(limit=args.limit)
        except (OSError, SessionStoreError) as exc:
            print(f"{PROG}: cannot read the sessions: {exc}", file=sys.stderr)
            return EXIT_FAILED
    if args.json:
        print(json.dumps([_session_json(info) for info in infos], ensure_ascii=False))
        return EXIT_OK
    if not infos:
        print(f"no sessions yet (they are kept in {home})", file=sys.stderr)
        return EXIT_OK
    print(format_sessions(infos, time.time()))
    return EXIT_OK


def format_sessions(infos: Sequence[Any], now: float) -> str:
    """The table of ``stayline sessions``: id, last used, model, title."""
    rows = [("ID", "LAST USED", "MODEL", "TITLE")]
    rows += [(i.id, human_time(i.last_used, now), i.model, i.title or "(untitled)") for i in infos]
    widths = [max(len(row[col]) for row in rows) for col in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    )


def human_time(then: float, now: float) -> str:
    seconds = max(0.0, now - then)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return _ago(int(seconds // 60), "minute")
    if seconds < 86400:
        return _ago(int(seconds // 3600), "hour")
    days = int(seconds // 86400)
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return datetime.fromtimestamp(then).strftime("%Y-%m-%d")


def _ago(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


def _session_json(info: Any) -> dict[str, Any]:
    def iso(stamp: float) -> str:
        return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")

    return {
        "id": info.id,
        "title": info.title,
        "model": info.model,
        "provider": info.provider,
        "workdir": info.workdir,
        "created_at": iso(info.created_at),
        "last_used": iso(info.last_used),
        "message_count": info.message_count,
    }
