"""The checks behind the simulator's rules (``rules.py``), worded like the real APIs.

Each check takes the request body and returns None when it passes, or the error
message the real API gives for the first problem it finds.
"""

from __future__ import annotations

import re
from typing import Any

from agent.testing.prompt_cache import prompt_size
from agent.testing.script import RecordedRequest

_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


def _is_empty(content: Any) -> bool:
    return content is None or content == "" or content == []


def _block_ids(content: Any, block_type: str, key: str) -> list[str]:
    return [str(b.get(key)) for b in _blocks(content) if b.get("type") == block_type]


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


# -- Anthropic Messages ------------------------------------------------------------------


def max_tokens_required(body: dict[str, Any]) -> str | None:
    return "max_tokens: Field required" if "max_tokens" not in body else None


def anthropic_shape(body: dict[str, Any]) -> str | None:
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
        if not isinstance(content, str | list):
            return f"messages.{i}.content: Input should be a valid string or list"
        for j, block in enumerate(content if isinstance(content, list) else []):
            if not isinstance(block, dict) or "type" not in block:
                return f"messages.{i}.content.{j}.type: Field required"
    return None


def anthropic_text_blocks(body: dict[str, Any]) -> str | None:
    """Empty text blocks are refused anywhere; whitespace-only text is refused when the
    message has no other text with something in it."""
    for msg in _messages(body):
        content = msg.get("content")
        texts = (
            [content]
            if isinstance(content, str)
            else [str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text"]
        )
        if any(t == "" for t in texts) and isinstance(content, list):
            return "messages: text content blocks must be non-empty"
        if texts and any(not t.strip() for t in texts if t) and not any(t.strip() for t in texts):
            return "messages: text content blocks must contain non-whitespace text"
    return None


def thinking_signature(body: dict[str, Any]) -> str | None:
    for i, msg in enumerate(_messages(body)):
        for j, block in enumerate(_blocks(msg.get("content"))):
            if block.get("type") == "thinking" and not block.get("signature"):
                return f"messages.{i}.content.{j}.thinking.signature: Field required"
    return None


def tool_use_id_pattern(body: dict[str, Any]) -> str | None:
    for i, msg in enumerate(_messages(body)):
        for j, block in enumerate(_blocks(msg.get("content"))):
            if block.get("type") != "tool_use":
                continue
            if not block.get("id"):
                return f"messages.{i}.content.{j}.tool_use.id: Field required"
            if not _TOOL_USE_ID.match(str(block["id"])):
                return f"messages.{i}.content.{j}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
    return None


def tool_use_id_unique(body: dict[str, Any]) -> str | None:
    seen: set[str] = set()
    for i, msg in enumerate(_messages(body)):
        for j, block in enumerate(_blocks(msg.get("content"))):
            if block.get("type") == "tool_use":
                call_id = str(block.get("id"))
                if call_id in seen:
                    return f"messages.{i}.content.{j}: `tool_use` ids must be unique"
                seen.add(call_id)
    return None


def tool_pairing(body: dict[str, Any]) -> str | None:
    messages = _messages(body)
    for i, msg in enumerate(messages):
        uses = _block_ids(msg["content"], "tool_use", "id")
        if uses:
            if msg.get("role") != "assistant":
                return f"messages.{i}.content: `tool_use` blocks can only be in `assistant` messages"
            following = messages[i + 1] if i + 1 < len(messages) else None
            answered: set[str] = set()
            if following is not None and following.get("role") == "user":
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
            requested = set(_block_ids(previous.get("content"), "tool_use", "id")) if previous else set()
            unexpected = [r for r in results if r not in requested]
            if unexpected:
                return (
                    f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{', '.join(unexpected)}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
    return None


def final_assistant_whitespace(body: dict[str, Any]) -> str | None:
    messages = _messages(body)
    if not messages or messages[-1].get("role") != "assistant":
        return None
    content = messages[-1].get("content")
    blocks = _blocks(content)
    text = (
        content
        if isinstance(content, str)
        else (str(blocks[-1].get("text", "")) if blocks and blocks[-1].get("type") == "text" else "")
    )
    if text.endswith((" ", "\n", "\t", "\r")):
        return "messages: final assistant content cannot end with trailing whitespace"
    return None


# -- OpenAI chat completions ---------------------------------------------------------------

_OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def openai_shape(body: dict[str, Any]) -> str | None:
    if "model" not in body or not body["model"]:
        return "you must provide a model parameter"
    if "messages" not in body:
        return "Missing required parameter: 'messages'."
    messages = body["messages"]
    if not isinstance(messages, list):
        return "Invalid type for 'messages': expected an array, but got an object instead."
    if not messages:
        return "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array."
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return f"Invalid type for 'messages[{i}]': expected an object, but got a string instead."
        role = msg.get("role")
        if role not in _OPENAI_ROLES:
            return (
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'."
            )
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
        if role == "assistant" and content is None and not msg.get("tool_calls"):
            return f"Invalid value for 'messages[{i}].content': expected a string, got null."
    return None


def openai_tool_pairing(body: dict[str, Any]) -> str | None:
    pending: list[str] = []
    requested: set[str] = set()
    for msg in _messages(body):
        role = msg.get("role")
        if role != "tool" and pending:
            return _unanswered(pending)
        if role == "assistant":
            ids = [str(c.get("id")) for c in msg.get("tool_calls") or [] if isinstance(c, dict)]
            pending, requested = list(ids), set(ids)
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
    return _unanswered(pending) if pending else None


# -- prompt caching ------------------------------------------------------------------------

MAX_CACHE_BREAKPOINTS = 4


def _marked(items: Any) -> int:
    return sum(1 for item in _blocks(items) if isinstance(item.get("cache_control"), dict))


def _too_many_breakpoints(found: int) -> str | None:
    if found <= MAX_CACHE_BREAKPOINTS:
        return None
    return f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {found}."


def cache_control_limit(body: dict[str, Any]) -> str | None:
    """Anthropic counts every marked block: tools, system blocks, message blocks and the
    blocks inside a tool_result."""
    found = _marked(body.get("tools")) + _marked(body.get("system"))
    for msg in _messages(body):
        blocks = _blocks(msg.get("content"))
        found += _marked(blocks)
        found += sum(_marked(b.get("content")) for b in blocks if b.get("type") == "tool_result")
    return _too_many_breakpoints(found)


def chat_cache_control_limit(body: dict[str, Any]) -> str | None:
    """The same count on a chat body bound for Anthropic: marked tools, content parts and
    messages marked as a whole (each becomes one marked block)."""
    tools = _blocks(body.get("tools"))
    found = _marked(tools) + _marked([t.get("function") for t in tools])
    for msg in _messages(body):
        found += _marked(msg.get("content")) + (1 if isinstance(msg.get("cache_control"), dict) else 0)
    return _too_many_breakpoints(found)


def _unanswered(pending: list[str]) -> str:
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: " + ", ".join(pending)
    )


# -- the context window (any wire) ---------------------------------------------------------


def prompt_tokens(request: RecordedRequest) -> int:
    """The simulator's token count of a request's prompt (four characters of its canonical
    JSON a token, deterministic): what its window rules count, and what it reports as
    usage when a reply does not give its own."""
    return prompt_size(request.wire, request.flavour, request.body)


def _output_tokens(body: dict[str, Any]) -> int:
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def anthropic_context_window(body: dict[str, Any], window: int) -> str | None:
    prompt, output = prompt_size("anthropic", "anthropic", body), _output_tokens(body)
    if prompt > window:
        return f"prompt is too long: {prompt} tokens > {window} maximum"
    if prompt + output > window:
        return (
            f"input length and `max_tokens` exceed context limit: {prompt} + {output} > {window}, "
            "decrease input length or `max_tokens` and try again"
        )
    return None


def openai_context_window(body: dict[str, Any], window: int) -> str | None:
    prompt, output = prompt_size("openai", "openai", body), _output_tokens(body)
    if prompt + output <= window:
        return None
    if not output:
        return (
            f"This model's maximum context length is {window} tokens. However, your messages resulted in "
            f"{prompt} tokens. Please reduce the length of the messages."
        )
    return (
        f"This model's maximum context length is {window} tokens. However, you requested {prompt + output} "
        f"tokens ({prompt} in the messages, {output} in the completion). Please reduce the length of the "
        "messages or completion."
    )


def openrouter_context_window(body: dict[str, Any], window: int) -> str | None:
    prompt, output = prompt_size("openai", "openrouter", body), _output_tokens(body)
    if prompt + output <= window:
        return None
    return (
        f"This endpoint's maximum context length is {window} tokens. However, you requested about "
        f"{prompt + output} tokens ({prompt} of text input, {output} in the output). Please reduce the length "
        'of either one, or use the "middle-out" transform to compress your prompt automatically.'
    )
