"""Neutral stream deltas: what a provider adapter hands the loop, one per wire event.

Only deltas marked ``progress`` count as progress for the stale detector; keep-alives
prove the socket is alive but not that the model is producing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "paused": a long server-side turn paused (Anthropic pause_turn), to be continued;
# "context_full": the reply filled the model's context window, so continuing cannot help.
StopReason = Literal["completed", "tool_calls", "truncated", "paused", "context_full", "content_filter", "refusal"]


@dataclass(frozen=True, slots=True)
class TextChunk:
    text: str
    progress: bool = True


@dataclass(frozen=True, slots=True)
class ThinkingChunk:
    text: str
    progress: bool = True


@dataclass(frozen=True, slots=True)
class SignatureChunk:
    """Signature of the thinking block being streamed (Anthropic)."""

    signature: str
    progress: bool = False


@dataclass(frozen=True, slots=True)
class RedactedThinking:
    data: str
    progress: bool = True


@dataclass(frozen=True, slots=True)
class ToolCallBegin:
    """A new tool call starts. ``slot`` is the adapter's key for later argument pieces."""

    slot: int
    call_id: str
    name: str
    progress: bool = True


@dataclass(frozen=True, slots=True)
class ToolArgsChunk:
    slot: int
    text: str
    progress: bool = True


@dataclass(frozen=True, slots=True)
class BlockEnd:
    """A content block closed (Anthropic ``content_block_stop``); a new text or
    thinking chunk after it starts a new part."""

    progress: bool = False


@dataclass(frozen=True, slots=True)
class StopChunk:
    """The model said why it stopped (``stop_reason`` / ``finish_reason``); ``detail``
    explains a refusal when the wire says why (Anthropic ``stop_details``)."""

    reason: StopReason
    raw: str
    progress: bool = False
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class UsageChunk:
    """Token figures as the wire reported them (None: not in this event); see ``agent.usage``."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    progress: bool = False


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A ping event or an SSE comment: the connection lives, the model has not spoken."""

    progress: bool = False


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The wire's terminal event arrived (``message_stop`` / ``[DONE]``)."""

    progress: bool = False


Delta = (
    TextChunk
    | ThinkingChunk
    | SignatureChunk
    | RedactedThinking
    | ToolCallBegin
    | ToolArgsChunk
    | BlockEnd
    | StopChunk
    | UsageChunk
    | KeepAlive
    | StreamEnd
)
