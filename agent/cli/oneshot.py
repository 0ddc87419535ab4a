"""Single-shot mode (``-q``, piped stdin): the answer on stdout, progress on stderr.

stdout carries only the final answer (or the one ``--json`` object), so it can be
piped into another program; everything a person watching wants to see goes to stderr.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from agent.cli.interrupts import InterruptGuard
from agent.cli.render import one_line, status_line
from agent.events import ToolCallFinished, ToolCallStarted, TurnFinished, TurnStarted

if TYPE_CHECKING:
    from agent.agent import AIAgent

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl+C

_EXIT_BY_STATUS = {"completed": EXIT_OK, "failed": EXIT_FAILED, "interrupted": EXIT_INTERRUPTED}


def exit_code(status: str) -> int:
    return _EXIT_BY_STATUS.get(status, EXIT_FAILED)


def run_single(agent: AIAgent, prompt: str, *, json_mode: bool, out: TextIO, err: TextIO) -> int:
    """Run one turn and report it; returns the process exit code."""
    # The relay thread prints while the main thread may be blocked inside the turn (a
    # long tool call, which is not cut short): the user sees at once that the Ctrl+C
    # was heard and why the turn has not ended yet.
    tool_running = [False]

    def on_interrupt() -> None:
        agent.interrupt()
        hint = " after the running tool finishes" if tool_running[0] else ""
        _say(err, f"■ interrupting{hint}… (Ctrl+C again to quit now)")

    with InterruptGuard(on_interrupt) as guard:
        try:
            if json_mode:
                return _run_json(agent, prompt, out, err)
            return _run_text(agent, prompt, out, err, guard, tool_running)
        except KeyboardInterrupt:  # the second Ctrl+C: leave now, whatever is running
            if json_mode:
                _write_json(out, _forced_quit_json(agent))
            _say(err, "stayline: interrupted")
            return EXIT_INTERRUPTED


def _run_text(
    agent: AIAgent, prompt: str, out: TextIO, err: TextIO, guard: InterruptGuard, tool_running: list[bool]
) -> int:
    finished: TurnFinished | None = None
    for event in agent.stream(prompt):
        if isinstance(event, TurnStarted) and guard.pressed:
            # stream() clears the interrupt flag when the turn starts; a Ctrl+C that
            # came before that must not be lost.
            agent.interrupt()
        if isinstance(event, ToolCallStarted):
            tool_running[0] = True
        elif isinstance(event, ToolCallFinished):
            tool_running[0] = False
        if isinstance(event, TurnFinished):
            finished = event
            continue
        line = status_line(event)
        if line is not None:
            _say(err, line)
    if finished is None:  # run_turn always ends with TurnFinished; guard against a broken stream
        _say(err, "stayline: error: the turn ended without a result")
        return EXIT_FAILED
    # A failed or interrupted turn may still have produced text: print it rather than
    # lose it; the exit code tells a script whether it is a complete answer.
    if finished.final_text:
        _write_answer(out, finished.final_text)
    if finished.status == "failed":
        _say(err, f"stayline: error: {finished.error or 'the turn failed'}")
    elif finished.status == "interrupted":
        _say(err, f"stayline: {one_line(finished.error or 'interrupted by the user')}")
    return exit_code(finished.status)


def _run_json(agent: AIAgent, prompt: str, out: TextIO, err: TextIO) -> int:
    # run() rather than stream(): usage and api_calls live only in AgentResult, so the
    # --json object comes from there (no progress lines on stderr in this mode yet).
    result = agent.run(prompt)
    _write_json(out, result.to_json())
    if result.status == "failed":
        _say(err, f"stayline: error: {result.error or 'the turn failed'}")
    return exit_code(result.status)


def _forced_quit_json(agent: AIAgent) -> dict[str, Any]:
    """The --json object when the user quit before the turn could report: the contract
    is one JSON object on stdout, so a consumer never has to handle an empty output."""
    return {
        "status": "interrupted",
        "final_text": "",
        "api_calls": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "error": "interrupted by the user before the turn could finish (second Ctrl+C)",
        "session_id": getattr(agent, "session_id", None),
        "events": {},
    }


def _write_json(out: TextIO, value: dict[str, Any]) -> None:
    out.write(json.dumps(value, ensure_ascii=False) + "\n")
    out.flush()


def _write_answer(out: TextIO, text: str) -> None:
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()


def _say(err: TextIO, line: str) -> None:
    err.write(line + "\n")
    err.flush()
