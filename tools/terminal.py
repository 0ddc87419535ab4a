"""terminal: run a shell command in the working directory.

The command runs in its own session (process group), so that on timeout the whole
tree it started can be stopped with one signal; killing only the shell would leave
its children running and, worse, holding our output pipe open forever. The same
happens when the user interrupts the turn (``ToolContext.cancel`` is set): the
command is stopped within a poll interval instead of running to its end.

The command never sees credentials: it runs with ``ToolContext.environment`` (the agent
leaves out its provider keys) or, without one, with this process's environment minus
what the default denylist of ``tools.secrets`` matches. With ``ToolContext.sandbox`` it
runs under bubblewrap (``tools.sandbox``).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from tools.approval import dangerous_reason
from tools.base import Tool, ToolContext, ToolError
from tools.sandbox import Sandbox
from tools.secrets import child_environment
from tools.text import body_budget, count_lines, plural

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "CommandResult", "run_command", "terminal_tool"]

DEFAULT_TIMEOUT = 120
MAX_TIMEOUT = 600
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL, for children to clean up
# After the shell exits, how long background children may keep our output pipe open
# before they are treated as strays of this command and stopped.
LINGER = 1.0
_POLL = 0.1
_CHUNK = 65_536
_NOTE_RESERVE = 400  # room under max_output_chars for the status line and notes

_Ending = Literal["eof", "timeout", "lingering", "cancelled"]
INTERRUPTED = "interrupted by the user; the command was stopped"


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None  # None when the command timed out or was cancelled
    output: str
    timed_out: bool
    stopped_background: bool  # children still holding the output were stopped
    cancelled: bool = False  # the cancel event was set: the command and its children were stopped


class _HeadTail:
    """Keeps the first and last ``limit / 2`` bytes of a stream of any length."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > 2 * self.half:  # trim in batches, not on every chunk
            del self.tail[: -self.half]

    def render(self) -> str:
        tail = bytes(self.tail[-self.half :])
        cut = self.total - len(self.head) - len(tail)
        if cut <= 0:
            return (bytes(self.head) + tail).decode("utf-8", errors="replace")
        # Decoded separately: a multi-byte character split at a cut becomes U+FFFD.
        return (
            self.head.decode("utf-8", errors="replace")
            + f"\n[... {cut:,} bytes of output cut here; showing the first and last {self.half:,} bytes]\n"
            + tail.decode("utf-8", errors="replace")
        )


