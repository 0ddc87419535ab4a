"""The chat's output: status lines, streamed Markdown, the live and the plain views."""

from __future__ import annotations

import io
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agent.cli.live import ChatPrinter, LiveView, make_view
from agent.cli.markdown_stream import MarkdownStream, last_boundary, open_fence
from agent.cli.render import status_line, status_style
from agent.cli.repl import render_turn
from agent.events import (
    AgentEvent,
    ConnectionReset,
    FallbackActivated,
    FallbackExhausted,
    ModelCallStarted,
    Notice,
    Retrying,
    StallGuidance,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolCallStreaming,
    TurnFinished,
    TurnStarted,
    Waiting,
)

# -- status lines ---------------------------------------------------------------------------


def test_waiting_reads_waiting_for_the_provider() -> None:
    assert status_line(Waiting(20, "first_delta")) == "… waiting for the provider (20s)"
    assert status_line(Waiting(35.4, "between_deltas")) == "… waiting for the provider (35s)"


def test_fallback_and_guidance_lines() -> None:
    activated = FallbackActivated("claude-sonnet-4-6 via anthropic", "gpt-4o via openai", "HTTP 529 overloaded")
    assert status_line(activated) == f"⇄ {activated.message}"
    exhausted = status_line(FallbackExhausted(("anthropic: HTTP 529", "openai: timeout\nlater")))
    assert exhausted == "✗ every provider in the fallback chain failed: anthropic: HTTP 529; openai: timeout later"
    guidance = status_line(StallGuidance("write_file", "big.py", "Split the file into chunks of 8000 characters"))
    assert guidance == "✂ write_file big.py kept getting cut off; asking the model to send it in smaller pieces"


def test_styles_mark_what_went_wrong() -> None:
    assert status_style(ToolCallFinished("c", "read_file", "x", True, "no such file", 0.1)) == "red"
    assert status_style(ToolCallFinished("c", "read_file", "x", False, "3 lines", 0.1)) == "dim"
    assert status_style(FallbackExhausted(("a",))) == "red"
    assert status_style(Notice("careful", "warning")) == "yellow"
    assert status_style(Retrying(2, 3, "HTTP 529", 1.0)) == "dim"


# -- MarkdownStream -------------------------------------------------------------------------


def identity(source: str) -> list[str]:
    return source.split("\n")


def stream_in_pieces(source: str, size: int, window: int = 3) -> list[str]:
    doc = MarkdownStream(identity, "", window)
    printed: list[str] = []
    for start in range(0, len(source), size):
        doc.feed(source[start : start + size])
        printed += doc.take_stable()
        assert len(doc.tail()) <= window + source[start : start + size].count("\n") + 1
    return printed + doc.finish()


DOC = (
    "# Title\n\nA paragraph\nof two lines.\n\n```python\nx = 1\n\ny = 2\n```\n\n"
    "- a\n- b\n  continued\n\n  indented\n\nEnd."
)


@pytest.mark.parametrize("size", [1, 2, 7, 1000])
def test_every_line_is_printed_once_in_order_whatever_the_pieces(size: int) -> None:
    assert stream_in_pieces(DOC, size) == identity(DOC)


def test_settled_blocks_are_printed_and_the_active_one_stays_live() -> None:
    doc = MarkdownStream(identity, "", window=5)
    doc.feed("para one\n\npara t")
    assert doc.take_stable() == ["para one"]
    assert doc.tail() == ["", "para t"]
    doc.feed("wo")
    assert doc.take_stable() == []
    assert doc.finish() == ["", "para two"]
    assert doc.finish() == []


def test_a_tall_active_block_keeps_only_the_window_live() -> None:
    doc = MarkdownStream(identity, "", window=3)
    doc.feed("```\n" + "".join(f"line {i}\n" for i in range(10)))
    assert doc.take_stable() == ["```", *[f"line {i}" for i in range(7)]]
    assert doc.tail() == ["line 7", "line 8", "line 9"]


