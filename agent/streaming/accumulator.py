"""A pure accumulator: neutral deltas in, an assistant response snapshot out.

No I/O, no clock, no threads. A snapshot is available at any moment and says what it
is: still streaming, complete, truncated by the output limit, cut in the middle of a
tool call, failed, or interrupted. A tool call whose arguments did not arrive whole is
never part of a snapshot's executable calls; it is described in ``cut_call`` instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from agent.messages import Message, Part, TextPart, ThinkingPart, ToolCallPart, new_call_id, parse_arguments
from agent.providers.deltas import (
    BlockEnd,
    Delta,
    KeepAlive,
    RedactedThinking,
    SignatureChunk,
    StopChunk,
    StopReason,
    StreamEnd,
    TextChunk,
    ThinkingChunk,
    ToolArgsChunk,
    ToolCallBegin,
    UsageChunk,
)
from agent.usage import Usage

ResponseState = Literal["streaming", "complete", "truncated", "cut_mid_tool_call", "failed", "interrupted"]

_TARGET_KEYS = ("path", "file_path", "filename", "target", "command")
# Stop reasons that cut the reply short: a tool call open at that moment is not whole.
CUT_REASONS: tuple[StopReason, ...] = ("truncated", "context_full")


@dataclass(frozen=True, slots=True)
class CutToolCall:
    """What is known of a tool call whose arguments never arrived whole: a diagnosis only."""

    name: str
    target: str | None
    chars_received: int


@dataclass(frozen=True, slots=True)
class ResponseSnapshot:
    parts: tuple[Part, ...]
    state: ResponseState
    stop_reason: StopReason | None
    usage: Usage
    cut_call: CutToolCall | None = None
    terminal_seen: bool = False
    stop_detail: str | None = None  # why, when the wire explains a refusal

    @property
    def whole(self) -> bool:
        """The wire's terminal event and a stop reason arrived: every byte of the reply is
        here, whatever the connection did afterwards."""
        return self.terminal_seen and self.stop_reason is not None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def has_visible_output(self) -> bool:
        return any(isinstance(p, TextPart) and p.text for p in self.parts)

    def to_message(self) -> Message:
        return Message("assistant", list(self.parts))


@dataclass(slots=True)
class _TextBuilder:
    pieces: list[str] = field(default_factory=list)

    def build(self) -> Part | None:
        text = "".join(self.pieces)
        return TextPart(text) if text else None


@dataclass(slots=True)
class _ThinkingBuilder:
    source_wire: str | None
    pieces: list[str] = field(default_factory=list)
    signature: str | None = None
    redacted_data: str | None = None

    def build(self) -> Part | None:
        text = "".join(self.pieces)
        if not text and self.redacted_data is None:
            return None
        return ThinkingPart(text, self.signature, self.redacted_data, self.source_wire)


@dataclass(slots=True)
class _ToolCallBuilder:
    call_id: str
    name: str
    pieces: list[str] = field(default_factory=list)
    closed: bool = False

    @property
    def raw(self) -> str:
        return "".join(self.pieces)

    def build(self) -> ToolCallPart:
        raw = self.raw
        arguments, error = parse_arguments(raw)
        return ToolCallPart(self.call_id, self.name, arguments, error)


_Builder = _TextBuilder | _ThinkingBuilder | _ToolCallBuilder


def target_from_partial(raw: str) -> str | None:
    """Read the file path (or command) out of argument JSON that may be cut anywhere."""
    for key in _TARGET_KEYS:
        match = re.search(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)"', raw)
        if match:
            try:
                return str(json.loads(f'"{match.group(1)}"'))
            except json.JSONDecodeError:
                return match.group(1)
    return None


class Accumulator:
    """Builds one assistant response from deltas. ``apply`` never raises on odd input:
    a delta for an unknown tool slot starts a nameless call rather than being lost."""

    def __init__(self, source_wire: str | None = None) -> None:
        self._wire = source_wire
        self._builders: list[_Builder] = []
        self._slots: dict[int, _ToolCallBuilder] = {}
        self._open: _Builder | None = None
        self._stop: StopChunk | None = None
        self._usage = Usage()
        self._terminal = False

    def apply(self, delta: Delta) -> None:
        match delta:
            case TextChunk(text=text):
                self._text().pieces.append(text)
            case ThinkingChunk(text=text):
                self._thinking().pieces.append(text)
            case SignatureChunk(signature=signature):
                self._thinking().signature = signature
            case RedactedThinking(data=data):
                builder = _ThinkingBuilder(self._wire, redacted_data=data)
                self._builders.append(builder)
                self._open = None
            case ToolCallBegin(slot=slot, call_id=call_id, name=name):
                call = _ToolCallBuilder(call_id, name)
                self._slots[slot] = call
                self._builders.append(call)
                self._open = call
            case ToolArgsChunk(slot=slot, text=text):
                existing = self._slots.get(slot)
                if existing is None:
                    existing = _ToolCallBuilder(new_call_id(), "")
                    self._slots[slot] = existing
                    self._builders.append(existing)
                call = existing
                call.pieces.append(text)
            case BlockEnd():
                if isinstance(self._open, _ToolCallBuilder):
                    self._open.closed = True
                self._open = None
            case StopChunk():
                self._stop = delta
            case UsageChunk(input_tokens=inp, output_tokens=out, cache_read_tokens=read, cache_write_tokens=write):
                self._usage = self._usage.merged(Usage(inp, out, read, write))
            case StreamEnd():
                self._terminal = True
            case KeepAlive():
                pass

    def _text(self) -> _TextBuilder:
        """The open text part, or a new one (a kind change starts a new part)."""
        if isinstance(self._open, _TextBuilder):
            return self._open
        builder = _TextBuilder()
        self._builders.append(builder)
        self._open = builder
        return builder

    def _thinking(self) -> _ThinkingBuilder:
        if isinstance(self._open, _ThinkingBuilder):
            return self._open
        builder = _ThinkingBuilder(self._wire)
        self._builders.append(builder)
        self._open = builder
        return builder

    def snapshot(self, *, failed: bool = False, interrupted: bool = False) -> ResponseSnapshot:
        """The response so far. ``failed``/``interrupted`` say how the stream ended when
        it did not end by itself; otherwise the state follows from what arrived."""
        ended_cleanly = self._terminal and self._stop is not None and not failed and not interrupted
        parts: list[Part] = []
        cut: CutToolCall | None = None
        for builder in self._builders:
            if isinstance(builder, _ToolCallBuilder):
                whole = ended_cleanly and self._stop is not None and self._stop.reason not in CUT_REASONS
                if whole or (builder.closed and parse_arguments(builder.raw)[1] is None):
                    parts.append(builder.build())
                elif cut is None:
                    cut = CutToolCall(builder.name, target_from_partial(builder.raw), len(builder.raw))
                continue
            part = builder.build()
            if part is not None:
                parts.append(part)
        state: ResponseState
        if cut is not None and (ended_cleanly or failed or interrupted):
            state = "interrupted" if interrupted else "cut_mid_tool_call"
            parts = [p for p in parts if not isinstance(p, ToolCallPart)]
        elif interrupted:
            state = "interrupted"
        elif failed:
            state = "failed"
        elif ended_cleanly:
            state = "truncated" if self._stop and self._stop.reason in CUT_REASONS else "complete"
        else:
            state = "streaming"
        return ResponseSnapshot(
            parts=tuple(parts),
            state=state,
            stop_reason=self._stop.reason if self._stop else None,
            usage=self._usage,
            cut_call=cut,
            terminal_seen=self._terminal,
            stop_detail=self._stop.detail if self._stop else None,
        )
