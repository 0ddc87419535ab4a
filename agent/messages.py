"""Neutral conversation types shared by every wire.

Adapters in ``agent/providers/`` are the only code that knows how these map to a wire
format. Everything here is a plain dataclass with a literal ``kind`` so that sessions,
tests and the fallback chain can serialise and convert history without wire knowledge.
This module imports nothing else of the project.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class TextPart:
    """Plain text of a message."""

    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ThinkingPart:
    """Model reasoning. ``provider_data`` holds what must be echoed back verbatim
    (the signature, or the opaque payload of a redacted block) and names the wire it
    came from, so that another wire can drop it instead of sending a bad signature."""

    text: str
    signature: str | None = None
    redacted_data: str | None = None
    source_wire: str | None = None
    kind: Literal["thinking"] = "thinking"


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """A tool call the model made; ``arguments`` is the parsed JSON object."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    # Set when the model's argument text was not a JSON object: the call is kept (the
    # wire needs it answered) but it is never executed; the error goes back to the model.
    arguments_error: str | None = None
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """The result of a tool call, sent back to the model (``is_error`` for failures)."""

    call_id: str
    content: str
    is_error: bool = False
    kind: Literal["tool_result"] = "tool_result"


Part = TextPart | ThinkingPart | ToolCallPart | ToolResultPart


@dataclass(slots=True)
class Message:
    """One conversation message. Tool results travel in ``role="tool"`` messages."""

    role: Role
    parts: list[Part] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def tool_results(self) -> list[ToolResultPart]:
        return [p for p in self.parts if isinstance(p, ToolResultPart)]

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "parts": [part_to_dict(p) for p in self.parts]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        role = data.get("role")
        if role not in ("user", "assistant", "tool"):
            raise ValueError(f"unknown message role {role!r}")
        return cls(role=role, parts=[part_from_dict(p) for p in data.get("parts", [])])


def user_message(text: str) -> Message:
    return Message("user", [TextPart(text)])


def part_to_dict(part: Part) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": part.kind}
    for name in part.__dataclass_fields__:
        if name != "kind":
            data[name] = getattr(part, name)
    return data


_PART_TYPES: dict[str, type] = {
    "text": TextPart,
    "thinking": ThinkingPart,
    "tool_call": ToolCallPart,
    "tool_result": ToolResultPart,
}


def part_from_dict(data: dict[str, Any]) -> Part:
    kind = data.get("kind")
    part_type = _PART_TYPES.get(str(kind))
    if part_type is None:
        raise ValueError(f"unknown message part kind {kind!r}")
    fields = {k: v for k, v in data.items() if k != "kind"}
    part: Part = part_type(**fields)
    return part


def unanswered_tool_calls(history: list[Message]) -> list[ToolCallPart]:
    """Tool calls of the last assistant message that have no result after it."""
    for index in range(len(history) - 1, -1, -1):
        message = history[index]
        if message.role == "assistant":
            answered = {r.call_id for m in history[index + 1 :] for r in m.tool_results}
            return [c for c in message.tool_calls if c.call_id not in answered]
    return []


def new_call_id() -> str:
    """A tool-call id for a call the server sent without one: unique in any conversation
    and valid on every wire (letters, digits and ``_``; 29 characters, under OpenAI's 40)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def with_unique_call_ids(history: list[Message], message: Message) -> Message:
    """``message`` with every tool-call id that is empty or already used in ``history``
    (or earlier in ``message``) replaced by a new one. Some servers number their calls
    per response (``call_0`` in every reply); the wires need ids unique per conversation."""
    used = {c.call_id for m in history for c in m.tool_calls}
    parts: list[Part] = []
    for part in message.parts:
        if isinstance(part, ToolCallPart):
            if not part.call_id or part.call_id in used:
                part = replace(part, call_id=new_call_id())
            used.add(part.call_id)
        parts.append(part)
    return Message(message.role, parts)


def dangling_tool_calls(history: list[Message]) -> list[tuple[int, ToolCallPart]]:
    """Every tool call anywhere in ``history`` that has no result in the tool messages
    right after its own message, with the index of that message."""
    dangling: list[tuple[int, ToolCallPart]] = []
    for index, message in enumerate(history):
        calls = message.tool_calls if message.role == "assistant" else []
        if not calls:
            continue
        answered = {r.call_id for m in _following_tool_messages(history, index) for r in m.tool_results}
        dangling.extend((index, c) for c in calls if c.call_id not in answered)
    return dangling


def _following_tool_messages(history: list[Message], index: int) -> list[Message]:
    following: list[Message] = []
    for message in history[index + 1 :]:
        if message.role != "tool":
            break
        following.append(message)
    return following


def parse_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """Parse tool-call argument text (the model's, untrusted): the arguments object, or
    an error the model can act on. An empty text means no arguments."""
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"the arguments are not valid JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(value, dict):
        return {}, f"the arguments must be a JSON object, not {type(value).__name__}"
    return value, None