def run_command(
    command: str,
    workdir: Path,
    timeout: float,
    max_output_chars: int,
    cancel: threading.Event | None = None,
    *,
    env: Mapping[str, str] | None = None,
    sandbox: Sandbox | None = None,
) -> CommandResult:
    """Run ``command`` with a shell, combining stdout and stderr; never waits past ``timeout``,
    nor more than a poll interval after ``cancel`` is set. ``env`` None means this process's
    environment without what the default denylist matches. Raises FileNotFoundError when
    the sandbox's bubblewrap is not installed."""
    argv = [_shell(), "-c", command]
    if sandbox is not None:
        argv = sandbox.wrap(argv, workdir)
    proc = subprocess.Popen(
        argv,
        cwd=workdir,
        env=dict(env) if env is not None else child_environment().env,
        stdin=subprocess.DEVNULL,  # an interactive prompt must fail, not hang the turn
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    buffer = _HeadTail(max_output_chars)
    deadline = time.monotonic() + timeout
    try:
        ending = _pump(proc, proc.stdout, buffer, deadline, cancel)
        if ending == "eof":  # it may have closed its output and kept running
            ending = _wait_exit(proc, deadline, cancel)
        if ending != "eof":
            _stop_group(proc)
            _drain(proc.stdout, buffer, time.monotonic() + LINGER)
    finally:
        proc.stdout.close()
        if proc.poll() is None:  # interrupted (e.g. Ctrl-C): leave nothing behind
            _stop_group(proc)
    timed_out = ending == "timeout"
    cancelled = ending == "cancelled"
    return CommandResult(
        exit_code=None if timed_out or cancelled else proc.returncode,
        output=buffer.render(),
        timed_out=timed_out,
        stopped_background=ending == "lingering",
        cancelled=cancelled,
    )


def _shell() -> str:
    return shutil.which("bash") or "/bin/sh"


def _is_set(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _pump(
    proc: subprocess.Popen[bytes],
    stream: IO[bytes],
    buffer: _HeadTail,
    deadline: float,
    cancel: threading.Event | None,
) -> _Ending:
    """Read output until EOF, the deadline, a cancel, or strays holding the pipe after the
    shell exited."""
    fd = stream.fileno()
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if now >= deadline:
                return "timeout"
            if _is_set(cancel):
                return "cancelled"
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at >= LINGER:
                return "lingering"
            if selector.select(min(_POLL, deadline - now)):
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    return "eof"
                buffer.feed(chunk)


def _wait_exit(proc: subprocess.Popen[bytes], deadline: float, cancel: threading.Event | None) -> _Ending:
    """After EOF, wait for the shell to exit, in short steps so a cancel is noticed."""
    while True:
        try:
            proc.wait(timeout=max(min(_POLL, deadline - time.monotonic()), 0))
            return "eof"
        except subprocess.TimeoutExpired:
            pass
        if _is_set(cancel):
            return "cancelled"
        if time.monotonic() >= deadline:
            return "timeout"


def _drain(stream: IO[bytes], buffer: _HeadTail, deadline: float) -> None:
    """Collect what the stopped processes wrote last, without waiting on escaped ones."""
    fd = stream.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0 and selector.select(min(_POLL, remaining)):
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return
            buffer.feed(chunk)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, then SIGKILL whatever is left after a grace."""
    _signal_group(proc.pid, signal.SIGTERM)
    end = time.monotonic() + KILL_GRACE
    while _group_alive(proc):
        if time.monotonic() >= end:
            _signal_group(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    # A process stuck in the kernel cannot be killed; give up rather than hang the turn.
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    proc.poll()  # reap the shell itself so it does not count as a live zombie
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_live_member(proc.pid)


def _has_live_member(pgid: int) -> bool:
    # killpg(pgid, 0) also succeeds for zombies; where init does not reap orphans (some
    # containers) they never go away, so look for a member that is actually running.
    proc_root = Path("/proc")
    if not proc_root.is_dir():
        return True
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _terminal(args: dict[str, Any], ctx: ToolContext) -> str:
    command: str = args["command"]
    timeout = float(args.get("timeout", DEFAULT_TIMEOUT))
    _check_approval(command, ctx)
    budget = body_budget(ctx.max_output_chars, _NOTE_RESERVE)
    try:
        result = run_command(
            command, ctx.workdir, timeout, budget, ctx.cancel, env=ctx.environment, sandbox=ctx.sandbox
        )
    except FileNotFoundError as exc:  # the sandbox's bubblewrap went away: never run unconfined
        raise ToolError(f"not run: {exc}") from exc
    output = result.output or "(no output)"
    if result.cancelled:
        raise ToolError(f"{INTERRUPTED}\n{output}")
    if result.timed_out:
        # An error result, so the UI flags it; the output so far still goes to the model.
        raise ToolError(f"timed out after {timeout:g} s; the command and its children were stopped\n{output}")
    text = f"exit code {result.exit_code}{_signal_note(result.exit_code)}\n{output}"
    if result.stopped_background:
        text += (
            ("" if text.endswith("\n") else "\n") + "[background processes still writing to the output "
            "were stopped when the command finished; redirect their output (cmd > log 2>&1 &) "
            "to keep them running]"
        )
    return text


def _check_approval(command: str, ctx: ToolContext) -> None:
    if ctx.approve is None:
        return
    reason = dangerous_reason(command)
    if reason is None:
        return
    if not ctx.approve("terminal", f"{reason}: {command}"):
        raise ToolError(
            f"refused: {reason}. The user did not approve this command; do not run it again as is. "
            "Ask the user how to proceed, or find a safer way that stays inside the working directory."
        )


def _signal_note(exit_code: int | None) -> str:
    if exit_code is None or exit_code >= 0:
        return ""
    try:
        return f" (killed by {signal.Signals(-exit_code).name})"
    except ValueError:
        return ""


def _summarize(args: dict[str, Any], content: str) -> str:
    status, _, output = content.partition("\n")
    code = status.removeprefix("exit code ").split(" ", 1)[0]
    lines = 0 if output == "(no output)" else count_lines(output)
    return f"exit {code}, {plural(lines, 'line')}"


def terminal_tool() -> Tool:
    return Tool(
        name="terminal",
        description=(
            "Run a shell command (bash) in the working directory and return its exit code and "
            "combined stdout/stderr. Non-interactive: stdin is empty. Long output keeps its head "
            f"and tail. Default timeout {DEFAULT_TIMEOUT} s, at most {MAX_TIMEOUT} s; on timeout the "
            "command and everything it started is stopped. Background processes that keep writing "
            "to the output are stopped when the command ends; redirect their output to a file to "
            "keep them running."
        ),
        schema={
            "type": "object",
            "properties": {
                "command": {"type": "string", "minLength": 1, "description": "The shell command to run."},
                "timeout": {
                    "type": "number",
                    "minimum": 1,
                    "maximum": MAX_TIMEOUT,
                    "description": f"Seconds before the command is stopped (default {DEFAULT_TIMEOUT}).",
                },
            },
            "required": ["command"],
            "additionalProperties": False,
        },
        handler=_terminal,
        side_effects=True,
        summarize=_summarize,
    )
