"""One model call: attempts, retries and continuations until a whole reply or a failure.

A call is a small loop over one explicit ``CallState``: send an attempt, then either
take the reply (and continue it if it was cut by the output limit or paused) or handle
the failure (retry on a fresh connection, guide a tool call that keeps getting cut, or
give up with the facts). Retries follow the one policy in ``recovery/policy.py``.

Visible text is never shown twice: after a cut, the text already shown is kept and the
model is asked to continue it (``continuation.py``: as a prefill where the model takes
one, else with a runtime note), and the new reply is joined at an exact seam.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any

from agent.continuation import continuation_request
from agent.cost import Waste, recovery_waste
from agent.events import AgentEvent, Continuing, ModelCallFinished, ModelCallStarted, Notice, Retrying, RetryWaiting
from agent.messages import Part, TextPart, ThinkingPart, ToolCallPart
from agent.pricing import cost_of
from agent.providers.base import ErrorFacts, ModelRequest, Provider
from agent.providers.estimate import estimate_request_tokens
from agent.recovery.messages import STREAMING_KEPT_OFF, UNSTREAMED_RETRY
from agent.recovery.outcome import CallResult, CallStatus, ProviderHealth
from agent.recovery.policy import (
    BACKOFF_BASE,
    DEFAULT_OVERLOAD_BUDGET,
    RetryBudget,
    RetryDecision,
    classify,
    decide,
    unstreamed_retry,
)
from agent.recovery.stalls import StallLedger
from agent.streaming.accumulator import ResponseSnapshot
from agent.streaming.attempt import AttemptResult, StreamObserver, reset_event, run_attempt
from agent.streaming.watchdog import Clock, StallLimits, default_stall_limits
from agent.streaming.worker import StreamWorker
from agent.usage import Usage

EMPTY_REPLY = (
    "the model sent an empty reply (no text and no tool call) twice. The conversation is kept; "
    "say 'continue' to ask again, or try another model with /model or --fallback."
)


@dataclass(slots=True)
class CallSettings:
    stale_timeout: float | None  # both stall limits; None: decided per call from the endpoint
    max_attempts: int  # for transient failures (and overloads when the time budget is 0)
    max_continuations: int
    clock: Clock
    first_token_timeout: float | None = None  # the first-token limit alone
    retry_budget: float = DEFAULT_OVERLOAD_BUDGET  # seconds of waiting out a busy provider
    escalate_early: bool = True  # with a fallback, leave a broken provider at its 2nd stall/overload

    def stall_limits(self, provider: Provider, request: ModelRequest) -> StallLimits:
        """An explicit setting wins over every default: the provider's own (a fallback may
        have its own), else the agent's; what neither sets comes from the endpoint, the
        model and the prompt size."""
        defaults = default_stall_limits(
            is_local=provider.is_local,
            reasoning=provider.reasoning,
            estimated_input_tokens=estimate_request_tokens(request),
        )
        both = provider.stale_timeout if provider.stale_timeout is not None else self.stale_timeout
        first = provider.first_token_timeout if provider.first_token_timeout is not None else self.first_token_timeout
        gap = both if both is not None else defaults.gap
        return StallLimits(first if first is not None else both if both is not None else defaults.first_token, gap)


@dataclass(slots=True)
class CallContext:
    """What every model call of a turn shares."""

    settings: CallSettings
    interrupt: threading.Event
    workers: list[StreamWorker]  # the live stream workers, so interrupt() can wake a wait
    ledger: StallLedger | None = None  # remembers tool calls that keep getting cut
    observer: StreamObserver | None = None  # sees every delta (the --trace-stream file)


@dataclass(slots=True)
class CallState:
    """One model call across its attempts and continuations: what the user has seen so far
    (``kept``), what to continue it with, and what it has cost."""

    provider: Provider
    base: ModelRequest
    kept: list[Part]
    limits: StallLimits
    can_escalate: bool = False  # a fallback can take the call over
    usage: Usage = field(default_factory=Usage)
    attempt: int = 0  # within the current retry budget (a continuation starts a new one)
    failed: int = 0
    transient_failures: int = 0  # failures that used the attempt budget
    overloads: int = 0
    first_overload_at: float | None = None
    stale_after: float = 0.0  # the limit of the last stall
    requests: int = 0
    continuations: int = 0
    stalls: int = 0
    empty_replies: int = 0
    repeated_chars: int = 0
    fitted: bool = False  # a max_tokens that fits the window was already tried
    unstreamed: str | None = None  # why the request was sent again without streaming
    failed_snapshots: list[ResponseSnapshot] = field(default_factory=list)  # for the waste
    cut_reason: str = "the previous provider failed"  # why the next request continues

    @property
    def shown(self) -> str:
        return "".join(p.text for p in self.kept if isinstance(p, TextPart))

    def next_request(self) -> ModelRequest:
        request = replace(self.base, model=self.provider.model)
        return continuation_request(request, self.shown, self.provider.accepts_prefill, self.cut_reason)

    def waste(self) -> Waste:
        """What the call's failed attempts and restarted continuations cost (``agent.cost``)."""
        estimate = estimate_request_tokens(self.base)
        return recovery_waste(self.failed_snapshots, self.usage, self.requests, estimate, self.repeated_chars)

    def budget(self, facts: ErrorFacts, settings: CallSettings, health: ProviderHealth) -> RetryBudget:
        """Count the failure that just happened into the right budget."""
        now = settings.clock()
        if classify(facts) == "overloaded" and settings.retry_budget > 0:
            self.overloads += 1
            self.first_overload_at = now if self.first_overload_at is None else self.first_overload_at
        else:
            self.transient_failures += 1
        return RetryBudget(
            transient_failures=self.transient_failures,
            max_attempts=settings.max_attempts,
            overloads=self.overloads,
            overload_elapsed=now - self.first_overload_at if self.first_overload_at is not None else 0.0,
            overload_budget=settings.retry_budget,
            consecutive_stalls=health.consecutive_stalls,
            has_fallback=self.can_escalate,
        )

    def result(self, status: CallStatus, parts: list[Part] | None = None, **extra: Any) -> CallResult:
        """The call's outcome; ``extra`` sets the outcome-specific fields of CallResult."""
        return CallResult(
            status,
            list(self.kept if parts is None else parts),
            usage=self.usage,
            attempts=self.requests,
            stalls=self.stalls,
            stale_after=self.stale_after,
            failed_attempts=self.failed,
            repeated_chars=self.repeated_chars,
            waste=self.waste(),
            prompt_estimate=estimate_request_tokens(self.base) if status == "failed" else 0,
            **extra,
        )


