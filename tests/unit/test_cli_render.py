"""The event -> status line formatting shared by single shot and the chat."""

from __future__ import annotations

import io

import pytest

from agent.cli.render import finish_line, one_line, status_line
from agent.cli.repl import ChatPrinter
from agent.events import (
    ConnectionReset,
    Continuing,
    ModelCallFinished,
    ModelCallStarted,
    Notice,
    Retrying,
    Stalled,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolCallStreaming,
    TurnFinished,
    TurnStarted,
    Waiting,
)

NASTY = "line one\nline two\x1b[31m red\r\tend"

SHOWN = [
    ToolCallStarted("c1", "write_file", "notes.txt"),
    ToolCallStarted("c1", "terminal", "echo a\necho b"),
    ToolCallStarted("c1", "list_files", None),
    ToolCallFinished("c1", "write_file", "notes.txt", False, "wrote 12 bytes", 0.01),
    ToolCallFinished("c1", "terminal", NASTY, True, NASTY, 2.5),
    Retrying(2, 3, "HTTP 529 overloaded", 1.5),
    Retrying(3, 3, NASTY, 0.0),
    Stalled(60.0, "first_delta"),
    Stalled(30.0, "between_deltas"),
    Stalled(600.0, "total"),
    Waiting(15, "first_delta"),
    Waiting(20, "between_deltas"),
    ConnectionReset("anthropic_messages", "stale", True),
    ConnectionReset("chat_completions", "retry", False, NASTY),
    Continuing("the reply reached the output limit"),
    Notice("interrupted: the remaining tool calls were not executed", "warning"),
    Notice(NASTY),
    Notice("boom", "error"),
]

HIDDEN = [
    TurnStarted(None, "anthropic", "claude-sonnet-4-6"),
    ModelCallStarted(1, 1, "anthropic", "claude-sonnet-4-6"),
    TextDelta("hello"),
    ThinkingDelta("hmm"),
    ToolCallStreaming("c1", "write_file"),
    ModelCallFinished("end_turn", 10, 5),
    TurnFinished("completed", "done"),
]


@pytest.mark.parametrize("event", SHOWN, ids=lambda e: e.kind)
def test_status_events_render_as_exactly_one_clean_line(event: object) -> None:
    line = status_line(event)  # type: ignore[arg-type]
    assert line
    assert line == line.strip()
    assert "\n" not in line and "\r" not in line
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in line)  # no escape sequences
    assert len(line) < 400


@pytest.mark.parametrize("event", HIDDEN, ids=lambda e: e.kind)
def test_stream_and_bookkeeping_events_have_no_status_line(event: object) -> None:
    assert status_line(event) is None  # type: ignore[arg-type]


def test_tool_lines_have_the_documented_shape() -> None:
    assert status_line(ToolCallStarted("c1", "write_file", "notes.txt")) == "→ write_file notes.txt"
    finished = ToolCallFinished("c1", "write_file", "notes.txt", False, "wrote 12 bytes", 0.01)
    assert status_line(finished) == "✓ write_file notes.txt  wrote 12 bytes (0.0s)"
    failed = ToolCallFinished("c1", "read_file", "missing.txt", True, "error: no such file", 0.2)
    assert status_line(failed) == "✗ read_file missing.txt  error: no such file (0.2s)"


def test_recovery_lines_name_what_happened() -> None:
    assert "attempt 2 of 3" in (status_line(Retrying(2, 3, "HTTP 529", 1.5)) or "")
    assert "1.5s" in (status_line(Retrying(2, 3, "HTTP 529", 1.5)) or "")
    assert "60.0s" in (status_line(Stalled(60.0, "first_delta")) or "")
    assert "15s" in (status_line(Waiting(15, "between_deltas")) or "")
    assert "failed" in (status_line(ConnectionReset("w", "retry", False, "EBADF")) or "")
    assert (status_line(Notice("careful", "warning")) or "").endswith("warning: careful")


def test_long_targets_are_cut() -> None:
    line = status_line(ToolCallStarted("c1", "terminal", "x" * 500)) or ""
    assert len(line) < 80 and line.endswith("…")


def test_one_line_flattens_and_cuts() -> None:
    assert one_line("a\n\n b\x1b[0m c") == "a b c"  # the whole sequence goes, not just ESC
    assert one_line("a\rb\x1b]52;c;SGk=\x07c") == "a bc"
    assert one_line("abcdef", 4) == "abc…"


def test_finish_line() -> None:
    assert finish_line(TurnFinished("completed", "x")) is None
    assert finish_line(TurnFinished("interrupted", "x", "interrupted by the user")) == "■ interrupted by the user"
    long_error = "provider failed. " * 50 + "Retry later or pass --provider openrouter."
    line = finish_line(TurnFinished("failed", "", long_error)) or ""
    assert line.startswith("✗ error: ") and line.endswith("--provider openrouter.")  # advice kept


def test_chat_printer_keeps_status_lines_off_the_streamed_text() -> None:
    out = io.StringIO()
    printer = ChatPrinter(out)
    printer.text("Hel")
    printer.text("lo")
    printer.status("→ write_file notes.txt")
    printer.text("done")
    printer.end_turn()
    printer.end_turn()  # idempotent: no blank lines
    assert out.getvalue() == "Hello\n→ write_file notes.txt\ndone\n"


def test_chat_printer_does_not_interpret_markup() -> None:
    out = io.StringIO()
    ChatPrinter(out).status("✓ terminal [bold]x[/bold]  exit 0 (0.1s)")
    assert out.getvalue() == "✓ terminal [bold]x[/bold]  exit 0 (0.1s)\n"


def test_context_lines() -> None:
    from agent.cli.render import fill_line
    from agent.events import Compacted, ContextFill, ContextTrimmed

    assert status_line(ContextTrimmed(12, 13_100, 7_900)) == (
        "≋ context: 12 old tool outputs replaced by stubs (13,100 → 7,900 tokens)"
    )
    assert status_line(Compacted(143, 12_900, 4_800, 1_200, "threshold", 14_000)) == (
        "≋ context: 143 earlier messages replaced by a 1,200-token summary (12,900 → 4,800 tokens)"
    )
    assert status_line(ContextFill(9_000, 16_000, True)) is None  # not a line of its own in -q
    half = ContextFill(8_100, 16_000, True)
    assert fill_line(ContextFill(7_900, 16_000, True), 0.0) is None  # below half: nothing
    assert fill_line(half, 0.0) == "◔ context 51% full (8,100 of 16,000 tokens)"
    assert fill_line(ContextFill(8_900, 16_000, True), half.fraction) is None  # same tenth: shown already
    assert fill_line(ContextFill(9_700, 16_000, True), half.fraction) is not None
