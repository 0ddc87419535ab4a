"""The turn loop: model call -> tool calls -> tool results -> model, until an answer.

It never asks which provider it has. Failures the model should hear (tool errors)
become tool results; failures the user should hear end the turn with a typed outcome
and an actionable message. The history stays valid on every wire: a tool call always
gets its result, and a cut tool call is never executed nor kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace

from agent.call import CallContext, CallResult, model_call
from agent.events import (
    AgentEvent,
    Notice,
    StallGuidance,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
    TurnStarted,
)
from agent.messages import Message, Part, TextPart, ToolCallPart, ToolResultPart, user_message
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
    on_message: Callable[[Message], None] = lambda message: None
    session_id: str | None = None
    usage: Usage = field(default_factory=Usage)
    api_calls: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def interrupt(self) -> threading.Event:
        return self.call_context.interrupt

    def append(self, message: Message) -> None:
        self.history.append(message)
        self.on_message(message)


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
        message = result.message
        state.append(message)
        final_text = message.text
        calls = message.tool_calls
        if not calls:
            yield _finish_answer(result, final_text)
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
    state.append(user_message(f"[stayline: a note from the agent runtime, not from the user] {guidance}"))
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


def _finish_answer(result: CallResult, text: str) -> TurnFinished:
    if result.stop_reason in ("content_filter", "refusal") and not text.strip():
        reason = "refused to answer" if result.stop_reason == "refusal" else "stopped by the content filter"
        return TurnFinished("failed", text, f"the model {reason}; nothing was executed. Rephrase the request.")
    return TurnFinished("completed", text)


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
    """Run the calls in order; on interrupt the rest get a 'not executed' result."""
    results: list[ToolResultPart] = []
    interrupted = False
    # The turn's interrupt reaches the tools too, so a long command stops on Ctrl+C.
    context = replace(state.tool_context, cancel=state.interrupt)
    for call in calls:
        if interrupted or state.interrupt.is_set():
            interrupted = True
            results.append(ToolResultPart(call.call_id, "not executed: the user interrupted the turn", True))
            continue
        target = target_of(call.arguments)
        yield ToolCallStarted(call.call_id, call.name, target)
        started = time.monotonic()
        if call.arguments_error is not None:
            content, is_error, summary = (
                f"tool call not executed: {call.arguments_error}. Send the call again with valid JSON arguments.",
                True,
                "invalid JSON arguments",
            )
        else:
            outcome = state.tools.execute(call.name, call.arguments, context)
            content, is_error, summary = outcome.content, outcome.is_error, outcome.summary
        results.append(ToolResultPart(call.call_id, content, is_error))
        ledger = state.call_context.ledger
        if ledger is not None and not is_error:
            ledger.record_success(call.name, target)
        yield ToolCallFinished(call.call_id, call.name, target, is_error, summary, time.monotonic() - started)
    state.append(Message("tool", list(results)))
    interrupted = interrupted or state.interrupt.is_set()  # no new request after a late Ctrl+C
    if interrupted:
        yield Notice("interrupted: the remaining tool calls were not executed", "warning")
    return interrupted
