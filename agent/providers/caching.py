"""Prompt-cache markers on wire requests, and the per-session cache key.

Anthropic caches the prefix of a request (tools, then system, then messages) up to a
block marked ``cache_control``; a later request reads it when its prefix is
byte-identical up to that block. At most four blocks may be marked. We mark, in this
order of need:

1. the latest message (the moving breakpoint: the next request reads all of this);
2. the system prompt (tools and system together), or the last tool when there is none;
3. the request's cache anchor, if any: the end of the stubbed tool output, which stays
   the same when trimming advances (the change comes after it), so the request right
   after a trim still reads everything before it;
4. the message that ended the previous request (the end of the conversation before the
   last assistant reply), so the previous request's entry is found at its exact place
   however many blocks the last reply added (the API looks back only about 20 blocks
   from a breakpoint);
5. the last tool (the tool definitions alone), when a place is left.

Claude through OpenRouter gets the same markers in chat content parts, which OpenRouter
forwards to Anthropic (a tool message carries its marker on the message itself). These
functions only place markers on wire dicts already built; which requests get them is
decided by the profile and the model catalog.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.messages import Message

WirePrefixes = Sequence[list[dict[str, Any]]]  # wire messages, one list per cache anchor
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


def anchor_prefixes(
    messages: list[Message], anchors: tuple[int, ...], convert: Callable[[list[Message]], list[dict[str, Any]]]
) -> WirePrefixes:
    """Each cache anchor's prefix of ``messages`` on the wire (``convert``: the wire's
    conversion). The conversion of a prefix is the prefix of the conversion, a message
    merging only into the one before it, so its last item is where the anchor lands."""
    prefixes = [convert(messages[: anchor + 1]) for anchor in anchors if 0 <= anchor < len(messages)]
    return [prefix for prefix in prefixes if prefix]


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


def mark_anthropic(params: dict[str, Any], ttl: str, anchors: WirePrefixes = ()) -> None:
    """Place up to four breakpoints on Messages ``params`` (in place). ``anchors``: each
    cache anchor's prefix on the wire (``anchor_prefixes``); its last block is marked."""
    marker = cache_control(ttl)
    messages = params.get("messages") or []
    tools = params.get("tools") or []
    places: list[dict[str, Any] | None] = []
    targets = _message_targets(messages)
    if targets:
        places.append(_last_markable(messages[targets[0]].get("content")))
    system = params.get("system")
    if isinstance(system, str) and system:
        params["system"] = [{"type": "text", "text": system}]
        places.append(params["system"][0])
    elif tools:
        places.append(tools[-1])
    for prefix in anchors:
        message, block = len(prefix) - 1, len(prefix[-1]["content"]) - 1
        content = messages[message].get("content") if message < len(messages) else None
        if isinstance(content, list) and block < len(content) and content[block].get("type") not in _UNMARKABLE:
            places.append(content[block])
    places.extend(_last_markable(messages[index].get("content")) for index in targets[1:])
    if tools:
        places.append(tools[-1])
    _mark(places, marker)


def _mark(places: list[dict[str, Any] | None], marker: dict[str, str]) -> None:
    """Mark the first places, each once, up to the limit of breakpoints."""
    marked: set[int] = set()
    for place in places:
        if place is not None and id(place) not in marked and len(marked) < MAX_BREAKPOINTS:
            place["cache_control"] = dict(marker)
            marked.add(id(place))


def _last_markable(content: Any) -> dict[str, Any] | None:
    if not isinstance(content, list):
        return None
    for block in reversed(content):
        if isinstance(block, dict) and block.get("type") not in _UNMARKABLE:
            return block
    return None


# -- chat completions (Claude through OpenRouter) --------------------------------------


def _text_parts(message: dict[str, Any]) -> None:
    content = message.get("content")
    if isinstance(content, str) and content:
        message["content"] = [{"type": "text", "text": content}]


def mark_chat(messages: list[dict[str, Any]], ttl: str, anchors: WirePrefixes = ()) -> None:
    """Place the system and message breakpoints on chat ``messages`` (in place), with the
    cache anchors (their prefixes on the wire; the last message is marked) before the
    previous request's end. User and system texts always go as content parts here, so a
    message reads the same bytes whether or not it carries a marker this time."""
    marker = cache_control(ttl)
    for message in messages:
        if message.get("role") in ("system", "user"):
            _text_parts(message)
    places: list[dict[str, Any] | None] = []
    if messages and messages[0].get("role") == "system":
        places.append(_last_markable(messages[0].get("content")))
    targets = _message_targets(messages)
    chosen = [*targets[:1], *(len(p) - 1 for p in anchors if len(p) <= len(messages)), *targets[1:]]
    places.extend(_chat_place(messages[index]) for index in chosen)
    _mark(places, marker)


def _chat_place(message: dict[str, Any]) -> dict[str, Any] | None:
    """Where a chat message takes its marker: a tool message on itself, a user or system
    message on its last part, an assistant message nowhere (its form would change)."""
    role = message.get("role")
    if role == "tool":
        return message
    return None if role == "assistant" else _last_markable(message.get("content"))
