"""Interrupting a running tool: the terminal tool watches ``ToolContext.cancel`` and stops
the command's whole process group when it is set, keeping the output so far."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.processes import wait_until_gone
from tools import ToolContext, ToolRegistry
from tools.terminal import run_command, terminal_tool

INTERRUPTED = "interrupted by the user; the command was stopped"


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def wait_until_group_gone(pgid: int, seconds: float = 15.0) -> list[int]:
    deadline = time.monotonic() + seconds
    members = group_members(pgid)
    while members and time.monotonic() < deadline:
        time.sleep(0.1)
        members = group_members(pgid)
    return members


def set_later(event: threading.Event, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, event.set)
    timer.daemon = True
    timer.start()
    return timer


def test_cancel_stops_a_running_command_and_its_group(tmp_path: Path) -> None:
    cancel = threading.Event()
    ctx = ToolContext(workdir=tmp_path, cancel=cancel)
    # The shell's pid is the group id (the command runs in its own session).
    command = "echo $$ > pids; sleep 30 & echo $! >> pids; echo started; wait"
    timer = set_later(cancel, 0.5)
    started = time.monotonic()
    outcome = ToolRegistry([terminal_tool()]).execute("terminal", {"command": command}, ctx)
    elapsed = time.monotonic() - started
    timer.cancel()
    assert elapsed < 5, f"the interrupted command took {elapsed:.1f}s to come back"
    assert outcome.is_error
    assert outcome.content.startswith(INTERRUPTED + "\n")
    assert "started" in outcome.content  # the output so far is kept
    assert outcome.summary == f"error: {INTERRUPTED}"
    pids = [int(line) for line in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 2
    assert wait_until_gone(pids) == []
    assert wait_until_group_gone(pids[0]) == []


def test_cancel_during_plain_sleep(tmp_path: Path) -> None:
    cancel = threading.Event()
    timer = set_later(cancel, 0.3)
    started = time.monotonic()
    result = run_command("sleep 30", tmp_path, timeout=60, max_output_chars=1_000, cancel=cancel)
    timer.cancel()
    assert time.monotonic() - started < 5
    assert result.cancelled and not result.timed_out and result.exit_code is None


def test_cancel_reaches_a_command_that_closed_its_output(tmp_path: Path) -> None:
    # The output pipe hits EOF at once, so only the wait for the shell's exit is left.
    cancel = threading.Event()
    timer = set_later(cancel, 0.3)
    started = time.monotonic()
    result = run_command(
        "exec >/dev/null 2>&1; echo $$ > pid; sleep 30", tmp_path, timeout=60, max_output_chars=1_000, cancel=cancel
    )
    timer.cancel()
    assert time.monotonic() - started < 5
    assert result.cancelled and result.exit_code is None
    assert wait_until_gone([int((tmp_path / "pid").read_text())]) == []


def test_an_unset_event_changes_nothing(tmp_path: Path) -> None:
    ctx = ToolContext(workdir=tmp_path, cancel=threading.Event())
    outcome = ToolRegistry([terminal_tool()]).execute("terminal", {"command": "echo hi"}, ctx)
    assert not outcome.is_error and outcome.content == "exit code 0\nhi\n"


def test_a_set_event_stops_the_command_at_once(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    started = time.monotonic()
    result = run_command("sleep 30", tmp_path, timeout=60, max_output_chars=1_000, cancel=cancel)
    assert time.monotonic() - started < 5
    assert result.cancelled and result.exit_code is None