def merge_parts(kept: list[Part], new: tuple[Part, ...] | list[Part]) -> list[Part]:
    """Join a continuation onto what was kept: its first text extends the last text.
    A continuation's thinking is dropped: it cannot sit in the middle of a reply."""
    merged = list(kept)
    for part in new:
        if isinstance(part, ThinkingPart) and any(isinstance(p, TextPart) for p in kept):
            continue
        if isinstance(part, TextPart) and merged and isinstance(merged[-1], TextPart):
            merged[-1] = TextPart(merged[-1].text + part.text)
        else:
            merged.append(part)
    return merged


def _visible_parts(snapshot: ResponseSnapshot) -> list[Part]:
    """What of a failed attempt is worth keeping: its text, never a tool call."""
    return [p for p in snapshot.parts if isinstance(p, TextPart) and p.text]


def model_call(
    provider: Provider,
    request: ModelRequest,
    context: CallContext,
    health: ProviderHealth,
    call_number: int,
    kept: list[Part] | None = None,
    can_escalate: bool = False,
) -> Generator[AgentEvent, None, CallResult]:
    """``kept`` is visible text already shown for this reply (e.g. by a provider that
    failed before this one): the model is asked to continue it. ``can_escalate``: a
    fallback can take over, so a broken provider is given up on early."""
    if health.streaming_refused:
        request = replace(request, stream=False)
    limits = context.settings.stall_limits(provider, request)
    state = CallState(provider, request, list(kept or []), limits, can_escalate and context.settings.escalate_early)
    while True:
        outcome = yield from _send(state, context, call_number)
        if outcome.interrupted:
            return state.result("interrupted", merge_parts(state.kept, _visible_parts(outcome.snapshot)))
        if outcome.error is None:
            done = yield from _on_reply(state, outcome.snapshot, context, health)
        else:
            done = yield from _on_failure(state, outcome, context, health)
        if done is not None:
            return done