def test_block_boundaries() -> None:
    assert last_boundary("a\n\nb") == (2, 3)
    assert last_boundary("a\n\n") is None  # the next block has not started
    assert last_boundary("a\n\n  b") is None  # indented: still the list item or code block
    assert last_boundary("```\na\n\nb\n```\n\nc") == (13, 14)  # not inside the fence
    assert last_boundary("~~~~\n~~~\n\nx") is None  # a shorter fence does not close
    assert last_boundary("```inline``` code\n\nb") == (18, 19)  # not a fence opener


def test_open_fence() -> None:
    assert open_fence("text\n```python\nx = 1") == "```python"
    assert open_fence("```\nx\n```\n") is None
    assert open_fence("plain") is None


# -- the views ------------------------------------------------------------------------------


class Screen:
    """Just enough of a terminal to read what rich's Live leaves on the screen."""

    _CSI = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])")

    def __init__(self) -> None:
        self.lines: list[str] = [""]
        self.row = self.col = 0

    def feed(self, data: str) -> Screen:
        i = 0
        while i < len(data):
            match = self._CSI.match(data, i)
            if match:
                self._control(match.group(1), match.group(2))
                i = match.end()
                continue
            ch = data[i]
            i += 1
            if ch == "\x1b":
                i += 1
            elif ch == "\r":
                self.col = 0
            elif ch == "\n":  # a terminal's ONLCR: a new line starts at column 0
                self.row += 1
                self.col = 0
                self.lines += [""] * (self.row + 1 - len(self.lines))
            elif ch >= " ":
                line = self.lines[self.row].ljust(self.col)
                self.lines[self.row] = line[: self.col] + ch + line[self.col + 1 :]
                self.col += 1
        return self

    def _control(self, param: str, final: str) -> None:
        n = int(param) if param.isdigit() else 1
        if final == "A":
            self.row = max(0, self.row - n)
        elif final == "C":
            self.col += n
        elif final == "D":
            self.col = max(0, self.col - n)
        elif final == "G":
            self.col = n - 1
        elif final == "K":
            self.lines[self.row] = "" if param == "2" else self.lines[self.row][: self.col]
        elif final == "J":
            self.lines[self.row] = self.lines[self.row][: self.col]
            del self.lines[self.row + 1 :]

    @property
    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines).strip("\n")


def terminal() -> tuple[Any, io.StringIO]:
    from rich.console import Console

    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=60, height=20, color_system=None), out


def drawn(out: io.StringIO, text: str, timeout: float = 30.0) -> None:
    """Wait until the live display's own refresh thread has drawn ``text`` (on a loaded
    machine that can take a while; the wait ends as soon as it is there)."""
    deadline = time.monotonic() + timeout
    while text not in out.getvalue():
        assert time.monotonic() < deadline, f"never drawn: {text!r}"
        time.sleep(0.01)


def test_make_view_picks_plain_output_off_a_terminal() -> None:
    assert isinstance(make_view(io.StringIO()), ChatPrinter)


def test_live_view_renders_markdown_and_leaves_each_line_once() -> None:
    console, out = terminal()
    view = LiveView(console, refresh_per_second=50)
    view.begin_turn()
    drawn(out, "thinking… (0s)")  # the spinner gets drawn
    answer = "Some **bold** text.\n\n- one\n- two\n\n```\ncode line\n```\n\nThe end."
    for i in range(0, len(answer), 4):
        view.text(answer[i : i + 4])
        time.sleep(0.002)
    view.tool_started(ToolCallStarted("c1", "write_file", "notes.txt"))
    drawn(out, "write_file notes.txt (0s)")
    view.tool_finished(ToolCallFinished("c1", "write_file", "notes.txt", False, "wrote 5 bytes", 0.01))
    view.waiting(21)
    drawn(out, "waiting for the provider (21s)")
    view.text("Afterwards.")
    view.end_turn()
    raw = out.getvalue()
    assert "thinking… (0s)" in raw
    assert "write_file notes.txt (0s)" in raw  # the spinner while the tool ran
    assert "waiting for the provider (21s)" in raw
    screen = Screen().feed(raw).text
    assert screen.splitlines() == [
        "Some bold text.",
        "",
        " • one",
        " • two",
        "",
        "",
        " code line",
        "",
        "",
        "The end.",
        "✓ write_file notes.txt  wrote 5 bytes (0.0s)",
        "Afterwards.",
    ]


