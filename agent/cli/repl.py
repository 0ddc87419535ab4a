"""The interactive chat: prompt_toolkit for input, a live Markdown view for the answer.

``run_repl`` is the input loop (history, multi-line input, slash-command completion);
``chat_turn``/``render_turn`` run one turn and feed its events to a view from
``agent.cli.live``; the slash commands live in ``agent.cli.slash``. rich and
prompt_toolkit are imported only when the chat starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from agent.cli import EXIT_INTERRUPTED, EXIT_OK, slash
from agent.cli.interrupts import InterruptGuard
from agent.cli.live import ChatPrinter, TurnView, make_view, quiet_input
from agent.cli.render import fill_line, finish_line, one_line, status_line, status_style
from agent.events import (
    AgentEvent,
    Compacted,
    ConnectionReset,
    ContextFill,
    ContextTrimmed,
    ModelCallStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolCallStreaming,
    TurnFinished,
    TurnStarted,
    Waiting,
)

if TYPE_CHECKING:
    from agent.agent import AIAgent

__all__ = ["ChatPrinter", "chat_turn", "render_turn", "run_repl"]

PROMPT = "> "
CONTINUATION = "… "


def chat_turn(agent: AIAgent, text: str, printer: TurnView) -> TurnFinished | None:
    """Run one turn for ``text``, showing it on ``printer``."""
    return render_turn(agent, lambda: agent.stream(text), printer)


def render_turn(agent: Any, start: Callable[[], Iterator[AgentEvent]], view: TurnView) -> TurnFinished | None:
    """Consume a turn's events onto ``view``. The first Ctrl+C interrupts the turn (the
    chat continues, the partial answer stays in the conversation); a second one raises
    ``KeyboardInterrupt`` to the caller."""
    shown = _TurnDisplay(view)

    def on_interrupt() -> None:
        agent.interrupt()
        # The interrupt stops a running command too (ToolContext.cancel): say so.
        hint = ": stopping the running tool" if shown.tool_running else ""
        view.status(f"■ interrupting{hint}… (Ctrl+C again to quit)")

    view.begin_turn()
    try:
        with InterruptGuard(on_interrupt) as guard:
            for event in start():
                if isinstance(event, TurnStarted) and guard.pressed:
                    agent.interrupt()  # stream() cleared the flag when the turn began
                shown.show(event)
    finally:
        view.end_turn()
    if shown.finished is not None:
        line = finish_line(shown.finished)
        if line is not None:
            view.status(line, "dim" if shown.finished.status == "interrupted" else "bold red")
    return shown.finished


class _TurnDisplay:
    """One turn's events shown on a view, and what the showing remembers between them."""

    def __init__(self, view: TurnView) -> None:
        self.view = view
        self.tool_running = False
        self.fill_shown = 0.0  # the window's fill last shown (from half full, at each new tenth)
        self.finished: TurnFinished | None = None

    def show(self, event: AgentEvent) -> None:
        """Put ``event`` on the view: activity, tool lines, text, or a status line."""
        view = self.view
        match event:
            case TurnStarted():
                pass  # render_turn passes on a Ctrl+C pressed before the turn began
            case ModelCallStarted() | ThinkingDelta():
                view.activity("thinking…")
            case ToolCallStreaming(name=name):
                view.activity(f"writing a {one_line(name, 40)} call…")
            case ToolCallStarted():
                self.tool_running = True
                view.tool_started(event)
            case ToolCallFinished():
                self.tool_running = False
                view.tool_finished(event)
            case Waiting(seconds=seconds):
                view.waiting(seconds)
            case ConnectionReset(caller="interrupt", ok=True):
                pass  # the user's own Ctrl+C; "interrupted" says it all
            case ContextFill():
                fill = fill_line(event, self.fill_shown)
                if fill is not None:
                    self.fill_shown = event.fraction
                    view.status(fill, "yellow" if event.fraction >= 0.8 else "dim")
            case ContextTrimmed() | Compacted():
                self.fill_shown = 0.0  # room was made: passing half again is news
                view.status(status_line(event) or "", "dim")
            case TurnFinished():
                self.finished = event
            case TextDelta(text=text):
                view.text(text)
            case _:
                line = status_line(event)
                if line is not None:
                    view.status(line, status_style(event))


