"""The turn loop: model call -> tool calls -> tool results -> model, until an answer.

It never asks which provider it has. Failures the model should hear (tool errors)
become tool results; failures the user should hear end the turn with a typed outcome
and an actionable message. The history stays valid on every wire: a tool call always
gets its result, and a cut tool call is never executed nor kept.

Persist before you act: each message is saved as it is appended, and each tool result
the moment it exists; a call about to run is announced to ``on_tool_start`` first, so a
crash mid-call is known on resume as "outcome unknown", never as "not executed".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace

from agent.call import CallContext, CallResult, model_call
from agent.continuation import RUNTIME_NOTE
from agent.errors import SessionWriteError
from agent.events import (
    AgentEvent,
    Notice,
    StallGuidance,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
    TurnStarted,
)
from agent.messages import Message, Part, TextPart, ToolCallPart, ToolResultPart, user_message, with_unique_call_ids
from agent.providers.base import ModelRequest, Provider, ToolSpec
from agent.recovery.fallback import ProviderChain
from agent.recovery.messages import call_failure_message, cut_tool_call_message
from agent.usage import Usage
from tools.base import ToolContext, ToolRegistry, target_of


@dataclass(slots=True)
class TurnState:
    """Everything one turn reads and changes, passed explicitly."""

    chain: ProviderChain
    history: list[Message]
    tools: ToolRegistry
    tool_context: ToolContext
    system_prompt: str
    call_context: CallContext
    max_iterations: int
    max_tokens: int | None
    stream: bool = True
    on_message: Callable[[Message], None] = lambda message: None  # saves it; raises SessionWriteError
    on_tool_start: Callable[[str], None] = lambda call_id: None  # a call is about to run
    session_id: str | None = None
    usage: Usage = field(default_factory=Usage)
    api_calls: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def interrupt(self) -> threading.Event:
        return self.call_context.interrupt

    def append(self, message: Message) -> None:
        """Save, then keep: a message the store refused is not in memory either."""
        self.on_message(message)
        self.history.append(message)


def run_turn(state: TurnState, text: str) -> Iterator[AgentEvent]:
    """Run one user turn; every event is counted by kind for the result."""
    for event in _turn(state, text):
        state.counts[event.kind] = state.counts.get(event.kind, 0) + 1
        if isinstance(event, TurnFinished):
            event = TurnFinished(event.status, event.final_text, event.error, dict(state.counts))
        yield event


def _turn(state: TurnState, text: str) -> Generator[AgentEvent, None, None]:
    chain = state.chain
    yield from chain.start_turn()
    state.append(user_message(text))
    yield TurnStarted(state.session_id, chain.current.name, chain.current.model)
    ledger = state.call_context.ledger
    if ledger is not None:
        ledger.start_turn()
        pending = ledger.pending_guidance()
        if pending:  # "continue" after a failed turn must not restart the doomed loop
            yield from _guide(state, pending, None)
    specs = [ToolSpec(t.name, t.description, t.schema) for t in state.tools]
    final_text = ""
    max_tokens = state.max_tokens
    iteration = 0
    while iteration < state.max_iterations:
        iteration += 1
        request = ModelRequest(
            model=chain.current.model,
            system=state.system_prompt,
            messages=list(state.history),
            tools=specs,
            max_tokens=max_tokens,
            stream=state.stream,
        )
        result = yield from _call_with_fallbacks(state, request, iteration)
        if result.status == "needs_guidance" and result.guidance:
            yield from _guide(state, result.guidance, result)
            continue
        if result.status == "cut_tool_call" and ledger is not None and result.cut_call is not None:
            verdict = ledger.record_cut(result.cut_call, "output_limit")
            if verdict.action == "guide":
                yield from _guide(state, verdict.text, result)
                continue
            if verdict.action == "retry":
                max_tokens = _raised_output_limit(chain.current, request)
                yield Notice(_limit_notice(result, max_tokens), "warning")
                continue
            result.error_message = verdict.text
        if result.status != "ok":
            yield _finish_unanswered(state, result)
            return
        if result.stop_reason in ("refusal", "content_filter"):
            yield _finish_refused(state, result)
            return
        message = with_unique_call_ids(state.history, result.message)
        state.append(message)
        final_text = message.text
        calls = message.tool_calls
        if result.truncated:
            yield Notice(_truncated_notice(result), "warning")
        if not calls:
            yield TurnFinished("completed", final_text)
            return
        interrupted = yield from _run_tools(state, calls)
        if interrupted:
            yield TurnFinished("interrupted", final_text, "interrupted by the user while tools were running")
            return
    cap = (
        f"stopped after {state.max_iterations} model calls in one turn (the iteration cap); "
        "the work so far is kept. Say 'continue' to go on, or raise --max-iterations."
    )
    yield TurnFinished("failed", final_text, cap)


def _guide(state: TurnState, guidance: str, result: CallResult | None) -> Generator[AgentEvent, None, None]:
    """Tell the model how to split a call that keeps getting cut, keeping any text it
    had already shown; it carries on by itself from there."""
    if result is not None and result.parts:
        state.append(result.message)
    state.append(user_message(f"{RUNTIME_NOTE} {guidance}"))
    cut = result.cut_call if result is not None else None
    yield StallGuidance(cut.name if cut else "", cut.target if cut else None, guidance)


def _raised_output_limit(provider: Provider, request: ModelRequest) -> int | None:
    """One retry at the model's real output limit when the cut came below it."""
    current = provider.output_limit(request)
    ceiling = provider.max_output_tokens
    return ceiling if current is None or current < ceiling else current


