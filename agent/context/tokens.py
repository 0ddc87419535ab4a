"""Token estimates of neutral messages: deterministic, about four characters a token.

The provider's reported prompt size is the truth (``window.py`` anchors on it); these
estimates cover only what it has not measured yet (new messages) and what a plan would
change, so they need to be cheap and stable more than exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from agent.messages import Message, Part, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from agent.providers.base import ToolSpec

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # role and framing that every wire adds around a message
PART_OVERHEAD = 2  # block type, ids


def text_tokens(text: str) -> int:
    """Tokens of a piece of text (rounded up, so no text is free)."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def part_tokens(part: Part) -> int:
    """Tokens of one message part as a wire would send it."""
    if isinstance(part, TextPart):
        chars = len(part.text)
    elif isinstance(part, ThinkingPart):
        chars = len(part.text) + len(part.signature or "") + len(part.redacted_data or "")
    elif isinstance(part, ToolCallPart):
        chars = len(part.call_id) + len(part.name) + len(json.dumps(part.arguments, ensure_ascii=False))
    elif isinstance(part, ToolResultPart):
        chars = len(part.call_id) + len(part.content)
    else:  # a part kind added after this module
        chars = len(repr(part))
    return PART_OVERHEAD + (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def message_tokens(message: Message) -> int:
    """Tokens of one message."""
    return MESSAGE_OVERHEAD + sum(part_tokens(p) for p in message.parts)


def messages_tokens(messages: Iterable[Message]) -> int:
    """Tokens of a list of messages."""
    return sum(message_tokens(m) for m in messages)


def fixed_tokens(system: str, tools: Sequence[ToolSpec]) -> int:
    """Tokens every request carries besides its messages: the system prompt and the tools."""
    schemas = sum(len(t.name) + len(t.description) + len(json.dumps(t.schema)) for t in tools)
    return text_tokens(system) + (schemas + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
