"""One round of tool calls, run so that nothing is lost and nothing runs twice.

Persist before you act: a call about to run is announced to ``on_tool_start`` first
(a crash during it reads as "outcome unknown" on resume), and each result is saved the
moment it exists, as its own message. Every call of the round gets a result, whatever
happens: an interrupt, a store that refuses a write, a model repeating itself.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import replace
from typing import Literal

from agent.errors import SessionWriteError
from agent.events import AgentEvent, Notice, ToolCallFinished, ToolCallStarted
from agent.messages import Message, ToolCallPart, ToolResultPart
from agent.recovery.repeats import repeat_note
from agent.turn_state import TurnState
from tools.base import ToolContext, target_of

RoundOutcome = Literal["done", "interrupted", "repeating"]
NOT_RUN_INTERRUPTED = "not executed: the user interrupted the turn"
NOT_RUN_UNSAVED = "not executed: the session could not be saved, so the turn stopped before this call"
NOT_RUN_STOPPED = "not executed: the turn was stopped because the model kept repeating the same call"


def run_tools(state: TurnState, calls: list[ToolCallPart]) -> Generator[AgentEvent, None, RoundOutcome]:
    """Run the calls in order. On interrupt the rest get a 'not executed' result; a call
    repeated past the limit is answered with a note, and once more ends the round."""
    # The turn's interrupt reaches the tools too, so a long command stops on Ctrl+C.
    context = replace(state.tool_context, cancel=state.interrupt)
    for index, call in enumerate(calls):
        if state.interrupt.is_set():
            _answer_rest(state, calls[index:], NOT_RUN_INTERRUPTED)
            yield Notice("interrupted: the remaining tool calls were not executed", "warning")
            return "interrupted"
        verdict, times = state.repeats.check(call.name, call.arguments)
        if verdict == "stop":
            _answer_rest(state, calls[index:], NOT_RUN_STOPPED)
            return "repeating"
        target = target_of(call.arguments)
        yield ToolCallStarted(call.call_id, call.name, target)
        started = time.monotonic()
        result, summary = _run_one(state, calls, index, context, verdict, times)
        _save_results(state, [result], calls[index + 1 :])
        ledger = state.call_context.ledger
        if ledger is not None and not result.is_error:
            ledger.record_success(call.name, target)
        yield ToolCallFinished(call.call_id, call.name, target, result.is_error, summary, time.monotonic() - started)
    if state.interrupt.is_set():  # no new request after a late Ctrl+C
        yield Notice("interrupted: the remaining tool calls were not executed", "warning")
        return "interrupted"
    return "done"


def _run_one(
    state: TurnState, calls: list[ToolCallPart], index: int, context: ToolContext, verdict: str, times: int
) -> tuple[ToolResultPart, str]:
    call = calls[index]
    if verdict == "note":
        return ToolResultPart(call.call_id, repeat_note(call.name, times - 1), True), "repeated call, not executed"
    try:
        result, summary = _execute(state, call, context)
    except SessionWriteError:  # the mark before running could not be saved: nothing ran
        state.history.extend(Message("tool", [ToolResultPart(c.call_id, NOT_RUN_UNSAVED, True)]) for c in calls[index:])
        raise
    tool = state.tools.get(call.name)
    state.repeats.ran(call.name, call.arguments, side_effects=tool is not None and tool.side_effects)
    return result, summary


def _answer_rest(state: TurnState, calls: list[ToolCallPart], text: str) -> None:
    _save_results(state, [ToolResultPart(c.call_id, text, True) for c in calls], calls)


def _execute(state: TurnState, call: ToolCallPart, context: ToolContext) -> tuple[ToolResultPart, str]:
    if call.arguments_error is not None:
        text = f"tool call not executed: {call.arguments_error}. Send the call again with valid JSON arguments."
        return ToolResultPart(call.call_id, text, True), "invalid JSON arguments"
    state.on_tool_start(call.call_id)  # saved before it runs: a crash now means "outcome unknown"
    outcome = state.tools.execute(call.name, call.arguments, context)
    return ToolResultPart(call.call_id, outcome.content, outcome.is_error), outcome.summary


def _save_results(state: TurnState, results: list[ToolResultPart], not_run: list[ToolCallPart]) -> None:
    """Append tool results, each as its own message so each is saved as it exists. When
    the store fails, the calls still waiting get a result in memory (never a call
    without its result) and the error goes to the caller."""
    for result in results:
        try:
            state.append(Message("tool", [result]))
        except SessionWriteError:
            state.history.append(Message("tool", [result]))  # it happened: memory keeps it
            unanswered = [ToolResultPart(c.call_id, NOT_RUN_UNSAVED, True) for c in not_run]
            state.history.extend(Message("tool", [r]) for r in unanswered)
            raise
