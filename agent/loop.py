"""The turn loop: model call -> tool calls -> tool results -> model, until an answer.

It never asks which provider it has. Failures the model should hear (tool errors)
become tool results; failures the user should hear end the turn with a typed outcome
and an actionable message. The history stays valid on every wire: a tool call always
gets its result, and a cut tool call is never executed nor kept.

Persist before you act: each message is saved as it is appended; the tool round
(``tool_round.py``) saves each result the moment it exists.

The context keeper (``agent/context``) fits each request into the model's window first
(trimming, compaction), and recovers a request refused as too long before the fallback
chain is asked; its summary requests go through this same call path.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace

from agent.call import model_call
from agent.context.keeper import CallFn, Recover
from agent.continuation import RUNTIME_NOTE
from agent.cost import discarded_reply_waste
from agent.events import (
    AgentEvent,
    Compacted,
    ContextTrimmed,
    Notice,
    StallGuidance,
    TurnFinished,
    TurnStarted,
)
from agent.messages import Message, Part, TextPart, ToolCallPart, user_message, with_unique_call_ids
from agent.providers.base import ModelRequest, Provider, ToolSpec
from agent.recovery.messages import call_failure_message, cut_tool_call_message
from agent.recovery.outcome import CallResult
from agent.recovery.repeats import repeat_stop
from agent.tool_round import run_tools
from agent.turn_state import TurnState


def run_turn(state: TurnState, text: str) -> Iterator[AgentEvent]:
    """Run one user turn; every event is counted by kind for the result."""
    return _counted(state, _turn(state, text))


def run_compaction(state: TurnState, focus: str | None) -> Iterator[AgentEvent]:
    """``/compact``: summarise the older history now, as a turn of its own."""
    return _counted(state, _compaction(state, focus))


def _counted(state: TurnState, events: Iterator[AgentEvent]) -> Iterator[AgentEvent]:
    observer = state.call_context.observer
    for event in events:
        state.counts[event.kind] = state.counts.get(event.kind, 0) + 1
        if state.context is not None:
            state.context.observe(event)  # the provider's reports: the true size of each request
        if isinstance(event, ContextTrimmed | Compacted) and observer is not None:
            record = getattr(observer, "context_event", None)  # optional: observers predating it
            if callable(record):
                record(event)
        if isinstance(event, TurnFinished):
            event = TurnFinished(event.status, event.final_text, event.error, dict(state.counts))
        yield event


@dataclass(slots=True)
class _Progress:
    """What one turn carries from iteration to iteration."""

    final_text: str = ""
    max_tokens: int | None = None  # raised once when a tool call hit the output limit


def _turn(state: TurnState, text: str) -> Generator[AgentEvent, None, None]:
    yield from _begin(state, text)
    specs = [ToolSpec(t.name, t.description, t.schema) for t in state.tools]
    progress = _Progress(max_tokens=state.max_tokens)
    for iteration in range(1, state.max_iterations + 1):
        finished = yield from _iteration(state, specs, iteration, progress)
        if finished is not None:
            yield finished
            return
    cap = (
        f"stopped after {state.max_iterations} model calls in one turn (the iteration cap); "
        "the work so far is kept. Say 'continue' to go on, or raise --max-iterations."
    )
    yield TurnFinished("failed", progress.final_text, cap)


def _begin(state: TurnState, text: str) -> Generator[AgentEvent, None, None]:
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


def _iteration(
    state: TurnState, specs: list[ToolSpec], iteration: int, progress: _Progress
) -> Generator[AgentEvent, None, TurnFinished | None]:
    """One model call and what follows from it; a TurnFinished ends the turn."""
    request = yield from _fitted(state, _request(state, specs, progress.max_tokens), iteration)
    if isinstance(request, TurnFinished):
        return TurnFinished(request.status, progress.final_text, request.error)
    result = yield from _call_with_fallbacks(state, request, iteration, _recovery(state, request, iteration))
    if (yield from _cut_calls_go_again(state, result, request, progress)):
        return None
    if result.status != "ok":
        return _finish_unanswered(state, result)
    if result.stop_reason in ("refusal", "content_filter"):
        return _finish_refused(state, result)
    return (yield from _take_reply(state, result, progress))


def _cut_calls_go_again(
    state: TurnState, result: CallResult, request: ModelRequest, progress: _Progress
) -> Generator[AgentEvent, None, bool]:
    """A tool call that keeps getting cut: guidance for the model, or one more try at the
    model's real output limit. True: go round again."""
    if result.status == "needs_guidance" and result.guidance:
        yield from _guide(state, result.guidance, result)
        return True
    ledger = state.call_context.ledger
    if result.status != "cut_tool_call" or ledger is None or result.cut_call is None:
        return False
    verdict = ledger.record_cut(result.cut_call, "output_limit")
    if verdict.action == "guide":
        _count_dropped_reply(state, result, asked_again=False)
        yield from _guide(state, verdict.text, result)
        return True
    if verdict.action == "retry":
        _count_dropped_reply(state, result, asked_again=True)
        progress.max_tokens = _raised_output_limit(state.chain.current, request)
        yield Notice(_limit_notice(result, progress.max_tokens), "warning")
        return True
    result.error_message = verdict.text
    return False