def _send(state: CallState, context: CallContext, call_number: int) -> Generator[AgentEvent, None, AttemptResult]:
    state.attempt += 1
    state.requests += 1
    provider = state.provider
    # Decided again for every attempt: a gateway found by the last answer gets cloud limits now.
    state.limits = context.settings.stall_limits(provider, state.base)
    limits = state.limits
    yield ModelCallStarted(call_number, state.attempt, provider.name, provider.model, limits.first_token, limits.gap)
    if context.observer is not None:
        context.observer.attempt_started(call_number, state.attempt, provider.name, provider.model)
    outcome = yield from run_attempt(
        provider,
        state.next_request(),
        limits=state.limits,
        interrupt=context.interrupt,
        clock=context.settings.clock,
        on_worker=context.workers,
        shown_text=state.shown,
        observer=context.observer,
    )
    state.usage = state.usage + outcome.snapshot.usage
    state.repeated_chars += outcome.repeated_chars
    return outcome


def _on_reply(
    state: CallState, snapshot: ResponseSnapshot, context: CallContext, health: ProviderHealth
) -> Generator[AgentEvent, None, CallResult | None]:
    """A whole reply arrived: take it, or continue it when it was cut short."""
    health.consecutive_stalls = 0
    if state.unstreamed == "empty" and not health.streaming_refused:
        health.streaming_refused = True  # it answers whole what it cannot stream
        yield Notice(STREAMING_KEPT_OFF, "warning")
    usage = snapshot.usage
    yield ModelCallFinished(
        snapshot.stop_reason,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        cost_of(usage, state.provider.prices),
    )
    parts = merge_parts(state.kept, snapshot.parts)
    stop = snapshot.stop_reason
    if snapshot.state == "cut_mid_tool_call":
        calls_dropped: list[Part] = [p for p in parts if not isinstance(p, ToolCallPart)]
        return state.result("cut_tool_call", calls_dropped, stop_reason=stop, cut_call=snapshot.cut_call)
    reason = {"truncated": "the output limit", "paused": "a paused server-side turn"}.get(str(stop))
    if reason is not None and state.continuations < context.settings.max_continuations:
        state.continuations += 1
        state.kept, state.attempt, state.cut_reason = parts, 0, f"it reached {reason}"
        yield Continuing(f"the reply reached {reason}; asking the model to continue")
        return None
    empty = not any(isinstance(p, ToolCallPart) or (isinstance(p, TextPart) and p.text.strip()) for p in parts)
    if empty and state.empty_replies == 0:
        state.empty_replies += 1
        yield Retrying(state.attempt + 1, context.settings.max_attempts, "the model sent an empty reply", BACKOFF_BASE)
        if context.interrupt.wait(BACKOFF_BASE * (0.5 + random.random() / 2)):
            return state.result("interrupted", parts)
        return None
    if empty:
        return state.result("failed", parts, stop_reason=stop, error_message=EMPTY_REPLY)
    truncated = reason is not None or stop == "context_full"
    return state.result("ok", parts, stop_reason=stop, truncated=truncated, stop_detail=snapshot.stop_detail)


