"""Wire-independent rendering: turns a :class:`Reply` into a flat list of write operations.

A wire renderer produces one ``bytes`` value per SSE event; control items become small
operation objects that the connection writer interprets (waits, pacing, faults).
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from agent.testing.script import (
    ContentItem,
    Disconnect,
    EndBody,
    KeepAlives,
    Pace,
    RawSSE,
    Reply,
    Reset,
    Silence,
    SseError,
    Text,
    Thinking,
    ToolCall,
)

_ALPHABET = string.ascii_letters + string.digits
_rng = random.Random()


def random_id(prefix: str, length: int) -> str:
    return prefix + "".join(_rng.choices(_ALPHABET, k=length))


def dumps(value: Any) -> str:
    """Compact JSON, like the real APIs send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def split(text: str, chunk: int) -> list[str]:
    """``text`` in pieces of ``chunk`` characters; 0 (or less) means one piece; "" none."""
    if not text:
        return []
    if chunk <= 0 or chunk >= len(text):
        return [text]
    return [text[i : i + chunk] for i in range(0, len(text), chunk)]


def arguments_text(call: ToolCall) -> str:
    return call.arguments if isinstance(call.arguments, str) else dumps(call.arguments)


def arguments_object(call: ToolCall) -> Any:
    """The arguments as a JSON value (for non-streamed responses); broken JSON becomes {}."""
    if not isinstance(call.arguments, str):
        return call.arguments
    try:
        return json.loads(call.arguments)
    except ValueError:
        return {}


# --- write operations ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float
    keepalive: bytes | None = None
    every: float = 0.5


@dataclass(frozen=True, slots=True)
class SetPace:
    seconds: float


@dataclass(frozen=True, slots=True)
class Raw:
    data: bytes
    chunk_size: int = 0


@dataclass(frozen=True, slots=True)
class Abort:
    kind: Literal["reset", "disconnect"]


@dataclass(frozen=True, slots=True)
class End:
    """End the body (final zero-length chunk) and stop."""


Op: TypeAlias = bytes | Wait | SetPace | Raw | Abort | End


class StreamRenderer(Protocol):
    def begin(self) -> Iterator[bytes]: ...

    def content(self, item: ContentItem) -> Iterator[bytes]: ...

    def keepalive(self) -> bytes: ...

    def error(self, item: SseError) -> bytes: ...

    def finish(self) -> Iterator[bytes]: ...


def walk(reply: Reply, renderer: StreamRenderer) -> Iterator[Op]:
    """All write operations for a streamed reply, in order."""
    yield from renderer.begin()
    for item in reply.items:
        if isinstance(item, (Text, Thinking, ToolCall)):
            yield from renderer.content(item)
        elif isinstance(item, Silence):
            yield Wait(item.seconds)
        elif isinstance(item, KeepAlives):
            yield Wait(item.seconds, renderer.keepalive(), item.every)
        elif isinstance(item, Pace):
            yield SetPace(item.seconds)
        elif isinstance(item, RawSSE):
            yield Raw(item.data, item.chunk_size)
        elif isinstance(item, Reset):
            yield Abort("reset")
            return
        elif isinstance(item, Disconnect):
            yield Abort("disconnect")
            return
        elif isinstance(item, EndBody):
            yield End()
            return
        elif isinstance(item, SseError):
            yield renderer.error(item)
            yield End()
            return
    yield from renderer.finish()
    if isinstance(reply.after_terminal, Reset):
        yield Abort("reset")
    elif isinstance(reply.after_terminal, Disconnect):
        yield Abort("disconnect")
    else:
        yield End()


@dataclass(frozen=True, slots=True)
class Plain:
    """What a non-streamed reply amounts to: content, waits before it, and how it ends."""

    content: tuple[ContentItem, ...]
    waits: tuple[float, ...]
    fault: Reset | Disconnect | SseError | None


def plain(reply: Reply) -> Plain:
    """Non-streaming view: Silence/KeepAlives delay the response, Pace and EndBody are
    ignored, and the first Reset/Disconnect/SseError decides how it ends."""
    content: list[ContentItem] = []
    waits: list[float] = []
    for item in reply.items:
        if isinstance(item, (Text, Thinking, ToolCall)):
            content.append(item)
        elif isinstance(item, (Silence, KeepAlives)):
            waits.append(item.seconds)
        elif isinstance(item, (Reset, Disconnect, SseError)):
            return Plain(tuple(content), tuple(waits), item)
    return Plain(tuple(content), tuple(waits), None)


def merged_content(items: tuple[ContentItem, ...]) -> list[ContentItem]:
    """Consecutive Text items merged into one (they are one block on the wire)."""
    out: list[ContentItem] = []
    for item in items:
        if isinstance(item, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + item.text)
        else:
            out.append(item)
    return out
