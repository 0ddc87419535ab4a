"""The interactive chat: prompt_toolkit for input, streamed text, dim status lines.

Deliberately small; Markdown rendering and slash commands come later. The pieces are
split so they can grow: ``ChatPrinter`` owns the terminal output, ``chat_turn`` runs
one turn, ``run_repl`` is the input loop.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from agent.cli.interrupts import InterruptGuard
from agent.cli.render import finish_line, status_line
from agent.events import TextDelta, ToolCallFinished, ToolCallStarted, TurnFinished, TurnStarted

if TYPE_CHECKING:
    from agent.agent import AIAgent

EXIT_OK = 0
EXIT_INTERRUPTED = 130
QUIT_COMMANDS = ("/quit", "/exit")
PROMPT = "> "


class ChatPrinter:
    """Streamed text and status lines on one terminal.

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
        self._lock = threading.Lock()

    def text(self, chunk: str) -> None:
        if not chunk:
            return
        with self._lock:
            self._out.write(chunk)
            self._out.flush()
            self._at_line_start = chunk.endswith("\n")

    def status(self, line: str, style: str = "dim") -> None:
        with self._lock:
            self._break_line()
            # markup off: the line holds model/tool text, which may contain [brackets]
            self._console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)
            self._at_line_start = True

    def end_turn(self) -> None:
        with self._lock:
            self._break_line()

    def _break_line(self) -> None:
        if not self._at_line_start:
            self._out.write("\n")
            self._out.flush()
            self._at_line_start = True


def chat_turn(agent: AIAgent, text: str, printer: ChatPrinter) -> TurnFinished | None:
    """Run one turn, printing as it goes. The first Ctrl+C interrupts the turn (the
    chat continues); a second one raises ``KeyboardInterrupt`` to the caller."""

    tool_running = False

    def on_interrupt() -> None:
        agent.interrupt()
        # The interrupt stops a running command too (ToolContext.cancel): say so.
        hint = ": stopping the running tool" if tool_running else ""
        printer.status(f"■ interrupting{hint}… (Ctrl+C again to quit)")

    finished: TurnFinished | None = None
    with InterruptGuard(on_interrupt) as guard:
        for event in agent.stream(text):
            if isinstance(event, TurnStarted) and guard.pressed:
                agent.interrupt()  # stream() cleared the flag when the turn began
            if isinstance(event, (ToolCallStarted, ToolCallFinished)):
                tool_running = isinstance(event, ToolCallStarted)
            if isinstance(event, TextDelta):
                printer.text(event.text)
            elif isinstance(event, TurnFinished):
                finished = event
            else:
                line = status_line(event)
                if line is not None:
                    printer.status(line)
    printer.end_turn()
    if finished is not None:
        line = finish_line(finished)
        if line is not None:
            printer.status(line, style="dim" if finished.status == "interrupted" else "bold red")
    return finished


def _key_bindings() -> Any:
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("c-c")
    def _ctrl_c(event: Any) -> None:
        # Like a shell: Ctrl+C clears a half-typed line; at an empty prompt it leaves.
        buffer = event.app.current_buffer
        if buffer.text:
            buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt, style="class:aborting")

    return bindings


def _history(path: Path | None, printer: ChatPrinter) -> Any:
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    if path is None:
        return InMemoryHistory()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileHistory(str(path))
    except OSError as exc:  # a read-only home must not stop the chat
        printer.status(f"• warning: input history not saved ({exc})")
        return InMemoryHistory()


def run_repl(agent: AIAgent, *, history_path: Path | None = None, out: TextIO | None = None) -> int:
    """The chat loop; returns the exit code (0 on /quit, Ctrl+D or Ctrl+C at the prompt)."""
    import sys

    from prompt_toolkit import PromptSession

    printer = ChatPrinter(out or sys.stdout)
    session: Any = PromptSession(history=_history(history_path, printer), key_bindings=_key_bindings())
    provider = agent.provider
    printer.status(f"stayline · {provider.name} · {provider.model} — /quit or Ctrl+D to leave, Ctrl+C stops a turn")
    while True:
        try:
            text = session.prompt(PROMPT)
        except (EOFError, KeyboardInterrupt):  # Ctrl+D, or Ctrl+C at an empty prompt
            return EXIT_OK
        text = text.strip()
        if not text:
            continue
        if text in QUIT_COMMANDS:
            return EXIT_OK
        try:
            chat_turn(agent, text, printer)
        except KeyboardInterrupt:  # second Ctrl+C during a turn
            printer.end_turn()
            return EXIT_INTERRUPTED