def _take_reply(
    state: TurnState, result: CallResult, progress: _Progress
) -> Generator[AgentEvent, None, TurnFinished | None]:
    """Keep the reply; answer the turn, or run its tool calls and go on."""
    message = with_unique_call_ids(state.history, result.message)
    state.append(message)
    progress.final_text = message.text
    calls = message.tool_calls
    state.truncated = result.truncated
    if result.truncated:
        yield Notice(_truncated_notice(result), "warning")
    if not calls:
        return TurnFinished("completed", progress.final_text)
    outcome = yield from run_tools(state, calls)
    if outcome == "interrupted":
        return TurnFinished("interrupted", progress.final_text, "interrupted by the user while tools were running")
    if outcome == "repeating":
        return TurnFinished("failed", progress.final_text, repeat_stop(calls[-1].name, state.repeats.limit + 2))
    return None


def _guide(state: TurnState, guidance: str, result: CallResult | None) -> Generator[AgentEvent, None, None]:
    """Tell the model how to split a call that keeps getting cut, keeping any text it
    had already shown; it carries on by itself from there."""
    if result is not None and result.parts:
        state.append(result.message)
    state.append(user_message(f"{RUNTIME_NOTE} {guidance}"))
    cut = result.cut_call if result is not None else None
    yield StallGuidance(cut.name if cut else "", cut.target if cut else None, guidance)


def _count_dropped_reply(state: TurnState, result: CallResult, *, asked_again: bool) -> None:
    """A reply cut inside a tool call: the cut call is thrown away, and all of the reply
    when it is asked again as it was."""
    cut = result.cut_call.chars_received if result.cut_call is not None else 0
    waste = discarded_reply_waste(result.usage, result.parts, cut, asked_again=asked_again)
    state.spend = state.spend.add_waste(waste, state.chain.current.prices, state.chain.current.model)


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


def _request(state: TurnState, specs: list[ToolSpec], max_tokens: int | None) -> ModelRequest:
    return ModelRequest(
        model=state.chain.current.model,
        system=state.system_prompt,
        messages=list(state.history),
        tools=specs,
        max_tokens=max_tokens,
        stream=state.stream,
        cache_key=state.cache_key,
    )


def _caller(state: TurnState, iteration: int) -> CallFn:
    """The call path for the context keeper's own requests (the summary)."""
    return lambda request, recover: _call_with_fallbacks(state, request, iteration, recover)


def _fitted(
    state: TurnState, request: ModelRequest, iteration: int
) -> Generator[AgentEvent, None, ModelRequest | TurnFinished]:
    """The request fitted into the model's window (the history may be trimmed or
    compacted first), or the end of the turn when it cannot be made to fit."""
    keeper = state.context
    if keeper is None:
        return request
    prepared = yield from keeper.prepare(state.history, request, state.chain.current, _caller(state, iteration))
    if prepared.outcome == "too_long" and state.chain.has_fallbacks:
        return replace(request, messages=list(state.history))  # refused, it goes to a larger window
    if prepared.outcome != "ready":
        return TurnFinished("interrupted" if prepared.outcome == "interrupted" else "failed", "", prepared.error)
    return replace(
        request, messages=list(state.history), max_tokens=prepared.max_tokens, cache_anchors=prepared.cache_anchors
    )


def _recovery(state: TurnState, request: ModelRequest, iteration: int) -> Recover | None:
    """What to do when the request is refused as too long: make room, retry once."""
    if state.context is None:
        return None
    chain = state.chain
    return state.context.overflow_recovery(state.history, request, lambda: chain.current, _caller(state, iteration))


def _too_long(result: CallResult) -> bool:
    return result.decision is not None and result.decision.failure == "context_length"


def _call_with_fallbacks(
    state: TurnState, request: ModelRequest, iteration: int, recover: Recover | None = None
) -> Generator[AgentEvent, None, CallResult]:
    """One model call; when its provider cannot deliver, the next in the chain takes
    over where it stopped (text already shown is continued, not repeated). A request
    refused as too long goes to ``recover`` first, which may return a smaller one."""
    chain = state.chain
    kept: list[Part] = []
    while True:
        result = yield from model_call(
            chain.current, request, state.call_context, chain.health, iteration, kept, chain.can_fall_back
        )
        state.api_calls += result.attempts
        state.usage = state.usage + result.usage
        state.spend = state.spend.add_call(result.usage, result.waste, chain.current.prices, chain.current.model)
        if result.status != "failed":
            return result
        if recover is not None and _too_long(result):
            smaller = yield from recover(result, request)
            if smaller is not None:
                request, kept = smaller, []
                continue
        outcome = yield from chain.fall_back(result)
        if outcome != "switched":
            if outcome == "exhausted" and not (_too_long(result) and result.error_message):
                result.error_message = chain.exhausted_message()
            return result
        kept = [p for p in result.parts if isinstance(p, TextPart)]


def _compaction(state: TurnState, focus: str | None) -> Generator[AgentEvent, None, None]:
    yield from state.chain.start_turn()
    keeper = state.context
    if keeper is None or not keeper.settings.enabled:
        yield TurnFinished("failed", "", "compaction is turned off for this agent (compaction settings)")
        return
    specs = [ToolSpec(t.name, t.description, t.schema) for t in state.tools]
    request = _request(state, specs, state.max_tokens)
    prepared = yield from keeper.compact(state.history, request, state.chain.current, _caller(state, 1), focus)
    if prepared.outcome != "ready":
        yield TurnFinished("interrupted" if prepared.outcome == "interrupted" else "failed", "", prepared.error)
        return
    if prepared.error:  # nothing to do: said as a notice, not as a failure
        yield Notice(prepared.error)
    yield TurnFinished("completed", "")


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
        return (
            "the reply filled the model's context window and was not continued (it would overflow again); "
            "the text so far is kept. Start a new conversation with /new, or give the server a larger context."
        )
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
