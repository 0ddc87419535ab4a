"""Prompt-cache markers on wire requests, and the per-session cache key.

Anthropic caches the prefix of a request (tools, then system, then messages) up to a
block marked ``cache_control``; a later request reads it when its prefix is
byte-identical up to that block. At most four blocks may be marked. We mark:

1. the last tool (the tool definitions, which change least);
2. the system prompt (tools and system together);
3. the latest message (the moving breakpoint: the next request reads all of this);
4. the message that ended the previous request (the end of the conversation before the
   last assistant reply), so the previous request's entry is found at its exact place
   however many blocks the last reply added (the API looks back only about 20 blocks
   from a breakpoint).

Claude through OpenRouter gets the same markers in chat content parts, which OpenRouter
forwards to Anthropic (a tool message carries its marker on the message itself). These
functions only place markers on wire dicts already built; which requests get them is
decided by the profile and the model catalog.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

MAX_BREAKPOINTS = 4  # the Anthropic API refuses a fifth (400 invalid_request_error)
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Whether to ask for prompt caching, and the TTL of what is written ("5m" or "1h")."""

    enabled: bool = True
    ttl: str = "5m"


def cache_control(ttl: str) -> dict[str, str]:
    """The marker: the 5-minute default is sent without a ttl (the API's default)."""
    return {"type": "ephemeral", "ttl": ttl} if ttl == "1h" else {"type": "ephemeral"}


def session_cache_key(seed: str) -> str:
    """A stable routing key for one conversation, derived from its session id (or a
    random id per agent); a hash, so nothing of the seed leaks and no secret can."""
    return "stayline-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]


def _message_targets(messages: list[dict[str, Any]]) -> list[int]:
    """The latest message and the one that ended the previous request (the message
    before the last assistant reply), latest first."""
    if not messages:
        return []
    latest = len(messages) - 1
    targets = [latest]
    for index in range(latest - 1, -1, -1):
        if messages[index].get("role") == "assistant":
            if index > 0 and messages[index - 1].get("role") != "assistant":
                targets.append(index - 1)
            break
    return targets


# -- Anthropic Messages ----------------------------------------------------------------


def mark_anthropic(params: dict[str, Any], ttl: str) -> None:
    """Place up to four breakpoints on Messages ``params`` (in place)."""
    marker = cache_control(ttl)
    tools = params.get("tools")
    if tools:
        tools[-1]["cache_control"] = dict(marker)
    system = params.get("system")
    if isinstance(system, str) and system:
        params["system"] = [{"type": "text", "text": system, "cache_control": dict(marker)}]
    messages = params.get("messages") or []
    for index in _message_targets(messages):
        _mark_last_block(messages[index].get("content"), marker)


def _mark_last_block(content: Any, marker: dict[str, str]) -> bool:
    if not isinstance(content, list):
        return False
    for block in reversed(content):
        if isinstance(block, dict) and block.get("type") not in _UNMARKABLE:
            block["cache_control"] = dict(marker)
            return True
    return False


# -- chat completions (Claude through OpenRouter) --------------------------------------


def _text_parts(message: dict[str, Any]) -> None:
    content = message.get("content")
    if isinstance(content, str) and content:
        message["content"] = [{"type": "text", "text": content}]


def mark_chat(messages: list[dict[str, Any]], ttl: str) -> None:
    """Place the system and message breakpoints on chat ``messages`` (in place). User
    and system texts always go as content parts here, so a message reads the same
    bytes whether or not it carries a marker this time."""
    marker = cache_control(ttl)
    for message in messages:
        if message.get("role") in ("system", "user"):
            _text_parts(message)
    if messages and messages[0].get("role") == "system":
        _mark_last_block(messages[0].get("content"), marker)
    for index in _message_targets(messages):
        message = messages[index]
        if message.get("role") == "tool":
            message["cache_control"] = dict(marker)
        elif message.get("role") != "assistant":  # an assistant's form would change with its marker
            _mark_last_block(message.get("content"), marker)
