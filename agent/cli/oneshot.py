"""Single-shot mode (``-q``, piped stdin): the answer on stdout, progress on stderr.

stdout carries only the final answer (or the one ``--json`` object), so it can be
piped into another program; everything a person watching wants to see goes to stderr.

Model text cannot drive the user's terminal: progress lines are always cleaned
(``safe_text.clean``), and so is the answer when stdout is a terminal. Piped or
redirected, the answer stays byte-exact: it is data for another program. The JSON
object is valid JSON either way; on a terminal its C1 controls are written as ``\\u``
escapes (the same JSON value).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, TextIO

from agent.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from agent.cli.interrupts import InterruptGuard
from agent.cli.progress import Progress
from agent.cli.render import one_line
from agent.cli.safe_text import clean
from agent.cost import Waste
from agent.errors import StaylineError
from agent.events import ToolCallFinished, ToolCallStarted, TurnFinished, TurnStarted
from agent.usage import Usage

if TYPE_CHECKING:
    from agent.agent import AIAgent
    from agent.result import AgentResult


_NO_RESULT = "the turn ended without a result"
# JSON escapes C0 controls itself; DEL and the C1 range it leaves raw.
_JSON_RAW_CONTROLS = re.compile(r"[\x7f-\x9f]")
_EXIT_BY_STATUS = {"completed": EXIT_OK, "failed": EXIT_FAILED, "interrupted": EXIT_INTERRUPTED}


def exit_code(status: str) -> int:
    return _EXIT_BY_STATUS.get(status, EXIT_FAILED)


def run_single(agent: AIAgent, prompt: str, *, json_mode: bool, out: TextIO, err: TextIO, stream: bool = False) -> int:
    """Run one turn and report it; returns the process exit code. ``stream``: the
    model's text goes to ``out`` as it arrives (not with ``json_mode``)."""
    # The relay thread prints while the main thread may be blocked inside the turn (a
    # running command, which the interrupt stops): the user sees at once that the
    # Ctrl+C was heard and what happens next.
    tool_running = [False]

    def on_interrupt() -> None:
        agent.interrupt()
        hint = ": stopping the running tool" if tool_running[0] else ""
        _say(err, f"■ interrupting{hint}… (Ctrl+C again to quit now)")

    progress = Progress(out, err, stream_answer=stream and not json_mode)
    with InterruptGuard(on_interrupt) as guard:
        try:
            finished = _consume(agent, prompt, progress, guard, tool_running)
            progress.close()
            if json_mode:
                return _report_json(agent, finished, out, err)
            return _report_text(finished, out, err, already_shown=progress.streamed)
        except KeyboardInterrupt:  # the second Ctrl+C: leave now, whatever is running
            progress.close()
            if json_mode:
                _write_json(out, _forced_quit_json(agent))
            _say(err, "stayline: interrupted")
            return EXIT_INTERRUPTED
        except StaylineError as exc:  # e.g. the session could not be saved: say so, no traceback
            progress.close()
            if json_mode:
                _write_json(out, _json_object(agent, "failed", "", str(exc), {}))
            _say(err, f"stayline: error: {exc}")
            return EXIT_FAILED


def _consume(
    agent: AIAgent, prompt: str, progress: Progress, guard: InterruptGuard, tool_running: list[bool]
) -> TurnFinished | None:
    """Run the turn, showing its progress; returns its ``TurnFinished``."""
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
        progress.event(event)
    return finished


def _report_text(finished: TurnFinished | None, out: TextIO, err: TextIO, *, already_shown: bool = False) -> int:
    if finished is None:  # run_turn always ends with TurnFinished; guard against a broken stream
        _say(err, f"stayline: error: {_NO_RESULT}")
        return EXIT_FAILED
    # A failed or interrupted turn may still have produced text: print it rather than
    # lose it; the exit code tells a script whether it is a complete answer.
    if finished.final_text and not already_shown:  # --stream wrote it as it came
        _write_answer(out, finished.final_text)
    _say_outcome(err, finished.status, finished.error)
    return exit_code(finished.status)


def _report_json(agent: AIAgent, finished: TurnFinished | None, out: TextIO, err: TextIO) -> int:
    # stream() sets last_result just before it yields TurnFinished; usage and api_calls
    # live only there. The contract is one JSON object on stdout whatever happened, so
    # a turn that ended without a result still gets one.
    result: AgentResult | None = getattr(agent, "last_result", None) if finished is not None else None
    if result is not None:
        value = result.to_json()
    elif finished is not None:  # an agent that reports no AgentResult (a duck-typed one)
        value = _json_object(agent, finished.status, finished.final_text, finished.error, finished.counts)
    else:
        value = _json_object(agent, "failed", "", _NO_RESULT, {})
    _write_json(out, value)
    _say_outcome(err, value["status"], value["error"])
    return exit_code(value["status"])


def _say_outcome(err: TextIO, status: str, error: str | None) -> None:
    if status == "failed":
        # One line, whatever a server's error looked like; not cut: the advice is at the end.
        _say(err, f"stayline: error: {one_line(error or 'the turn failed', 10_000)}")
    elif status == "interrupted":
        _say(err, f"stayline: {one_line(error or 'interrupted by the user')}")


def _json_object(
    agent: AIAgent, status: str, final_text: str, error: str | None, counts: dict[str, int]
) -> dict[str, Any]:
    """A --json object with the keys of ``AgentResult.to_json`` when there is no result."""
    return {
        "status": status,
        "final_text": final_text,
        "api_calls": 0,
        "usage": Usage().to_dict(),
        "error": error,
        "session_id": getattr(agent, "session_id", None),
        "events": dict(counts),
        "context": dict(getattr(agent, "context_usage", None) or {}),
        "cost_usd": None,
        "cache_hit_share": None,
        "waste": Waste().to_dict(0.0),
        "truncated": False,
    }


def _forced_quit_json(agent: AIAgent) -> dict[str, Any]:
    """The --json object when the user quit before the turn could report: the contract
    is one JSON object on stdout, so a consumer never has to handle an empty output."""
    error = "interrupted by the user before the turn could finish (second Ctrl+C)"
    return _json_object(agent, "interrupted", "", error, {})


def _write_json(out: TextIO, value: dict[str, Any]) -> None:
    text = json.dumps(value, ensure_ascii=False)
    if _is_terminal(out):
        text = _JSON_RAW_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    out.write(text + "\n")
    out.flush()


def _write_answer(out: TextIO, text: str) -> None:
    if _is_terminal(out):
        text = clean(text)
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()


def _say(err: TextIO, line: str) -> None:
    err.write(clean(line) + "\n")
    err.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False
