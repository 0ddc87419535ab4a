"""The terminal tool: exit codes, output caps, timeouts that stop the whole process tree,
and the approval hook for dangerous commands."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.processes import is_gone, wait_until_gone
from tools import ToolContext, ToolOutcome, ToolRegistry
from tools.terminal import run_command, terminal_tool


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry([terminal_tool()])


def sh(registry: ToolRegistry, ctx: ToolContext, command: str, **extra: float) -> ToolOutcome:
    return registry.execute("terminal", {"command": command, **extra}, ctx)


def test_exit_code_and_combined_output(registry: ToolRegistry, tmp_path: Path) -> None:
    ctx = ToolContext(workdir=tmp_path)
    ok = sh(registry, ctx, "echo out; echo err >&2")
    assert ok == ToolOutcome(content="exit code 0\nout\nerr\n", is_error=False, summary="exit 0, 2 lines")


def test_nonzero_exit_is_a_normal_result(registry: ToolRegistry, tmp_path: Path) -> None:
    outcome = sh(registry, ToolContext(workdir=tmp_path), "echo failing; exit 3")
    assert not outcome.is_error
    assert outcome.content == "exit code 3\nfailing\n"
    assert outcome.summary == "exit 3, 1 line"


def test_runs_in_the_workdir_without_stdin(registry: ToolRegistry, tmp_path: Path) -> None:
    (tmp_path / "here.txt").write_text("")
    outcome = sh(registry, ToolContext(workdir=tmp_path), "ls; cat")
    assert outcome.content == "exit code 0\nhere.txt\n"
    silent = sh(registry, ToolContext(workdir=tmp_path), "true")
    assert silent.content == "exit code 0\n(no output)" and silent.summary == "exit 0, 0 lines"


def test_output_is_capped_keeping_head_and_tail(registry: ToolRegistry, tmp_path: Path) -> None:
    ctx = ToolContext(workdir=tmp_path, max_output_chars=2_000)
    outcome = sh(registry, ctx, "echo FIRST; seq 1 20000; echo LAST")
    assert len(outcome.content) <= 2_000
    assert outcome.content.startswith("exit code 0\nFIRST\n")
    assert outcome.content.endswith("LAST\n")
    assert "bytes of output cut here" in outcome.content


def test_timeout_stops_the_whole_process_group(registry: ToolRegistry, tmp_path: Path) -> None:
    ctx = ToolContext(workdir=tmp_path)
    command = "echo started; sleep 100 & echo $! > pids; sleep 100 & echo $! >> pids; echo $$ >> pids; wait"
    outcome = sh(registry, ctx, command, timeout=1)
    assert outcome.is_error
    assert outcome.content.startswith("timed out after 1 s; the command and its children were stopped")
    assert "started" in outcome.content  # the output so far is kept
    assert outcome.summary == "error: timed out after 1 s; the command and its children were stopped"
    pids = [int(line) for line in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 3
    assert wait_until_gone(pids) == []


def test_children_that_ignore_sigterm_are_killed(tmp_path: Path) -> None:
    command = "trap '' TERM; sleep 100 & echo $! > pid; wait"
    result = run_command(command, tmp_path, timeout=1, max_output_chars=1_000)
    assert result.timed_out and result.exit_code is None
    assert wait_until_gone([int((tmp_path / "pid").read_text())]) == []


def test_background_children_holding_the_output_are_stopped(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_command("sleep 100 & echo $! > pid; echo done", tmp_path, timeout=60, max_output_chars=1_000)
    assert not result.timed_out and result.exit_code == 0
    assert result.stopped_background
    assert result.output == "done\n"
    assert time.monotonic() - started < 30  # did not wait for the timeout
    assert wait_until_gone([int((tmp_path / "pid").read_text())]) == []


def test_detached_background_children_keep_running(tmp_path: Path) -> None:
    result = run_command("sleep 100 > /dev/null 2>&1 & echo $! > pid", tmp_path, timeout=60, max_output_chars=100)
    pid = int((tmp_path / "pid").read_text())
    try:
        assert result.exit_code == 0 and not result.stopped_background
        assert not is_gone(pid)
    finally:
        os.kill(pid, 9)


def test_timeout_bounds_are_validated(registry: ToolRegistry, tmp_path: Path) -> None:
    ctx = ToolContext(workdir=tmp_path)
    assert "timeout: 601 is greater than the maximum of 600" in sh(registry, ctx, "true", timeout=601).content
    assert "timeout: 0 is less than the minimum of 1" in sh(registry, ctx, "true", timeout=0).content


def test_signal_deaths_are_named(registry: ToolRegistry, tmp_path: Path) -> None:
    outcome = sh(registry, ToolContext(workdir=tmp_path), "kill -KILL $$")
    assert outcome.content.startswith("exit code -9 (killed by SIGKILL)")


# --- approval --------------------------------------------------------------------------


def test_dangerous_commands_ask_and_refusal_is_an_error(registry: ToolRegistry, tmp_path: Path) -> None:
    asked: list[tuple[str, str]] = []

    def deny(tool: str, description: str) -> bool:
        asked.append((tool, description))
        return False

    ctx = ToolContext(workdir=tmp_path, approve=deny)
    outcome = sh(registry, ctx, "sudo touch marker")
    assert outcome.is_error
    assert outcome.content.startswith("refused: runs a command with root privileges. The user did not approve")
    assert asked == [("terminal", "runs a command with root privileges: sudo touch marker")]
    assert not (tmp_path / "marker").exists()


def test_safe_commands_do_not_ask(registry: ToolRegistry, tmp_path: Path) -> None:
    def explode(tool: str, description: str) -> bool:
        raise AssertionError("must not be asked")

    outcome = sh(registry, ToolContext(workdir=tmp_path, approve=explode), "mkdir build && rm -rf build")
    assert outcome.content == "exit code 0\n(no output)"


def test_approved_commands_run(registry: ToolRegistry, tmp_path: Path) -> None:
    ctx = ToolContext(workdir=tmp_path, approve=lambda tool, description: True)
    # Dangerous by the table (absolute path), harmless in fact: it stays inside tmp_path.
    (tmp_path / "victim").mkdir()
    outcome = sh(registry, ctx, f"rm -rf {tmp_path / 'victim'}")
    assert outcome.content == "exit code 0\n(no output)"
    assert not (tmp_path / "victim").exists()


def test_without_an_approver_everything_runs(registry: ToolRegistry, tmp_path: Path) -> None:
    (tmp_path / "victim").mkdir()
    outcome = sh(registry, ToolContext(workdir=tmp_path), f"rm -rf {tmp_path / 'victim'}")
    assert outcome.content == "exit code 0\n(no output)"
