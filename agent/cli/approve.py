"""Asking the user before the agent runs a dangerous command (chat only).

``AIAgent(approve=make_chat_approver())`` makes the terminal tool ask, for every command
``tools.approval`` flags, "Run this command? [y]es / [n]o / [a]lways for this
session" (and the file tools, for writes under ``.git/``). "always" is remembered by
this approver for that tool and that exact command (or path), never for a reason: an
approved ``sudo apt update`` does not approve ``sudo rm -rf /``. Anything but a clear
yes (Ctrl+C, Ctrl+D, an empty answer, no terminal) is a no.

The question is asked with prompt_toolkit while the turn's live display is paused.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from typing import Literal

from agent.cli.render import one_line
from agent.cli.safe_text import clean

Ask = Callable[[str], str]  # shows the question, returns what the user typed
Say = Callable[[str], None]
Pause = Callable[[], contextlib.AbstractContextManager[None]]
Verdict = Literal["yes", "no", "always"]

QUESTION = "Run this command? [y]es / [n]o / [a]lways for this session: "
FILE_QUESTION = "Allow this write? [y]es / [n]o / [a]lways for this session: "
MAX_ASKS = 3
COMMAND_LIMIT = 2_000
_VERDICT_LINES: dict[Verdict, str] = {
    "yes": "✓ approved",
    "always": "✓ approved, and from now on in this session for exactly this",
    "no": "✗ refused: the command was not run",
}
_STYLES = {"⚠": "yellow", "✗": "red", "✓": "dim"}
_ANSWERS: dict[str, Verdict] = {
    "y": "yes",
    "yes": "yes",
    "n": "no",
    "no": "no",
    "": "no",
    "a": "always",
    "always": "always",
}


def parse_answer(answer: str) -> Verdict | None:
    """ "y"/"yes", "n"/"no"/"" (the default), "a"/"always"; None for anything else."""
    return _ANSWERS.get(answer.strip().lower())


def split_action(action: str) -> tuple[str, str]:
    """The terminal tool asks with "REASON: COMMAND"; returns (reason, command)."""
    reason, sep, command = action.partition(": ")
    return (reason, command) if sep else ("needs approval", action)


def describe(tool: str, reason: str, command: str) -> str:
    """The lines shown above the question; control characters cannot hide anything."""
    if len(command) > COMMAND_LIMIT:
        command = command[:COMMAND_LIMIT] + f"… ({len(command) - COMMAND_LIMIT} more characters)"
    lines = [one_line(line, COMMAND_LIMIT + 100) for line in command.split("\n")]
    shown = "\n    ".join(lines)
    return f"⚠ {one_line(tool, 40)} needs your approval ({one_line(reason, 200)}):\n    {shown}"


class ChatApprover:
    """The ``approve(tool, action) -> bool`` callback of a chat."""

    def __init__(self, ask: Ask | None = None, say: Say | None = None, pause: Pause | None = None) -> None:
        self._ask = ask or prompt_answer
        self._say = say or _print
        self._pause = pause or contextlib.nullcontext  # the chat's view, paused while asking
        self._always: set[tuple[str, str]] = set()
        self._lock = threading.Lock()  # one question at a time

    @property
    def always(self) -> frozenset[tuple[str, str]]:
        """The (tool, command or path) pairs answered "always" so far."""
        return frozenset(self._always)

    def forget(self) -> None:
        """Ask again for everything ("always" answers are dropped)."""
        self._always.clear()

    def __call__(self, tool: str, action: str) -> bool:
        reason, command = split_action(action)
        key = (tool, command.strip())
        with self._lock:
            if key in self._always:
                self._say(f"✓ allowed for this session: {one_line(command, 120)}")
                return True
            with self._pause():
                verdict = self._question(tool, reason, command)
            if verdict == "always":
                self._always.add(key)
            self._say(_VERDICT_LINES[verdict])
            return verdict != "no"

    def _question(self, tool: str, reason: str, command: str) -> Verdict:
        self._say(describe(tool, reason, command))
        question = QUESTION if tool == "terminal" else FILE_QUESTION
        for _ in range(MAX_ASKS):
            try:
                answer = self._ask(question)
            except (EOFError, KeyboardInterrupt):
                return "no"
            except Exception as exc:  # no usable terminal: refuse, and say why
                self._say(f"cannot ask ({one_line(str(exc), 120)}); refusing")
                return "no"
            verdict = parse_answer(answer)
            if verdict is not None:
                return verdict
            self._say("Please answer y (yes), n (no) or a (always for this session).")
        return "no"


def make_chat_approver(ask: Ask | None = None, say: Say | None = None, pause: Pause | None = None) -> ChatApprover:
    """The approve callback for ``AIAgent(approve=...)`` in the chat; ``pause`` is the
    chat view's ``suspend``, so the question is not drawn over a running turn."""
    return ChatApprover(ask, say, pause)


def prompt_answer(question: str) -> str:
    """Ask on the terminal with prompt_toolkit (Ctrl+C and Ctrl+D mean no)."""
    from prompt_toolkit import PromptSession

    # A turn is running: its SIGINT handler (Ctrl+C interrupts the turn) must survive
    # the prompt, which runs an asyncio loop that may replace the handler.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        session: PromptSession[str] = PromptSession()
        return session.prompt(question, handle_sigint=False)
    finally:
        if main and previous is not None:
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signal.SIGINT, previous)


def _print(line: str) -> None:
    from rich.console import Console

    style = _STYLES.get(line[:1], "")
    Console(file=sys.stdout, highlight=False).print(clean(line), style=style, markup=False, soft_wrap=True)