def _on_failure(
    state: CallState, outcome: AttemptResult, context: CallContext, health: ProviderHealth
) -> Generator[AgentEvent, None, CallResult | None]:
    """An attempt failed: retry it on a fresh connection, or end the call with the facts."""
    facts, snapshot, settings = outcome.error, outcome.snapshot, context.settings
    assert facts is not None
    state.failed += 1
    state.failed_snapshots.append(snapshot)
    if facts.kind == "stale":
        state.stalls += 1
        health.consecutive_stalls += 1
        progressed = bool(snapshot.parts) or snapshot.cut_call is not None
        state.stale_after = state.limits.gap if progressed else state.limits.first_token
    else:
        health.consecutive_stalls = 0
    state.kept = merge_parts(state.kept, _visible_parts(snapshot))
    if snapshot.cut_call is not None and context.ledger is not None:
        verdict = context.ledger.record_cut(snapshot.cut_call, "stall" if facts.kind == "stale" else "drop")
        if verdict.action != "retry":
            # The same call keeps getting cut: retrying it as is would loop; the model
            # has to change how it writes (guide), or the turn ends (give up).
            if not outcome.reset_done:
                yield reset_event(state.provider.reset("mid_tool_call_retry"))
            guide = verdict.action == "guide"
            return state.result(
                "needs_guidance" if guide else "gave_up",
                error=facts,
                cut_call=snapshot.cut_call,
                error_message=None if guide else verdict.text,
                guidance=verdict.text if guide else None,
            )
    nothing = not snapshot.parts and not outcome.repeated_chars  # no text, not even a repeat
    why = unstreamed_retry(facts, streaming=state.base.stream, local=state.provider.is_local, nothing_received=nothing)
    if why is not None and state.unstreamed is None:  # once: the server's own answer decides
        state.base, state.unstreamed = replace(state.base, stream=False), why
        health.streaming_refused = health.streaming_refused or why == "refused"
        yield Notice(UNSTREAMED_RETRY[why], "warning")
        return None
    if facts.fitting_max_tokens is not None and not state.fitted:
        state.fitted = True
        state.base = replace(state.base, max_tokens=facts.fitting_max_tokens)
        yield Notice(
            f"the request did not fit the context window; retrying with max_tokens {facts.fitting_max_tokens:,}"
        )
        return None
    decision = decide(facts, state.budget(facts, settings, health))
    if decision.action == "fail":
        return state.result("failed", error=facts, decision=decision, cut_call=snapshot.cut_call)
    return (yield from _retry(state, outcome, context, decision))


def _retry(
    state: CallState, outcome: AttemptResult, context: CallContext, decision: RetryDecision
) -> Generator[AgentEvent, None, CallResult | None]:
    busy = decision.budget_left is not None  # retried against the time budget, not a count
    of = 0 if busy else context.settings.max_attempts
    delay = round(decision.delay, 2)
    left = None if decision.budget_left is None else round(decision.budget_left)
    yield Retrying(state.attempt + 1, of, decision.reason, delay, decision.failure, left)
    if not outcome.reset_done:
        caller = "mid_tool_call_retry" if outcome.snapshot.cut_call is not None else "retry"
        yield reset_event(state.provider.reset(caller))
    if (yield from _wait_out(decision.delay, state.attempt + 1, left, context.interrupt)):
        return state.result("interrupted")
    if state.shown:
        state.cut_reason = "the connection broke"
        yield Continuing("the stream broke after some text; asking the model to continue from there")
    return None


COUNTDOWN_FROM = 2.0  # shorter waits are not worth a countdown


def _wait_out(
    delay: float, attempt: int, budget_left: float | None, interrupt: threading.Event
) -> Generator[AgentEvent, None, bool]:
    """Sleep through a backoff, counting down each second; True when interrupted (the
    wait ends at once)."""
    remaining = delay
    while remaining > 0:
        if interrupt.wait(min(1.0, remaining)):
            return True
        remaining -= 1.0
        if delay >= COUNTDOWN_FROM and remaining > 0:
            yield RetryWaiting(round(remaining), attempt, None if budget_left is None else round(budget_left))
    return False
