"""Model text cannot drive the terminal: the sanitiser, the chat views and single shot.

The real-terminal check (a reply with OSC 52 and ESC[2K in the chat under a pty) is in
tests/e2e/test_security_pty.py.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from agent.cli.live import ChatPrinter, LiveView
from agent.cli.oneshot import run_single
from agent.cli.safe_text import MAX_HELD, CleanStream, clean
from agent.events import AgentEvent, Notice, TextDelta, TurnFinished, TurnStarted

OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"  # would set the clipboard to "rm -rf ~"
ERASE = "\x1b[2K"
NASTY = (
    f"Look: alpha{ERASE}bravo {OSC52}done.\r\n"
    "title\x1b]0;pwned\x1b\\ bell\x07 del\x7f c1\x9b31m csi8 \x9d8;;http://x\x9c dcs\x1bPq#0\x1b\\ "
    "reset\x1bc keep\ttabs\nand lines\n"
)
EXPECTED = "Look: alphabravo done.\ntitle bell del c1 csi8  dcs reset keep\ttabs\nand lines\n"


class TtyIO(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def has_controls(text: str) -> bool:
    return re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text) is not None


def test_clean_removes_whole_sequences_and_controls_but_keeps_newline_and_tab() -> None:
    assert clean(NASTY) == EXPECTED
    assert clean("plain text, unchanged") == "plain text, unchanged"
    assert clean("ünïcødé → ✓\n") == "ünïcødé → ✓\n"


def test_an_unterminated_sequence_loses_its_start_so_nothing_stays_hidden() -> None:
    assert clean("before \x1b]52;c;payload") == "before 52;c;payload"
    assert clean("before \x1b[12") == "before 12"
    assert not has_controls(clean("\x1b\x1b[\x1b]\x9b\x9d\x90"))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_streamed_text_is_cleaned_the_same_whatever_the_pieces(size: int) -> None:
    stream = CleanStream()
    shown = "".join(stream.feed(NASTY[i : i + size]) for i in range(0, len(NASTY), size)) + stream.flush()
    assert shown == EXPECTED


def test_a_never_terminated_string_is_not_held_back_forever() -> None:
    stream = CleanStream()
    first = stream.feed("answer \x1b]52;c;")
    assert first == "answer "  # held: it may still be completed
    released = stream.feed("A" * (MAX_HELD + 10))
    assert released.startswith("52;c;AAAA") and not has_controls(released)
    assert stream.feed(" more") == " more"


def test_chat_printer_never_writes_an_escape_sequence() -> None:
    out = io.StringIO()
    printer = ChatPrinter(out)
    printer.begin_turn()
    for i in range(0, len(NASTY), 3):
        printer.text(NASTY[i : i + 3])
    printer.status(f"• status with {OSC52} and {ERASE}")
    printer.end_turn()
    written = out.getvalue()
    assert "\x1b" not in written and not has_controls(written.replace("\n", "").replace("\t", ""))
    assert "Look: alphabravo done." in written
    assert "• status with  and" in written


def test_live_view_never_writes_the_models_sequences() -> None:
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=60, height=20, color_system=None)
    view = LiveView(console, refresh_per_second=50)
    view.begin_turn()
    for i in range(0, len(NASTY), 4):
        view.text(NASTY[i : i + 4])
    view.status(f"• {OSC52}status{ERASE}line")
    view.end_turn()
    written = out.getvalue()
    # rich draws its live area with its own ESC[2K; never in the middle of the model's text
    assert "]52;" not in written and "pwned" not in written
    assert f"alpha{ERASE}" not in written and f"status{ERASE}" not in written
    assert "alphabravo" in written and "statusline" in written


class OneTurnAgent:
    """Just enough of AIAgent for run_single: one turn with the given events."""

    def __init__(self, events: list[AgentEvent]) -> None:
        self.events = events
        self.session_id = None
        self.last_result = None

    def stream(self, prompt: str) -> Iterator[AgentEvent]:
        yield from self.events

    def interrupt(self) -> None:
        return None


def single(out: Any, err: Any, *, final: str = NASTY, json_mode: bool = False) -> int:
    events: list[AgentEvent] = [
        TurnStarted(None, "p", "m"),
        Notice(f"progress {OSC52}note", "info"),
        TextDelta(final),
        TurnFinished("completed", final),
    ]
    return run_single(OneTurnAgent(events), "hi", json_mode=json_mode, out=out, err=err)  # type: ignore[arg-type]


def test_single_shot_to_a_terminal_is_cleaned_and_to_a_pipe_byte_exact() -> None:
    tty_out, tty_err = TtyIO(), io.StringIO()
    assert single(tty_out, tty_err) == 0
    assert tty_out.getvalue() == EXPECTED
    pipe_out, pipe_err = io.StringIO(), io.StringIO()
    assert single(pipe_out, pipe_err) == 0
    assert pipe_out.getvalue() == NASTY  # data for another program: exactly what the model wrote
    for err in (tty_err, pipe_err):  # progress is always cleaned
        assert "\x1b" not in err.getvalue() and "• progress note" in err.getvalue()


def test_failed_turn_errors_on_stderr_are_cleaned() -> None:
    events: list[AgentEvent] = [TurnStarted(None, "p", "m"), TurnFinished("failed", "", f"bad{OSC52}\nline two")]
    err = io.StringIO()
    assert run_single(OneTurnAgent(events), "hi", json_mode=False, out=io.StringIO(), err=err) == 1  # type: ignore[arg-type]
    assert err.getvalue() == "stayline: error: bad line two\n"  # cleaned, and on one line


def test_json_on_a_terminal_escapes_c1_controls_and_stays_the_same_value() -> None:
    final = "a\x9b31mb\x7fc\x1b[2Kd"
    tty_out = TtyIO()
    single(tty_out, io.StringIO(), final=final, json_mode=True)
    text = tty_out.getvalue()
    assert not has_controls(text.rstrip("\n"))
    assert json.loads(text)["final_text"] == final
    pipe_out = io.StringIO()
    single(pipe_out, io.StringIO(), final=final, json_mode=True)
    assert json.loads(pipe_out.getvalue())["final_text"] == final