# -- input -------------------------------------------------------------------------------


def _key_bindings() -> Any:
    from prompt_toolkit.filters import has_completions
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

    @bindings.add("enter", filter=~has_completions)
    def _send(event: Any) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("enter", filter=has_completions)
    def _send_or_complete(event: Any) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
            if buffer.text.endswith(":"):  # "/model openai:" wants its model name next
                return
        buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


def _completer() -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class SlashCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            for text, start, meta in slash.completions(document.text_before_cursor):
                yield Completion(text, start_position=start, display_meta=meta)

    return SlashCompleter()


def _history(path: Path | None, view: TurnView) -> Any:
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    if path is None:
        return InMemoryHistory()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileHistory(str(path))
    except OSError as exc:  # a read-only home must not stop the chat
        view.status(f"• warning: input history not saved ({exc})", "yellow")
        return InMemoryHistory()


def _prompt_session(history: Any) -> Any:
    from prompt_toolkit import PromptSession

    return PromptSession(
        history=history,
        key_bindings=_key_bindings(),
        multiline=True,  # Enter is bound to send; Alt+Enter inserts a newline; pastes keep theirs
        prompt_continuation=lambda width, line_number, wrap_count: CONTINUATION.rjust(width),
        completer=_completer(),
        complete_while_typing=True,
        enable_open_in_editor=False,
    )


def _default_home(history_path: Path | None) -> Path:
    env = os.environ.get("STAYLINE_HOME")
    if env:
        return Path(env).expanduser()
    return history_path.parent if history_path is not None else Path.home() / ".stayline"


def run_repl(
    agent: AIAgent,
    *,
    history_path: Path | None = None,
    out: TextIO | None = None,
    home: Path | None = None,
    on_new: Callable[[], None] | None = None,
    view: TurnView | None = None,
) -> int:
    """The chat loop; returns the exit code (0 on /quit, Ctrl+D or Ctrl+C at the prompt,
    130 on a second Ctrl+C during a turn). ``home`` is where /sessions looks (default
    $STAYLINE_HOME or ~/.stayline); ``on_new`` runs after /new (e.g. the approver's
    ``forget``)."""
    import sys

    view = view or make_view(out or sys.stdout)
    session = _prompt_session(_history(history_path, view))

    def run_turn(start: Callable[[], Iterator[AgentEvent]]) -> object:
        with quiet_input():
            return render_turn(agent, start, view)

    def say(line: str, style: str = "") -> None:
        view.status(line, style)

    ctx = slash.SlashContext(agent, say, run_turn, home or _default_home(history_path), {"on_new": on_new})
    _greet(agent, view)
    while True:
        try:
            text = session.prompt(PROMPT)
        except (EOFError, KeyboardInterrupt):  # Ctrl+D, or Ctrl+C at an empty prompt
            return EXIT_OK
        if not text.strip():
            continue
        try:
            if slash.is_command(text.strip()):
                if slash.dispatch(text.strip(), ctx) == slash.QUIT:
                    return EXIT_OK
                continue
            message = text.strip()
            run_turn(partial(agent.stream, message[1:] if message.startswith("//") else message))
        except KeyboardInterrupt:  # second Ctrl+C during a turn
            view.end_turn()
            return EXIT_INTERRUPTED
        except Exception as exc:  # never a traceback in the chat; the conversation goes on
            view.status(f"✗ error: {one_line(str(exc) or type(exc).__name__, 400)}", "bold red")


def _greet(agent: AIAgent, view: TurnView) -> None:
    """The chat's first lines: provider and model, the keys to know, and a continued session."""
    provider = agent.provider
    view.status(
        f"stayline · {provider.name} · {provider.model} — /help for commands, Ctrl+C stops a turn, Ctrl+D quits"
    )
    earlier = len(getattr(agent, "history", None) or [])
    if earlier:
        view.status(f"↺ continuing session {getattr(agent, 'session_id', None)} ({earlier} earlier messages)")
