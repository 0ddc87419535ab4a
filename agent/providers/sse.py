"""A small server-sent-events reader over response lines.

Used where the SDK's own stream hides what we need: keep-alive comments (progress vs.
liveness), the real terminal event, and reading the body to its end so the connection
goes back to the pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str | None
    data: str


def iter_sse(lines: Iterable[str]) -> Iterator[SseEvent | None]:
    """Events in order; ``None`` stands for a comment line (a keep-alive)."""
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield SseEvent(event, "\n".join(data))
            event, data = None, []
        elif line.startswith(":"):
            yield None
        else:
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
    if data:
        yield SseEvent(event, "\n".join(data))
