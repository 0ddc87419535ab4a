"""Request validation modelled on what the real APIs refuse with a 400.

Each validator returns None for a valid body, or the error message (worded like the real
API's) for the first problem found.
"""

from __future__ import annotations

from typing import Any


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


def _is_empty(content: Any) -> bool:
    return content is None or content == "" or content == []


def _block_ids(content: Any, block_type: str, key: str) -> list[str]:
    return [str(b.get(key)) for b in _blocks(content) if b.get("type") == block_type]


def validate_anthropic(body: dict[str, Any]) -> str | None:
    if "max_tokens" not in body:
        return "max_tokens: Field required"
    if "messages" not in body:
        return "messages: Field required"
    messages = body["messages"]
    if not isinstance(messages, list):
        return "messages: Input should be a valid list"
    if not messages:
        return "messages: at least one message is required"
    last = len(messages) - 1
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return f"messages.{i}: Input should be a valid dictionary"
        role = msg.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if "content" not in msg:
            return f"messages.{i}.content: Field required"
        content = msg["content"]
        if _is_empty(content) and not (i == last and role == "assistant"):
            return (
                f"messages.{i}: all messages must have non-empty content except for the optional "
                "final assistant message"
            )
        problem = _anthropic_blocks(i, content)
        if problem:
            return problem
        problem = _anthropic_tool_pairing(messages, i)
        if problem:
            return problem
    final = messages[last]
    if final.get("role") == "assistant" and _final_text(final["content"]).endswith((" ", "\n", "\t", "\r")):
        return "messages: final assistant content cannot end with trailing whitespace"
    return None


def _final_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    blocks = _blocks(content)
    if blocks and blocks[-1].get("type") == "text":
        return str(blocks[-1].get("text", ""))
    return ""


def _anthropic_blocks(i: int, content: Any) -> str | None:
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f"messages.{i}.content: Input should be a valid string or list"
    for j, block in enumerate(content):
        if not isinstance(block, dict) or "type" not in block:
            return f"messages.{i}.content.{j}.type: Field required"
        kind = block["type"]
        if kind == "text" and not block.get("text"):
            return "messages: text content blocks must be non-empty"
        if kind == "thinking" and not block.get("signature"):
            return f"messages.{i}.content.{j}.thinking.signature: Field required"
        if kind == "tool_use" and not block.get("id"):
            return f"messages.{i}.content.{j}.tool_use.id: Field required"
    return None


def _anthropic_tool_pairing(messages: list[Any], i: int) -> str | None:
    msg = messages[i]
    uses = _block_ids(msg["content"], "tool_use", "id")
    if uses:
        if msg.get("role") != "assistant":
            return f"messages.{i}.content: `tool_use` blocks can only be in `assistant` messages"
        following = messages[i + 1] if i + 1 < len(messages) else None
        answered: set[str] = set()
        if isinstance(following, dict) and following.get("role") == "user":
            answered = set(_block_ids(following.get("content"), "tool_result", "tool_use_id"))
        missing = [u for u in uses if u not in answered]
        if missing:
            return (
                f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                "`tool_result` block in the next message."
            )
    results = _block_ids(msg["content"], "tool_result", "tool_use_id")
    if results:
        if msg.get("role") != "user":
            return f"messages.{i}.content: `tool_result` blocks can only be in `user` messages"
        previous = messages[i - 1] if i > 0 else None
        requested = set(_block_ids(previous.get("content"), "tool_use", "id")) if isinstance(previous, dict) else set()
        unexpected = [r for r in results if r not in requested]
        if unexpected:
            return (
                f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{', '.join(unexpected)}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
    return None


_OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def validate_openai(body: dict[str, Any]) -> str | None:
    if "model" not in body or not body["model"]:
        return "you must provide a model parameter"
    if "messages" not in body:
        return "Missing required parameter: 'messages'."
    messages = body["messages"]
    if not isinstance(messages, list):
        return "Invalid type for 'messages': expected an array, but got an object instead."
    if not messages:
        return "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array."
    pending: list[str] = []
    requested: set[str] = set()
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return f"Invalid type for 'messages[{i}]': expected an object, but got a string instead."
        role = msg.get("role")
        if role not in _OPENAI_ROLES:
            return (
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'."
            )
        if role != "tool" and pending:
            return _unanswered(pending)
        content = msg.get("content")
        if role in ("user", "system", "developer") and _is_empty(content):
            if content == []:
                return (
                    f"Invalid 'messages[{i}].content': empty array. Expected an array with minimum "
                    "length 1, but got an empty array instead."
                )
            return (
                f"Invalid 'messages[{i}].content': string too short. Expected a string with minimum "
                "length 1, but got an empty string instead."
            )
        if role == "assistant":
            calls = msg.get("tool_calls") or []
            if content is None and not calls:
                return f"Invalid value for 'messages[{i}].content': expected a string, got null."
            ids = [str(c.get("id")) for c in calls if isinstance(c, dict)]
            pending = list(ids)
            requested = set(ids)
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in requested:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    "message with 'tool_calls'."
                )
            if call_id in pending:
                pending.remove(call_id)
        else:
            requested = set()
    if pending:
        return _unanswered(pending)
    return None


def _unanswered(pending: list[str]) -> str:
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: " + ", ".join(pending)
    )
