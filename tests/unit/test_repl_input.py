"""The chat's input loop in-process: prompt_toolkit reads keys from a pipe."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.cli import EXIT_OK
from agent.cli.approve import make_chat_approver
from agent.cli.repl import run_repl
from agent.events import AgentEvent, TextDelta, TurnFinished, TurnStarted


@dataclass
class Provider:
    name: str = "anthropic"
    model: str = "claude-sonnet-4-6"


@dataclass
class FakeAgent:
    provider: Provider = field(default_factory=Provider)
    prompts: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    session_id: str | None = "s1"
    during_turn: Callable[[], None] | None = None
    error: Exception | None = None

    def stream(self, text: str) -> Iterator[AgentEvent]:
        if self.error is not None:
            raise self.error
        self.prompts.append(text)
        yield TurnStarted(None, "anthropic", "m")
        if self.during_turn is not None:
            self.during_turn()
        yield TextDelta(f"echo: {text}")
        yield TurnFinished("completed", f"echo: {text}")

    def interrupt(self) -> None:
        return None

    def undo(self) -> str | None:
        return self.prompts.pop() if self.prompts else None


def chat(agent: FakeAgent, keys: str, tmp_path: Path) -> tuple[int, str]:
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    out = io.StringIO()
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text(keys)
        code = run_repl(agent, history_path=tmp_path / "history", out=out, home=tmp_path)  # type: ignore[arg-type]
    return code, out.getvalue()


def test_enter_sends_and_alt_enter_makes_a_new_line(tmp_path: Path) -> None:
    agent = FakeAgent()
    code, out = chat(agent, "line one\x1b\rline two\r\x04", tmp_path)
    assert code == EXIT_OK
    assert agent.prompts == ["line one\nline two"]
    assert "echo: line one\nline two" in out
    assert out.startswith("stayline · anthropic · claude-sonnet-4-6 — /help for commands")


def test_input_history_is_kept_on_disk(tmp_path: Path) -> None:
    chat(FakeAgent(), "remember me\r\x04", tmp_path)
    assert "+remember me" in (tmp_path / "history").read_text()


def test_slash_commands_and_the_double_slash_escape(tmp_path: Path) -> None:
    agent = FakeAgent()
    code, out = chat(agent, "/help\r//etc/hosts looks odd\r/undo\r/bogus\r/quit\r", tmp_path)
    assert code == EXIT_OK
    assert "Commands:" in out and "Alt+Enter" in out
    assert "undone: /etc/hosts looks odd" in out
    assert "Unknown command /bogus" in out
    assert agent.prompts == []  # sent once, then undone


def test_ctrl_c_clears_a_line_and_quits_at_an_empty_prompt(tmp_path: Path) -> None:
    agent = FakeAgent()
    code, _ = chat(agent, "never sent\x03hello\r\x03", tmp_path)
    assert code == EXIT_OK
    assert agent.prompts == ["hello"]


def test_an_error_in_a_turn_is_a_line_not_a_traceback(tmp_path: Path) -> None:
    agent = FakeAgent(error=RuntimeError("the session store is locked"))
    code, out = chat(agent, "hi\r\x04", tmp_path)
    assert code == EXIT_OK
    assert "✗ error: the session store is locked" in out and "Traceback" not in out


def test_a_resumed_conversation_says_so(tmp_path: Path) -> None:
    _, out = chat(FakeAgent(history=["a", "b", "c"]), "\x04", tmp_path)
    assert "↺ continuing session s1 (3 earlier messages)" in out


def test_a_dangerous_command_is_asked_about_in_the_chat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    approve = make_chat_approver()
    answers: list[bool] = []
    agent = FakeAgent()
    agent.during_turn = lambda: answers.append(approve("terminal", "runs a command with root privileges: sudo ls"))
    code, _ = chat(agent, "first\ra\rsecond\r\x04", tmp_path)
    assert code == EXIT_OK
    assert answers == [True, True]  # "always": the second one is not asked
    assert agent.prompts == ["first", "second"]
    said = capsys.readouterr().out
    assert said.count("needs your approval") == 1 and "allowed for this session" in said


def test_no_for_an_answer(tmp_path: Path) -> None:
    approve = make_chat_approver(say=lambda line: None)
    answers: list[bool] = []
    agent = FakeAgent()
    agent.during_turn = lambda: answers.append(approve("terminal", "runs a command with root privileges: sudo ls"))
    chat(agent, "go\rn\r\x04", tmp_path)
    assert answers == [False]
