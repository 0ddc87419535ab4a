"""A request's size before it is sent: the estimate every budget starts from until the
provider reports the real figure."""

from __future__ import annotations

from agent.providers.base import ModelRequest


def estimate_request_tokens(request: ModelRequest) -> int:
    """A cheap estimate (about four characters a token) of the request's input size."""
    chars = len(request.system)
    for message in request.messages:
        for part in message.parts:
            for value in (getattr(part, "text", ""), getattr(part, "content", "")):
                chars += len(value) if isinstance(value, str) else 0
            arguments = getattr(part, "arguments", None)
            if arguments:
                chars += len(repr(arguments))
    chars += sum(len(t.description) + len(repr(t.schema)) for t in request.tools)
    return chars // 4
