"""What a model call came to: the one value the turn loop, the fallback chain and the
failure messages read, and the provider health that outlives one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agent.cost import Waste
from agent.messages import Message, Part, TextPart
from agent.providers.base import ErrorFacts
from agent.recovery.policy import RetryDecision
from agent.streaming.accumulator import CutToolCall
from agent.usage import Usage

CallStatus = Literal["ok", "failed", "interrupted", "cut_tool_call", "needs_guidance", "gave_up"]


@dataclass(slots=True)
class ProviderHealth:
    """Counters that outlive one call: the stale circuit breaker's memory."""

    consecutive_stalls: int = 0
    streaming_refused: bool = False  # this provider cannot stream our requests: send them whole


@dataclass(slots=True)
class CallResult:
    status: CallStatus
    parts: list[Part]
    stop_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    error: ErrorFacts | None = None
    decision: RetryDecision | None = None
    cut_call: CutToolCall | None = None
    attempts: int = 0  # requests sent, continuations included (the api_calls count)
    stalls: int = 0
    stale_after: float = 0.0
    error_message: str | None = None  # a ready message (chain exhausted, stalls given up)
    guidance: str | None = None  # for needs_guidance: what to tell the model
    failed_attempts: int = 0  # attempts that failed, for the messages
    truncated: bool = False  # still cut when the call ended (continuation budget, full context)
    stop_detail: str | None = None  # why, when the wire explained a refusal
    repeated_chars: int = 0  # characters of continuations dropped as repeats
    prompt_estimate: int = 0  # a failed call's prompt size by stayline's estimate (tokens)
    waste: Waste = field(default_factory=Waste)  # what this call's recoveries cost (agent.cost)

    @property
    def message(self) -> Message:
        return Message("assistant", list(self.parts))

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))
