"""The typed event stream of a turn: one union, consumed alike by the CLI renderer,
the session log, the trace file, ``AgentResult`` and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TurnStatus = Literal["completed", "failed", "interrupted"]


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """A turn began on this provider and model."""

    session_id: str | None
    provider: str
    model: str
    kind: Literal["turn_started"] = "turn_started"


@dataclass(frozen=True, slots=True)
class ModelCallStarted:
    """A request is about to be sent. ``attempt`` counts from 1 within one model call;
    ``first_token_timeout`` and ``gap_timeout`` are the stall limits it runs under."""

    call_number: int
    attempt: int
    provider: str
    model: str
    first_token_timeout: float | None = None
    gap_timeout: float | None = None
    kind: Literal["model_call_started"] = "model_call_started"


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer as it streams (continuations are already seam-trimmed)."""

    text: str
    kind: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of the model's reasoning as it streams."""

    text: str
    kind: Literal["thinking_delta"] = "thinking_delta"


@dataclass(frozen=True, slots=True)
class ToolCallStreaming:
    """The model started writing a tool call (its arguments are still arriving)."""

    call_id: str
    name: str
    kind: Literal["tool_call_streaming"] = "tool_call_streaming"


@dataclass(frozen=True, slots=True)
class ModelCallFinished:
    """A model call ended with a whole reply; its stop reason and token counts as the
    provider reported them (None: not reported; see ``agent.usage`` for the split), and
    its cost in dollars (None: unknown, the model has no price or usage was not reported)."""

    stop_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    cost_usd: float | None = None
    kind: Literal["model_call_finished"] = "model_call_finished"


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """A tool call is about to run (``target`` is its path or command, for display)."""

    call_id: str
    name: str
    target: str | None
    kind: Literal["tool_call_started"] = "tool_call_started"


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call ran: one-line ``summary``, whether it failed, how long it took."""

    call_id: str
    name: str
    target: str | None
    is_error: bool
    summary: str
    duration: float
    kind: Literal["tool_call_finished"] = "tool_call_finished"


@dataclass(frozen=True, slots=True)
class Waiting:
    """No progress for a while, but not yet stale: shown so silence never looks like a hang."""

    seconds: float
    phase: Literal["first_delta", "between_deltas", "total"]
    kind: Literal["waiting"] = "waiting"


@dataclass(frozen=True, slots=True)
class Stalled:
    """The stale detector fired: no progress for ``seconds``; the stream is abandoned.
    ``keepalives`` counts the keep-alives that came meanwhile (the socket lived, the model
    said nothing)."""

    seconds: float
    phase: Literal["first_delta", "between_deltas", "total"]
    keepalives: int = 0
    kind: Literal["stalled"] = "stalled"


@dataclass(frozen=True, slots=True)
class ConnectionReset:
    """The provider killed its in-flight reads and rebuilt its client; ``caller`` says why."""

    wire: str
    caller: str
    ok: bool
    detail: str = ""
    kind: Literal["connection_reset"] = "connection_reset"


@dataclass(frozen=True, slots=True)
class Retrying:
    """A failed model call is retried: attempt ``attempt`` of ``of``, after ``delay`` seconds.
    For a busy provider (``failure`` "overloaded"), ``of`` is 0: it is retried until the
    time budget is spent, and ``budget_left`` says how many seconds of it remain."""

    attempt: int
    of: int
    reason: str
    delay: float
    failure: str = ""
    budget_left: float | None = None
    kind: Literal["retrying"] = "retrying"


@dataclass(frozen=True, slots=True)
class RetryWaiting:
    """The countdown of a backoff: ``seconds_left`` until attempt ``attempt`` is sent."""

    seconds_left: float
    attempt: int
    budget_left: float | None = None
    kind: Literal["retry_waiting"] = "retry_waiting"


@dataclass(frozen=True, slots=True)
class Continuing:
    """The reply is being continued after a cut (output limit or a failed stream):
    the renderer marks the seam; the joined text is exact."""

    reason: str
    kind: Literal["continuing"] = "continuing"


@dataclass(frozen=True, slots=True)
class StallGuidance:
    """The same tool call kept getting cut: the agent told the model how to split it."""

    tool: str
    target: str | None
    text: str
    kind: Literal["stall_guidance"] = "stall_guidance"


@dataclass(frozen=True, slots=True)
class FallbackActivated:
    """The turn moves to the next provider of the fallback chain (``from_``/``to`` are
    "MODEL via PROVIDER" labels)."""

    from_: str
    to: str
    reason: str
    kind: Literal["fallback_activated"] = "fallback_activated"

    @property
    def message(self) -> str:
        return f"Model fallback: {self.from_} unavailable ({self.reason}); using {self.to}"


@dataclass(frozen=True, slots=True)
class FallbackExhausted:
    """Every entry of the chain failed; ``answers`` says what each one answered."""

    answers: tuple[str, ...]
    kind: Literal["fallback_exhausted"] = "fallback_exhausted"


@dataclass(frozen=True, slots=True)
class ContextFill:
    """How full the model's context window is before a request: ``tokens`` of
    ``window``. ``measured``: grounded in the provider's report of the previous request
    (plus an estimate of what was added since); False: an estimate only."""

    tokens: int
    window: int
    measured: bool
    kind: Literal["context_fill"] = "context_fill"

    @property
    def fraction(self) -> float:
        """The share of the window in use (0.0 to 1.0, more when over the window)."""
        return self.tokens / self.window if self.window > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ContextTrimmed:
    """Old tool results were replaced by short stubs (no model call): ``results`` of
    them, the request going from ``tokens_before`` to ``tokens_after``."""

    results: int
    tokens_before: int
    tokens_after: int
    kind: Literal["context_trimmed"] = "context_trimmed"


@dataclass(frozen=True, slots=True)
class Compacted:
    """The older history was replaced by a summary the model wrote: ``messages``
    replaced, the request going from ``tokens_before`` to ``tokens_after``, the summary
    ``summary_tokens`` long. ``reason``: "threshold", "overflow" (the provider refused
    the request as too long) or "manual" (``/compact``). ``spent_tokens``: what the
    summary request cost, as the provider reported it (None: not reported)."""

    messages: int
    tokens_before: int
    tokens_after: int
    summary_tokens: int
    reason: Literal["threshold", "overflow", "manual"]
    spent_tokens: int | None = None
    kind: Literal["compacted"] = "compacted"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know that is not an error of the turn."""

    message: str
    level: Literal["info", "warning", "error"] = "info"
    kind: Literal["notice"] = "notice"


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The last event of every turn: its status, answer, error and event counts."""

    status: TurnStatus
    final_text: str
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    kind: Literal["turn_finished"] = "turn_finished"


AgentEvent = (
    TurnStarted
    | ModelCallStarted
    | TextDelta
    | ThinkingDelta
    | ToolCallStreaming
    | ModelCallFinished
    | ToolCallStarted
    | ToolCallFinished
    | Waiting
    | Stalled
    | ConnectionReset
    | Retrying
    | RetryWaiting
    | Continuing
    | StallGuidance
    | FallbackActivated
    | FallbackExhausted
    | ContextFill
    | ContextTrimmed
    | Compacted
    | Notice
    | TurnFinished
)
