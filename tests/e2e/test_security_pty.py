"""The chat under a real pseudo-terminal: what the model sends cannot drive the terminal,
and "always" approves one command, not a whole reason.

Uses the pty driver of test_chat_pty.py. SAFETY: the commands that get approved here
are harmless stand-ins (a recursive delete of a path that does not exist, plus a marker
file in the throwaway workdir).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.testing import ProviderSimulator, Reply, Text, ToolCall
from tests.e2e.test_chat_pty import ROOT, PtyChat, chat_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"  # would put "rm -rf ~" on the clipboard
ERASE = "\x1b[2K"


class RawPtyChat(PtyChat):
    """The chat, with the raw bytes it wrote to the terminal."""

    @property
    def raw(self) -> bytes:
        with self._cond:
            return self._raw


@pytest.fixture
def start_chat(sim: ProviderSimulator, tmp_path: Path) -> Iterator[Any]:
    started: list[RawPtyChat] = []
    work = tmp_path / "work"
    work.mkdir()

    def start() -> RawPtyChat:
        argv = [sys.executable, str(ROOT / "run_agent.py"), "--provider", "anthropic", "--base-url", sim.base_url]
        argv += ["--api-key", "k", "--model", "claude-sonnet-4-6", "--workdir", str(work)]
        proc = RawPtyChat(argv, chat_env(tmp_path), ROOT)
        started.append(proc)
        proc.expect("stayline · anthropic · claude-sonnet-4-6")
        proc.prompt()
        return proc

    yield start
    for proc in started:
        proc.close()


def test_osc52_and_erase_line_in_a_reply_never_reach_the_screen(sim: ProviderSimulator, start_chat: Any) -> None:
    sim.script(
        Reply(Text(f"Reading it.{OSC52}"), ToolCall("read_file", {"path": f"no{OSC52}such{ERASE}.txt"})),
        Reply(Text(f"Look: alpha{ERASE}bravo {OSC52}done. **Bold**{ERASE} end.", chunk=3)),
    )
    proc = start_chat()
    proc.line("show me")
    proc.expect(r"✗ read_file nosuch\.txt")  # the status line, cleaned too
    proc.expect(r"Look: alphabravo done\. Bold end\.")
    proc.prompt()
    proc.line("/quit")
    assert proc.wait_exit() == 0
    raw = proc.raw
    assert b"\x1b]52" not in raw and b"cm0gLXJmIH4=" not in raw
    # rich and prompt_toolkit erase lines themselves, at line starts; never inside the reply
    for before in (b"alpha", b"Bold", b"such"):
        assert before + ERASE.encode() not in raw


def test_always_for_one_command_does_not_approve_another(
    sim: ProviderSimulator, start_chat: Any, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    first = f"echo /nonexistent-probe-a | xargs rm -rf; echo run >> {work}/ran-a"
    other = f"echo /nonexistent-probe-b | xargs rm -rf; echo run >> {work}/ran-b"  # the same reason
    sim.script(
        Reply(ToolCall("terminal", {"command": first})),
        Reply(ToolCall("terminal", {"command": other})),
        Reply(ToolCall("terminal", {"command": first})),
        Reply(Text("All three tried.")),
    )
    proc = start_chat()
    proc.line("clean up")
    proc.expect(r"terminal needs your approval \(recursive delete of paths read from input")
    proc.expect(r"nonexistent-probe-a")
    proc.expect(r"Run this command\? \[y\]es / \[n\]o / \[a\]lways for this session")
    proc.line("a")
    proc.expect(r"approved, and from now on in this session for exactly this")
    proc.expect(r"terminal needs your approval \(recursive delete of paths read from input")  # asked again
    proc.expect(r"nonexistent-probe-b")
    proc.expect(r"Run this command\?")
    proc.line("n")
    proc.expect(r"refused: the command was not run")
    proc.expect(r"allowed for this session: echo /nonexistent-probe-a")  # the first, not asked again
    proc.expect("All three tried.")
    proc.prompt()
    proc.line("/quit")
    assert proc.wait_exit() == 0
    assert (work / "ran-a").read_text() == "run\nrun\n"
    assert not (work / "ran-b").exists()
    assert proc.text.count("needs your approval") == 2  # the question itself is redrawn as you type
