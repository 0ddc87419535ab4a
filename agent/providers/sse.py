"""A small server-sent-events reader over response lines.

Used where the SDK's own stream hides what we need: keep-alive comments (progress vs.
liveness), the real terminal event, and reading the body to its end so the connection
goes back to the pool.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from agent.providers.base import MalformedStreamError


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


def json_object(data: str) -> dict[str, Any]:
    """An event's data as a JSON object, or a clear error naming what arrived."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        message = f"the stream sent data that is not JSON: {data[:80]!r} ({exc.msg})"
        raise MalformedStreamError(message) from None
    if not isinstance(value, dict):
        raise MalformedStreamError(f"the stream sent an event that is not a JSON object: {data[:80]!r}")
    return value