def test_live_view_status_lines_split_the_answer_and_reopen_a_code_fence() -> None:
    console, out = terminal()
    view = LiveView(console)
    view.begin_turn()
    view.text("```\nfirst = 1\n")
    view.status("↪ continuing: the stream broke")
    view.text("second = 2\n```\n")
    view.end_turn()
    lines = [line.strip() for line in Screen().feed(out.getvalue()).text.splitlines() if line.strip()]
    assert lines == ["first = 1", "↪ continuing: the stream broke", "second = 2"]


def test_live_view_pauses_for_a_question() -> None:
    console, out = terminal()
    view = LiveView(console)
    view.begin_turn()
    view.text("Before.")
    with view.suspend():
        console.file.write("QUESTION\n")
    view.text(" After.")
    view.end_turn()
    assert Screen().feed(out.getvalue()).text.splitlines() == ["Before.", "QUESTION", "After."]


class RecordingView:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, *args))

    def suspend(self) -> Any:
        raise AssertionError("not used")


class FakeAgent:
    def __init__(self, events: list[AgentEvent]) -> None:
        self.events = events
        self.interrupted = threading.Event()

    def interrupt(self) -> None:
        self.interrupted.set()


def test_render_turn_routes_each_event() -> None:
    tool_error = ToolCallFinished("c1", "read_file", "x.txt", True, "no such file", 0.2)
    events: list[AgentEvent] = [
        TurnStarted(None, "anthropic", "m"),
        ModelCallStarted(1, 1, "anthropic", "m"),
        ToolCallStreaming("c1", "read_file"),
        ToolCallStarted("c1", "read_file", "x.txt"),
        tool_error,
        Waiting(20, "first_delta"),
        ConnectionReset("anthropic_messages", "interrupt", True),
        ConnectionReset("anthropic_messages", "stale", True),
        TextDelta("Hi"),
        TurnFinished("failed", "Hi", "the provider said no"),
    ]
    view = RecordingView()
    finished = render_turn(FakeAgent(events), lambda: iter(events), view)  # type: ignore[arg-type]
    assert finished == events[-1]
    assert view.calls == [
        ("begin_turn",),
        ("activity", "thinking…"),
        ("activity", "writing a read_file call…"),
        ("tool_started", events[3]),
        ("tool_finished", tool_error),
        ("waiting", 20),
        ("status", "⟲ connection reset (stale)", "dim"),
        ("text", "Hi"),
        ("end_turn",),
        ("status", "✗ error: the provider said no", "bold red"),
    ]


def test_chat_printer_shows_every_line_in_order() -> None:
    out = io.StringIO()
    printer = ChatPrinter(out)
    events: list[AgentEvent] = [
        ToolCallStarted("c1", "terminal", "ls"),
        ToolCallFinished("c1", "terminal", "ls", False, "exit 0, 2 lines", 0.1),
        Waiting(20, "between_deltas"),
        TextDelta("Done"),
        TurnFinished("completed", "Done"),
    ]
    render_turn(FakeAgent(events), lambda: iter(events), printer)
    assert out.getvalue().splitlines() == [
        "→ terminal ls",
        "✓ terminal ls  exit 0, 2 lines (0.1s)",
        "… waiting for the provider (20s)",
        "Done",
    ]


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="needs the main thread")
def test_ctrl_c_during_a_turn_interrupts_and_keeps_the_chat() -> None:
    agent = FakeAgent([])

    def stream() -> Iterator[AgentEvent]:
        yield TurnStarted(None, "anthropic", "m")
        yield TextDelta("partial")
        os.kill(os.getpid(), signal.SIGINT)
        assert agent.interrupted.wait(5), "Ctrl+C did not reach agent.interrupt()"
        yield TurnFinished("interrupted", "partial", "interrupted by the user")

    out = io.StringIO()
    finished = render_turn(agent, stream, ChatPrinter(out))
    assert finished is not None and finished.status == "interrupted"
    assert out.getvalue().splitlines() == [
        "partial",
        "■ interrupting… (Ctrl+C again to quit)",
        "■ interrupted by the user",
    ]
