"""What single shot shows while a turn runs: progress lines on stderr, a live status line
when stderr is a terminal, and with ``--stream`` the model's text on stdout as it comes.

The live line is one line of stderr redrawn in place ("waiting for the model (12s)",
"streaming the answer: ~340 tokens", "retrying (attempt 2 of 3)"), erased before any
other output, so a ten-minute local generation is never ten minutes of silence. It is
off when stderr is not a terminal (nothing to redraw) and while the answer streams to
the same terminal (the text itself is the progress). Everything shown is cleaned
(``safe_text.clean``); the streamed answer too when stdout is a terminal, and
byte-exact when it is piped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from agent.cli.render import one_line, status_line
from agent.cli.safe_text import clean
from agent.events import (
    AgentEvent,
    ModelCallStarted,
    Retrying,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolCallStreaming,
    Waiting,
)

_ERASE = "\r\x1b[2K"
_REDRAW_EVERY = 0.1  # seconds between redraws of a changing count
_CHARS_PER_TOKEN = 4


def is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class Progress:
    """Consumes the turn's events for single shot; ``close()`` leaves the terminal clean."""

    def __init__(
        self, out: TextIO, err: TextIO, *, stream_answer: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._out, self._err, self._clock = out, err, clock
        self._stream_answer = stream_answer
        self._out_tty = is_terminal(out)
        self._live = is_terminal(err) and not (stream_answer and self._out_tty)
        self._shown = ""  # the live line on screen now ("" = none)
        self._drawn_at = 0.0
        self._started = clock()
        self._chars = 0
        self._state = "starting"
        self.streamed = False  # some of the answer went to stdout already
        self._line_open = False  # the streamed text does not end with a newline

    def event(self, event: AgentEvent) -> None:
        """Show one event: a progress line, the live line, or streamed text."""
        if isinstance(event, TextDelta) and self._stream_answer:
            self._write_text(event.text)
        line = status_line(event)
        if line is not None and not (self._live and isinstance(event, Waiting)):
            self.say(line)
        self._update_live(event)

    def say(self, line: str) -> None:
        """A permanent progress line on stderr."""
        self._erase()
        if self._line_open and self._out_tty and is_terminal(self._err):
            self._out.write("\n")  # the same terminal: start the line after the text
            self._out.flush()
            self._line_open = False
        self._err.write(clean(line) + "\n")
        self._err.flush()
        self._redraw(force=True)

    def close(self) -> None:
        """Erase the live line; end the streamed answer with a newline."""
        self._erase()
        self._live = False
        if self.streamed and self._line_open:
            self._out.write("\n")
            self._out.flush()
            self._line_open = False

    def _write_text(self, text: str) -> None:
        if not text:
            return
        self._erase()
        self._out.write(clean(text) if self._out_tty else text)
        self._out.flush()
        self.streamed = True
        self._line_open = not text.endswith("\n")

    def _update_live(self, event: AgentEvent) -> None:
        if not self._live:
            return
        if isinstance(event, ModelCallStarted):
            self._started, self._chars = self._clock(), 0
            self._state = "waiting for the model" + (f" (attempt {event.attempt})" if event.attempt > 1 else "")
        elif isinstance(event, TextDelta | ThinkingDelta):
            self._chars += len(event.text)
            what = "thinking" if isinstance(event, ThinkingDelta) else "streaming the answer"
            self._state = f"{what}: ~{self._chars // _CHARS_PER_TOKEN + 1:,} tokens"
        elif isinstance(event, ToolCallStreaming):
            self._state = f"writing a {one_line(event.name, 40)} call"
        elif isinstance(event, ToolCallStarted):
            self._state = f"running {one_line(event.name, 40)}"
        elif isinstance(event, ToolCallFinished):
            self._state = "waiting for the model"
        elif isinstance(event, Retrying):
            self._state = f"retrying (attempt {event.attempt} of {event.of})"
        elif isinstance(event, Waiting):
            self._state = f"waiting for the provider ({event.seconds:.0f}s)"
        else:
            return
        self._redraw(force=not isinstance(event, TextDelta | ThinkingDelta))

    def _redraw(self, *, force: bool = False) -> None:
        if not self._live:
            return
        now = self._clock()
        if not force and now - self._drawn_at < _REDRAW_EVERY:
            return
        elapsed = now - self._started
        text = one_line(f"{self._state} · {elapsed:.0f}s", 100)
        if text == self._shown:
            return
        self._err.write(_ERASE + "… " + text)
        self._err.flush()
        self._shown, self._drawn_at = text, now

    def _erase(self) -> None:
        if self._shown:
            self._err.write(_ERASE)
            self._err.flush()
            self._shown = ""
