"""How a chat turn looks on the terminal.

Two views with one interface, chosen by ``make_view``:

- ``LiveView`` (a real terminal): the answer rendered as Markdown while it streams, on a
  rich ``Live`` area redrawn at most ``REFRESH_PER_SECOND`` times a second whatever the
  delta rate; a spinner with the elapsed time while nothing is arriving (before the first
  token, during a tool call, when the provider goes quiet); tool calls and recovery
  events as one dim line each, errors in red.
- ``ChatPrinter`` (a pipe, a file, a dumb terminal): the text as it arrives, and the
  same status lines, with no cursor movement at all.

Both views clean what they show (``safe_text``): model text cannot move the cursor,
erase lines or reach the clipboard.

Threads: the turn's events arrive on the main thread; the Ctrl+C relay thread prints a
status line; rich's refresh thread asks for the live area. Everything that prints holds
``_out_lock`` from deciding what to print until it is printed, so lines never swap; the
refresh thread only takes ``_state_lock``, which is never held while calling into rich
(rich's ``Live`` holds its own lock while it asks us for the live area).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from agent.cli.markdown_stream import MarkdownStream, open_fence
from agent.cli.render import WAITING, one_line, status_line, status_style
from agent.cli.safe_text import CleanStream, clean

if TYPE_CHECKING:
    from agent.events import ToolCallFinished, ToolCallStarted

REFRESH_PER_SECOND = 8
_MIN_WINDOW = 4


class TurnView(Protocol):
    """What ``chat_turn`` drives; both views implement it."""

    def begin_turn(self) -> None: ...
    def text(self, chunk: str) -> None: ...
    def activity(self, label: str) -> None: ...
    def tool_started(self, event: ToolCallStarted) -> None: ...
    def tool_finished(self, event: ToolCallFinished) -> None: ...
    def waiting(self, seconds: float) -> None: ...
    def status(self, line: str, style: str = "dim") -> None: ...
    def end_turn(self) -> None: ...
    def suspend(self) -> contextlib.AbstractContextManager[None]: ...


def make_view(out: TextIO) -> TurnView:
    """A ``LiveView`` on a real terminal, else a ``ChatPrinter``."""
    from rich.console import Console

    console = Console(file=out, highlight=False)
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveView(console)
    return ChatPrinter(out, console)


class ChatPrinter:
    """Streamed text and status lines on a plain stream (no cursor movement).

    Text arrives in fragments without newlines, so a status line may come in the
    middle of a sentence; the printer tracks the column to start status lines on a
    fresh line. The lock is there because the Ctrl+C relay thread prints too.
    """

    def __init__(self, out: TextIO, console: Any = None) -> None:
        self._out = out
        if console is None:
            from rich.console import Console

            console = Console(file=out, highlight=False)
        self._console = console
        self._at_line_start = True
        self._lock = threading.RLock()
        self._clean = CleanStream()

    def begin_turn(self) -> None:
        return None

    def text(self, chunk: str) -> None:
        with self._lock:
            self._write(self._clean.feed(chunk))

    def _write(self, safe: str) -> None:
        if not safe:
            return
        self._out.write(safe)
        self._out.flush()
        self._at_line_start = safe.endswith("\n")

    def activity(self, label: str) -> None:
        return None

    def tool_started(self, event: ToolCallStarted) -> None:
        self.status(status_line(event) or event.name)

    def tool_finished(self, event: ToolCallFinished) -> None:
        self.status(status_line(event) or event.name, status_style(event))

    def waiting(self, seconds: float) -> None:
        self.status("… " + WAITING.format(seconds=seconds))

    def status(self, line: str, style: str = "dim") -> None:
        with self._lock:
            self._break_line()
            # markup off: the line holds model/tool text, which may contain [brackets]
            self._console.print(clean(line), style=style or None, markup=False, highlight=False, soft_wrap=True)
            self._at_line_start = True

    def end_turn(self) -> None:
        with self._lock:
            self._write(self._clean.flush())
            self._break_line()

    @contextlib.contextmanager
    def suspend(self) -> Iterator[None]:
        with self._lock:
            self._break_line()
        yield

    def _break_line(self) -> None:
        if not self._at_line_start:
            self._out.write("\n")
            self._out.flush()
            self._at_line_start = True


class LiveView:
    """Markdown while it streams, a spinner while waiting, one line per event."""

    def __init__(self, console: Any, refresh_per_second: float = REFRESH_PER_SECOND) -> None:
        from rich.segment import Segment
        from rich.spinner import Spinner

        self._console = console
        self._refresh = refresh_per_second
        self._blank: list[Any] = [Segment("")]
        self._spinner = Spinner("dots", style="dim")
        self._out_lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._live: Any = None
        self._clean = CleanStream()
        self._doc: MarkdownStream[list[Any]] | None = None
        self._reopen = ""  # a code fence the previous document left open
        self._label: str | None = None  # None: no spinner (text is streaming)
        self._since = time.monotonic()
        self._last_take = 0.0

    # -- the turn --------------------------------------------------------------------
    def begin_turn(self) -> None:
        self._set_footer("thinking…")
        self._start_live()

    def end_turn(self) -> None:
        with self._out_lock:
            self._feed(self._clean.flush())
            self._flush_document()
            with self._state_lock:
                self._label = None
                self._reopen = ""
            self._stop_live()

    @contextlib.contextmanager
    def suspend(self) -> Iterator[None]:
        with self._out_lock:
            self._flush_document()
            running = self._live is not None
            self._stop_live()
            try:
                yield
            finally:
                if running:
                    self._since = time.monotonic()
                    self._start_live()

    # -- events ----------------------------------------------------------------------
    def text(self, chunk: str) -> None:
        with self._out_lock:
            self._feed(self._clean.feed(chunk))

    def _feed(self, safe: str) -> None:
        """Add cleaned text to the document; prints what settled (``_out_lock`` held)."""
        if not safe:
            return
        with self._state_lock:
            if self._doc is None:
                self._doc = self._new_document(self._reopen)
                self._reopen = ""
            self._doc.feed(safe)
            self._label = None
            now = time.monotonic()
            lines = []
            if now - self._last_take >= 1 / self._refresh:
                self._last_take = now
                lines = self._doc.take_stable()
        self._print_lines(lines)

    def activity(self, label: str) -> None:
        """What the spinner says until text streams ("thinking…", "writing a call")."""
        self._set_footer(label)

    def tool_started(self, event: ToolCallStarted) -> None:
        with self._out_lock:
            self._flush_document()
            self._reopen = ""  # the text before a tool call is complete
            label = one_line(event.name, 40) + (f" {one_line(event.target, 60)}" if event.target else "")
            self._set_footer(label)

    def tool_finished(self, event: ToolCallFinished) -> None:
        self.status(status_line(event) or event.name, status_style(event))
        self._set_footer("thinking…")

    def waiting(self, seconds: float) -> None:
        self._set_footer("waiting for the provider", since=time.monotonic() - seconds)

    def status(self, line: str, style: str = "dim") -> None:
        from rich.text import Text

        with self._out_lock:
            self._flush_document()
            if self._live is not None:
                self._live.refresh()
            self._console.print(Text(clean(line), style=style or ""), soft_wrap=True)

    # -- internals -------------------------------------------------------------------
    def _set_footer(self, label: str, since: float | None = None) -> None:
        with self._state_lock:
            if self._label != label or since is not None:
                self._since = time.monotonic() if since is None else since
            self._label = label

    def _new_document(self, prefix: str = "") -> MarkdownStream[list[Any]]:
        height = self._console.size.height
        document: MarkdownStream[list[Any]] = MarkdownStream(self._render, self._blank, max(_MIN_WINDOW, height // 3))
        if prefix:
            document.feed(prefix)
        return document

    def _flush_document(self) -> None:
        """Print the whole current document for good (a status line or a tool call comes
        next); text that follows starts a new one, reopening a code fence left open."""
        with self._state_lock:
            doc, self._doc = self._doc, None
            lines = doc.finish() if doc is not None else []
            if doc is not None:
                fence = open_fence(doc.source)
                self._reopen = fence + "\n" if fence else ""
        self._print_lines(lines)

    def _print_lines(self, lines: list[list[Any]]) -> None:
        if not lines:
            return
        if self._live is not None:
            # Redraw the live area from the new state first: rich redraws its last frame
            # under printed output, which would still show the lines printed now.
            self._live.refresh()
        self._console.print(_Lines(lines), soft_wrap=True)

    def _render(self, source: str) -> list[list[Any]]:
        from rich.markdown import Markdown
        from rich.text import Text

        options = self._console.options.update(width=max(20, self._console.width - 1))
        try:
            rendered = self._console.render_lines(Markdown(source), options, pad=False)
        except Exception:  # whatever the model wrote, the answer is shown, as plain text
            rendered = self._console.render_lines(Text(source), options, pad=False)
        lines = [_rstrip(line) for line in rendered]
        # rich opens some blocks (lists, code, tables) with blank lines; blocks rendered
        # one by one get exactly one blank line between them instead (MarkdownStream).
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def _renderable(self) -> Any:
        """The live area: the active block's last lines and the spinner (refresh thread)."""
        from rich.console import Group
        from rich.text import Text

        with self._state_lock:
            tail = self._doc.tail() if self._doc is not None else []
            label = self._label
            elapsed = time.monotonic() - self._since
        parts: list[Any] = [_Lines(tail)] if tail else []
        if label is not None:
            self._spinner.update(text=Text(f"{label} ({elapsed:.0f}s)", style="dim"))
            parts.append(self._spinner)
        return Group(*parts)

    def _start_live(self) -> None:
        from rich.live import Live

        if self._live is not None:
            return
        self._live = Live(
            console=self._console,
            get_renderable=self._renderable,
            refresh_per_second=self._refresh,
            auto_refresh=True,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def _stop_live(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()


class _Lines:
    """Pre-rendered lines as a rich renderable."""

    def __init__(self, lines: list[list[Any]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.segment import Segment

        for line in self.lines:
            yield from line
            yield Segment.line()


def _rstrip(line: list[Any]) -> list[Any]:
    """Drop the padding spaces rich adds to the right of plain text (copy and paste gets
    them otherwise); padding with a background colour (code blocks) stays."""
    segments = list(line)
    while segments:
        last = segments[-1]
        if last.control or (last.style is not None and last.style.bgcolor is not None):
            break
        stripped = last.text.rstrip(" ")
        if stripped:
            segments[-1] = type(last)(stripped, last.style, last.control)
            break
        segments.pop()
    return segments


@contextlib.contextmanager
def quiet_input(stream: TextIO | None = None) -> Iterator[None]:
    """Keys typed during a turn are not echoed over the live display; they stay queued
    for the next prompt. Best effort: nothing happens off a terminal or off POSIX."""
    stream = stream or sys.stdin
    try:
        import termios

        fd = stream.fileno()
        if not os.isatty(fd):
            raise OSError
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~(termios.ECHO | getattr(termios, "ECHOCTL", 0))
        quiet[0] &= ~termios.ICRNL  # a typed-ahead Enter stays Enter (not Ctrl+J) for the next prompt
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (ImportError, OSError, ValueError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)