def _limit_notice(result: CallResult, max_tokens: int | None) -> str:
    cut = result.cut_call
    name = cut.name if cut and cut.name else "a tool"
    limit = f" with max_tokens {max_tokens:,}" if max_tokens else ""
    return f"the reply hit its output limit inside {name} call; not executed, asking again{limit}"


def _call_with_fallbacks(
    state: TurnState, request: ModelRequest, iteration: int
) -> Generator[AgentEvent, None, CallResult]:
    """One model call; when its provider cannot deliver, the next in the chain takes
    over where it stopped (text already shown is continued, not repeated)."""
    chain = state.chain
    kept: list[Part] = []
    while True:
        result = yield from model_call(chain.current, request, state.call_context, chain.health, iteration, kept)
        state.api_calls += result.attempts
        state.usage = state.usage + result.usage
        if result.status != "failed":
            return result
        outcome = yield from chain.fall_back(result)
        if outcome != "switched":
            if outcome == "exhausted":
                result.error_message = chain.exhausted_message()
            return result
        kept = [p for p in result.parts if isinstance(p, TextPart)]


def _finish_refused(state: TurnState, result: CallResult) -> TurnFinished:
    """A refusal is a refusal, whatever text came before it: its tool calls never run."""
    parts: list[Part] = [p for p in result.parts if not isinstance(p, ToolCallPart)]
    if parts:
        state.append(Message("assistant", parts))
    what = "refused to answer" if result.stop_reason == "refusal" else "was stopped by the content filter"
    why = f" ({result.stop_detail})" if result.stop_detail else ""
    todo = "Rephrase the request, or try another model with /model or --fallback."
    return TurnFinished("failed", result.text, f"the model {what}{why}; nothing was executed. {todo}")


def _truncated_notice(result: CallResult) -> str:
    if result.stop_reason == "context_full":
        return "the reply filled the model's context window and was not continued; the text so far is kept"
    return (
        "the reply was still cut by the output limit after every continuation; the text so far is kept. "
        "Say 'continue' for more, or raise --max-tokens."
    )


def _finish_unanswered(state: TurnState, result: CallResult) -> TurnFinished:
    """End a turn whose model call did not produce a usable reply; keep its text."""
    if result.parts:
        state.append(result.message)
    text = result.text
    if result.status == "interrupted":
        return TurnFinished("interrupted", text, "interrupted by the user")
    if result.error_message:
        return TurnFinished("failed", text, result.error_message)
    if result.status == "cut_tool_call":
        return TurnFinished("failed", text, cut_tool_call_message(result, state.max_tokens))
    return TurnFinished("failed", text, call_failure_message(result, state.chain.current, result.stale_after))


def _run_tools(state: TurnState, calls: list[ToolCallPart]) -> Generator[AgentEvent, None, bool]:
    """Run the calls in order, saving each result the moment it exists; on interrupt the
    rest get a 'not executed' result. Returns whether the user interrupted."""
    # The turn's interrupt reaches the tools too, so a long command stops on Ctrl+C.
    context = replace(state.tool_context, cancel=state.interrupt)
    for index, call in enumerate(calls):
        if state.interrupt.is_set():
            rest = [ToolResultPart(c.call_id, NOT_RUN_INTERRUPTED, True) for c in calls[index:]]
            _save_results(state, rest, calls[index:])
            yield Notice("interrupted: the remaining tool calls were not executed", "warning")
            return True
        target = target_of(call.arguments)
        yield ToolCallStarted(call.call_id, call.name, target)
        started = time.monotonic()
        try:
            result, summary = _execute(state, call, context)
        except SessionWriteError:  # the mark before running could not be saved: nothing ran
            state.history.extend(
                Message("tool", [ToolResultPart(c.call_id, NOT_RUN_UNSAVED, True)]) for c in calls[index:]
            )
            raise
        _save_results(state, [result], calls[index + 1 :])
        ledger = state.call_context.ledger
        if ledger is not None and not result.is_error:
            ledger.record_success(call.name, target)
        yield ToolCallFinished(call.call_id, call.name, target, result.is_error, summary, time.monotonic() - started)
    if state.interrupt.is_set():  # no new request after a late Ctrl+C
        yield Notice("interrupted: the remaining tool calls were not executed", "warning")
        return True
    return False


NOT_RUN_INTERRUPTED = "not executed: the user interrupted the turn"
NOT_RUN_UNSAVED = "not executed: the session could not be saved, so the turn stopped before this call"


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
