"""One model call: attempts, retries and continuations until a whole reply or a failure.

Retries follow the one policy in ``recovery/policy.py``. Visible text is never shown
twice: after a cut, the text already shown is kept and the model is asked to continue
from it (the same mechanism continues a reply cut by the output limit).
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Literal

from agent.events import AgentEvent, Continuing, ModelCallFinished, ModelCallStarted, Retrying
from agent.messages import Message, Part, TextPart, ToolCallPart
from agent.providers.base import ErrorFacts, ModelRequest, Provider
from agent.providers.common import estimate_request_tokens
from agent.recovery.policy import RetryDecision, decide
from agent.recovery.stalls import StallLedger
from agent.streaming.accumulator import CutToolCall, ResponseSnapshot
from agent.streaming.attempt import StreamObserver, reset_event, run_attempt
from agent.streaming.watchdog import Clock, default_stale_timeout
from agent.streaming.worker import StreamWorker
from agent.usage import Usage

CallStatus = Literal["ok", "failed", "interrupted", "cut_tool_call", "needs_guidance", "gave_up"]


@dataclass(slots=True)
class CallSettings:
    stale_timeout: float | None  # None: decided per call from the endpoint and prompt size
    max_attempts: int
    max_continuations: int
    clock: Clock

    def stale_after(self, provider: Provider, request: ModelRequest) -> float:
        """The provider's own limit (a fallback may have its own), else the agent's,
        else the default for the endpoint and the prompt size."""
        if provider.stale_timeout is not None:
            return provider.stale_timeout
        if self.stale_timeout is not None:
            return self.stale_timeout
        return default_stale_timeout(provider.is_local, estimate_request_tokens(request))


@dataclass(slots=True)
class CallContext:
    """What every model call of a turn shares."""

    settings: CallSettings
    interrupt: threading.Event
    workers: list[StreamWorker]  # the live stream workers, so interrupt() can wake a wait
    ledger: StallLedger | None = None  # remembers tool calls that keep getting cut
    observer: StreamObserver | None = None  # sees every delta (the --trace-stream file)


@dataclass(slots=True)
class ProviderHealth:
    """Counters that outlive one call: the stale circuit breaker's memory."""

    consecutive_stalls: int = 0


@dataclass(slots=True)
class CallResult:
    status: CallStatus
    parts: list[Part]
    stop_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    error: ErrorFacts | None = None
    decision: RetryDecision | None = None
    cut_call: CutToolCall | None = None
    attempts: int = 0
    stalls: int = 0
    stale_after: float = 0.0
    error_message: str | None = None  # a ready message (chain exhausted, stalls given up)
    guidance: str | None = None  # for needs_guidance: what to tell the model

    @property
    def message(self) -> Message:
        return Message("assistant", list(self.parts))

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


def merge_parts(kept: list[Part], new: tuple[Part, ...] | list[Part]) -> list[Part]:
    """Join a continuation onto what was kept: its first text extends the last text."""
    merged = list(kept)
    for part in new:
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
) -> Generator[AgentEvent, None, CallResult]:
    """``kept`` is visible text already shown for this reply (e.g. by a provider that
    failed before this one): the model is asked to continue it."""
    settings, interrupt = context.settings, context.interrupt
    kept = list(kept or [])
    usage = Usage()
    attempt = 0
    requests_sent = 0  # across continuations, for the api_calls count
    continuations = 0
    stalls = 0
    stale_after = settings.stale_after(provider, request)
    while True:
        attempt += 1
        requests_sent += 1
        shown = "".join(p.text for p in kept if isinstance(p, TextPart))
        attempt_request = replace(request, model=provider.model, continuation=shown or None)
        yield ModelCallStarted(call_number, attempt, provider.name, provider.model)
        if context.observer is not None:
            context.observer.attempt_started(call_number, attempt, provider.name, provider.model)
        result = yield from run_attempt(
            provider,
            attempt_request,
            stale_after=stale_after,
            interrupt=interrupt,
            clock=settings.clock,
            on_worker=context.workers,
            shown_text=shown,
            observer=context.observer,
        )
        snapshot = result.snapshot
        usage = usage + snapshot.usage
        if result.interrupted:
            parts = merge_parts(kept, _visible_parts(snapshot))
            return CallResult("interrupted", parts, None, usage, attempts=requests_sent, stalls=stalls)
        if result.error is None:
            health.consecutive_stalls = 0
            reported = snapshot.usage
            yield ModelCallFinished(
                snapshot.stop_reason,
                reported.input_tokens,
                reported.output_tokens,
                reported.cache_read_tokens,
                reported.cache_write_tokens,
            )
            parts = merge_parts(kept, snapshot.parts)
            if snapshot.state == "cut_mid_tool_call":
                return CallResult(
                    "cut_tool_call",
                    [p for p in parts if not isinstance(p, ToolCallPart)],
                    snapshot.stop_reason,
                    usage,
                    cut_call=snapshot.cut_call,
                    attempts=requests_sent,
                    stalls=stalls,
                )
            if snapshot.state == "truncated" and continuations < settings.max_continuations:
                continuations += 1
                kept = parts
                attempt = 0  # a continuation is a new call with its own retry budget
                yield Continuing("the reply reached the output limit; asking the model to continue")
                continue
            return CallResult("ok", parts, snapshot.stop_reason, usage, attempts=requests_sent, stalls=stalls)
        facts = result.error
        if facts.kind == "stale":
            stalls += 1
            health.consecutive_stalls += 1
        else:
            health.consecutive_stalls = 0
        kept = merge_parts(kept, _visible_parts(snapshot))
        if snapshot.cut_call is not None and context.ledger is not None:
            verdict = context.ledger.record_cut(snapshot.cut_call, "stall" if facts.kind == "stale" else "drop")
            if verdict.action != "retry":
                # The same call keeps getting cut: retrying it as is would loop; the
                # model has to change how it writes (guide) or the turn ends (give up).
                if not result.reset_done:
                    yield reset_event(provider.reset("mid_tool_call_retry"))
                status: CallStatus = "needs_guidance" if verdict.action == "guide" else "gave_up"
                return CallResult(
                    status,
                    kept,
                    None,
                    usage,
                    facts,
                    None,
                    snapshot.cut_call,
                    requests_sent,
                    stalls,
                    stale_after,
                    error_message=verdict.text if status == "gave_up" else None,
                    guidance=verdict.text if status == "needs_guidance" else None,
                )
        decision = decide(facts, attempt, settings.max_attempts, health.consecutive_stalls)
        if decision.action == "fail":
            return CallResult(
                "failed",
                kept,
                None,
                usage,
                facts,
                decision,
                snapshot.cut_call,
                requests_sent,
                stalls,
                stale_after,
            )
        yield Retrying(attempt + 1, settings.max_attempts, decision.reason, round(decision.delay, 2))
        if not result.reset_done:
            caller = "mid_tool_call_retry" if snapshot.cut_call is not None else "retry"
            yield reset_event(provider.reset(caller))
        if decision.delay and interrupt.wait(decision.delay):
            return CallResult("interrupted", kept, None, usage, attempts=requests_sent, stalls=stalls)
        if kept:
            yield Continuing("the stream broke after some text; asking the model to continue from there")
