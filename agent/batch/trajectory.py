"""A conversation in OpenAI chat format, the shape most evaluation and training tools read.

A neutral converter (no provider code): the system prompt first, then one message per
``Message``; assistant tool calls as ``tool_calls`` with JSON-encoded arguments; each tool
result as its own ``role: "tool"`` message; reasoning, when there is any, as
``reasoning_content`` (the field vLLM and DeepSeek use).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from agent.messages import Message, TextPart, ThinkingPart


def to_openai_chat(messages: Iterable[Message], system: str | None = None) -> list[dict[str, Any]]:
    """The messages as OpenAI chat completion messages."""
    chat: list[dict[str, Any]] = []
    if system:
        chat.append({"role": "system", "content": system})
    for message in messages:
        if message.role == "tool":
            chat.extend(
                {"role": "tool", "tool_call_id": result.call_id, "content": result.content}
                for result in message.tool_results
            )
        elif message.role == "assistant":
            chat.append(_assistant(message))
        else:
            chat.append({"role": "user", "content": "".join(p.text for p in message.parts if isinstance(p, TextPart))})
    return chat


def _assistant(message: Message) -> dict[str, Any]:
    calls = message.tool_calls
    entry: dict[str, Any] = {"role": "assistant", "content": message.text or (None if calls else "")}
    reasoning = "".join(p.text for p in message.parts if isinstance(p, ThinkingPart) and p.text)
    if reasoning:
        entry["reasoning_content"] = reasoning
    if calls:
        entry["tool_calls"] = [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
            }
            for call in calls
        ]
    return entry
