"""The chat's approval of dangerous commands, with a fake prompt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli import live
from agent.cli.approve import (
    FILE_QUESTION,
    QUESTION,
    ChatApprover,
    describe,
    make_chat_approver,
    parse_answer,
    split_action,
)
from tools.approval import dangerous_reason
from tools.base import ToolContext, ToolRegistry
from tools.builtin import builtin_tools


class FakeAsk:
    def __init__(self, *answers: str | BaseException) -> None:
        self.answers = list(answers)
        self.questions: list[str] = []

    def __call__(self, question: str) -> str:
        self.questions.append(question)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def approver(*answers: str | BaseException) -> tuple[ChatApprover, FakeAsk, list[str]]:
    ask, said = FakeAsk(*answers), []
    return make_chat_approver(ask=ask, say=said.append), ask, said


SUDO = "runs a command with root privileges: sudo apt install x"


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [("y", "yes"), ("YES", "yes"), (" n ", "no"), ("", "no"), ("a", "always"), ("Always", "always"), ("maybe", None)],
)
def test_parse_answer(answer: str, verdict: str | None) -> None:
    assert parse_answer(answer) == verdict


def test_split_action_matches_what_the_terminal_tool_sends() -> None:
    command = "sudo rm x: y"
    reason = dangerous_reason(command)
    assert reason is not None
    assert split_action(f"{reason}: {command}") == (reason, command)
    assert split_action("no reason here") == ("needs approval", "no reason here")


def test_yes_runs_once_and_asks_again_next_time() -> None:
    approve, ask, said = approver("y", "y")
    assert approve("terminal", SUDO) is True
    assert ask.questions == [QUESTION]
    assert "Run this command? [y]es / [n]o / [a]lways for this session" in QUESTION
    assert said[0].startswith("⚠ terminal needs your approval (runs a command with root privileges)")
    assert "sudo apt install x" in said[0]
    assert approve("terminal", SUDO) is True
    assert len(ask.questions) == 2


def test_always_remembers_that_exact_command_only() -> None:
    approve, ask, said = approver("a", "n", "n")
    assert approve("terminal", SUDO) is True
    assert approve("terminal", SUDO) is True
    assert len(ask.questions) == 1  # the same command: not asked again
    assert said[-1].startswith("✓ allowed for this session")
    # the same reason, another command: asked again (one approved sudo is not every sudo)
    assert approve("terminal", "runs a command with root privileges: sudo reboot now") is False
    assert approve("terminal", "runs a command with root privileges: sudo apt install x; sudo reboot") is False
    assert len(ask.questions) == 3
    assert approve.always == {("terminal", "sudo apt install x")}
    approve.forget()
    assert approve.always == frozenset()


def test_always_for_a_file_write_is_per_path() -> None:
    approve, ask, _ = approver("a", "n", "n")
    action = "writes inside .git, where hooks and settings can run code on your next git command: .git/hooks/x"
    assert approve("write_file", action) is True
    assert ask.questions == [FILE_QUESTION]
    assert approve("write_file", action) is True
    assert approve("write_file", action.replace("hooks/x", "hooks/y")) is False
    assert approve("terminal", SUDO) is False  # another tool, another question
    assert ask.questions == [FILE_QUESTION, FILE_QUESTION, QUESTION]


@pytest.mark.parametrize("answer", ["n", "", EOFError(), KeyboardInterrupt(), RuntimeError("no terminal")])
def test_anything_but_yes_is_no(answer: str | BaseException) -> None:
    approve, _, said = approver(answer)
    assert approve("terminal", SUDO) is False
    assert said[-1] == "✗ refused: the command was not run"


def test_an_unclear_answer_is_asked_again_then_refused() -> None:
    approve, ask, _ = approver("what", "y")
    assert approve("terminal", SUDO) is True
    approve, ask, said = approver("?", "?", "?")
    assert approve("terminal", SUDO) is False
    assert len(ask.questions) == 3
    assert any("Please answer y" in line for line in said)


def test_the_command_shown_cannot_hide_behind_control_characters() -> None:
    text = describe("terminal", "formats a disk", "mkfs /dev/sda\x1b[2K\rharmless\necho two")
    assert "\x1b" not in text and "\r" not in text
    assert text.splitlines() == [
        "⚠ terminal needs your approval (formats a disk):",
        "    mkfs /dev/sda harmless",
        "    echo two",
    ]
    assert "more characters" in describe("terminal", "r", "x" * 5000)


def test_the_live_view_is_paused_while_asking() -> None:
    events: list[str] = []

    class View(live.ChatPrinter):
        def suspend(self) -> Iterator[None]:  # type: ignore[override]
            events.append("suspend")
            yield
            events.append("resume")

    import contextlib

    View.suspend = contextlib.contextmanager(View.suspend)  # type: ignore[method-assign,assignment]
    view = View(__import__("io").StringIO())
    ask, said = FakeAsk("y"), []
    approve = make_chat_approver(ask=ask, say=said.append, pause=view.suspend)  # the chat's own view
    view.begin_turn()
    try:
        approve("terminal", SUDO)
    finally:
        view.end_turn()
    assert events == ["suspend", "resume"]


def test_the_terminal_tool_asks_the_approver(tmp_path: Path) -> None:
    approve, ask, _ = approver("n")
    tools = ToolRegistry(builtin_tools())
    outcome = tools.execute("terminal", {"command": "rm -rf ../elsewhere"}, ToolContext(tmp_path, approve=approve))
    assert outcome.is_error and "refused" in outcome.content
    assert len(ask.questions) == 1
