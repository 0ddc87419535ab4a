"""The real chat in a pseudo-terminal: ``run_agent.py`` against the provider simulator.

The child gets a real controlling terminal (``os.forkpty``), so prompt_toolkit reads
keys in raw mode, rich draws its live display, and Ctrl+C typed as ``\\x03`` reaches the
chat as SIGINT through the terminal, exactly as for a person. A reader thread drains
the terminal continuously; ``expect`` waits for text in the output with ANSI escape
sequences removed. Timeouts are generous safety nets, not speed assertions.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import struct
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.testing import ProviderSimulator, Reply, Silence, Text, ToolCall

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0
ROWS, COLS = 40, 100
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHMc]")
_DROPPED_ENV = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY")


def plain(data: str) -> str:
    return _ANSI.sub("", data).replace("\r", "")


class PtyChat:
    """The chat running in a pseudo-terminal."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        winsize = struct.pack("HHHH", ROWS, COLS, 0, 0)
        pid, fd = os.forkpty()
        if pid == 0:  # the child: size the terminal, then become the chat
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, winsize)
                os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self._raw = b""
        self._cond = threading.Condition()
        self._eof = False
        self._pos = 0  # where the next expect starts looking (in plain text)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.status: int | None = None

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._raw += data
                self._cond.notify_all()

    @property
    def text(self) -> str:
        with self._cond:
            return plain(self._raw.decode("utf-8", "replace"))

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """Wait for ``pattern`` (a regex) after the previous match; returns the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = plain(self._raw.decode("utf-8", "replace"))
                match = regex.search(text, self._pos)
                if match:
                    self._pos = match.end()
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    tail = text[self._pos :][-3000:]
                    pytest.fail(f"{pattern!r} did not appear (eof={self._eof}); output since last match:\n{tail}")
                self._cond.wait(min(left, 0.2))

    def send(self, data: str) -> None:
        os.write(self.fd, data.encode())

    def line(self, text: str) -> None:
        """Type ``text`` and press Enter."""
        self.send(text)
        time.sleep(0.05)  # let the completion menu settle; Enter must not race it
        self.send("\r")

    def prompt(self) -> None:
        self.expect(r"(?m)^>")

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            time.sleep(0.05)
        pytest.fail("the chat did not exit; output:\n" + self.text[-3000:])

    def close(self) -> None:
        if self.status is None:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


def chat_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _DROPPED_ENV and not k.startswith(("STAYLINE_", "PYTEST_", "COLUMNS", "LINES"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONIOENCODING="utf-8",
        STAYLINE_HOME=str(tmp_path / "home"),
        TERM="xterm",
        PROMPT_TOOLKIT_NO_CPR="1",  # no cursor-position queries to answer
        **extra,
    )
    return env


@pytest.fixture
def chat(sim: ProviderSimulator, tmp_path: Path) -> Iterator[Any]:
    started: list[PtyChat] = []
    work = tmp_path / "work"
    work.mkdir()

    def start(*flags: str, **env: str) -> PtyChat:
        argv = [sys.executable, str(ROOT / "run_agent.py"), "--provider", "anthropic", "--base-url", sim.base_url]
        argv += ["--api-key", "k", "--model", "claude-sonnet-4-6", "--workdir", str(work), *flags]
        proc = PtyChat(argv, chat_env(tmp_path, **env), ROOT)
        started.append(proc)
        proc.expect("stayline · anthropic · claude-sonnet-4-6")
        proc.prompt()
        return proc

    yield start
    for proc in started:
        proc.close()


def user_texts(body: dict[str, Any]) -> list[str]:
    """The user-typed texts of a recorded request (either wire)."""
    texts = []
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return texts


def test_a_prompt_gets_its_answer_rendered(sim: ProviderSimulator, chat: Any) -> None:
    sim.script(Reply(Text("Hello **there**, friend.", chunk=3)))
    proc = chat()
    proc.line("hi")
    proc.expect("Hello there, friend.")
    proc.prompt()
    proc.line("/quit")
    assert proc.wait_exit() == 0
    assert [r.rejected for r in sim.requests] == [None]
    assert user_texts(sim.requests[0].body) == ["hi"]


def test_a_tool_call_shows_one_compact_line(sim: ProviderSimulator, chat: Any, tmp_path: Path) -> None:
    sim.script(
        Reply(Text("Writing it."), ToolCall("write_file", {"path": "notes.txt", "content": "alpha\n"})),
        Reply(Text("Done, notes.txt is written.")),
    )
    proc = chat()
    proc.line("write notes.txt")
    proc.expect(r"✓ write_file notes\.txt .*\(\d+\.\ds\)")
    proc.expect("Done, notes.txt is written.")
    proc.prompt()
    assert (tmp_path / "work" / "notes.txt").read_text() == "alpha\n"
    proc.send("\x04")  # Ctrl+D at an empty prompt leaves
    assert proc.wait_exit() == 0
    assert [r.rejected for r in sim.requests] == [None, None]


def test_ctrl_c_stops_a_silent_stream_and_keeps_the_partial_answer(sim: ProviderSimulator, chat: Any) -> None:
    sim.script(Reply(Text("Partial answer so far."), Silence(30)), Reply(Text("Picking up again.")))
    proc = chat()
    proc.line("tell me a long story")
    proc.expect("Partial answer so far.")
    assert sim.wait_for_requests(1)
    pressed = time.monotonic()
    proc.send("\x03")
    proc.expect("interrupted")
    proc.prompt()
    assert time.monotonic() - pressed < 10  # a safety net; the agent's own bound is 0.5 s
    proc.line("go on")
    proc.expect("Picking up again.")
    proc.prompt()
    proc.line("/quit")
    assert proc.wait_exit() == 0
    second = sim.requests[1]
    assert second.rejected is None
    assert "Partial answer so far." in str(second.body["messages"])  # the partial answer was kept
    assert user_texts(second.body)[-1] == "go on"


def test_undo_then_retry_resends_the_earlier_prompt(sim: ProviderSimulator, chat: Any) -> None:
    sim.script(Reply(Text("Answer one.")), Reply(Text("Answer two.")), Reply(Text("Answer one, again.")))
    proc = chat()
    proc.line("first question")
    proc.expect("Answer one.")
    proc.prompt()
    proc.line("second question")
    proc.expect("Answer two.")
    proc.prompt()
    proc.line("/undo")
    proc.expect("undone: second question")
    proc.prompt()
    proc.line("/retry")
    proc.expect("Answer one, again.")
    proc.prompt()
    proc.line("/quit")
    assert proc.wait_exit() == 0
    assert len(sim.requests) == 3
    assert user_texts(sim.requests[2].body) == ["first question"]  # the retry, without the undone turn


@pytest.mark.parametrize("target", ["custom", "openai"])
def test_model_switch_to_the_other_wire_mid_conversation(sim: ProviderSimulator, chat: Any, target: str) -> None:
    sim.script(Reply(Text("Anthropic here.")), Reply(Text("OpenAI wire here.")))
    proc = chat(OPENAI_API_KEY="openai-key")
    proc.line("hello")
    proc.expect("Anthropic here.")
    proc.prompt()
    proc.line(f"/model {target}:gpt-4o@{sim.openai_base_url}")
    proc.expect(f"now using {target} · gpt-4o · chat_completions")
    proc.prompt()
    proc.line("/model")
    proc.expect(f"model: {target} · gpt-4o")
    proc.prompt()
    proc.line("and now?")
    proc.expect("OpenAI wire here.")
    proc.prompt()
    proc.line("/quit")
    assert proc.wait_exit() == 0
    first, second = sim.requests
    assert (first.wire, second.wire) == ("anthropic", "openai")
    assert second.rejected is None  # the converted history passed the strict validation
    assert user_texts(second.body) == ["hello", "and now?"]
    # the Anthropic key given with --api-key is not sent to the other provider
    auth = {k.lower(): v for k, v in second.headers.items()}.get("authorization", "")
    assert auth == ("Bearer openai-key" if target == "openai" else "Bearer no-key")


def test_a_dangerous_command_runs_once_approved(sim: ProviderSimulator, chat: Any, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file.txt").write_text("x")
    sim.script(
        Reply(ToolCall("terminal", {"command": "rm -rf ../victim"})),
        Reply(Text("Removed it.")),
    )
    proc = chat()
    proc.line("clean up the victim directory")
    proc.expect(r"terminal needs your approval \(recursive delete")
    proc.expect(r"rm -rf \.\./victim")
    proc.expect(r"Run this command\? \[y\]es / \[n\]o / \[a\]lways for this session")
    proc.line("y")
    proc.expect(r"✓ terminal rm -rf \.\./victim")
    proc.expect("Removed it.")
    proc.prompt()
    proc.line("/quit")
    assert proc.wait_exit() == 0
    assert not victim.exists()


def test_multiline_input_and_command_completion(sim: ProviderSimulator, chat: Any) -> None:
    sim.script(Reply(Text("Got both lines.")))
    proc = chat()
    proc.send("line one")
    proc.send("\x1b\r")  # Alt+Enter: a new line, not sent
    proc.line("line two")
    proc.expect("Got both lines.")
    proc.prompt()
    proc.send("/usa")
    proc.expect("tokens, cost and model calls so far")  # the completion menu, while typing
    proc.send("\t")  # completes /usage
    proc.expect(r"/usage")
    time.sleep(0.2)
    proc.send("\r")
    proc.expect(r"since the chat started: [\d,]+ input \+ [\d,]+ output tokens in 1 model calls")
    proc.prompt()
    proc.line("/nope")
    proc.expect("Unknown command /nope")
    proc.prompt()
    proc.line("/quit")
    assert proc.wait_exit() == 0
    assert user_texts(sim.requests[0].body) == ["line one\nline two"]
