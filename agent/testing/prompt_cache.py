"""The simulator's prompt cache: what the real APIs would read from cache and write.

Two schemes, as documented:

- **Breakpoints** (Anthropic Messages; Claude through OpenRouter, which forwards the
  markers): a request renders as blocks (tools, system, messages, in that order); a
  block marked ``cache_control`` is a breakpoint. A breakpoint reads the longest prefix
  cached by an earlier request that ends at it or up to 20 blocks before it, and writes
  its own prefix when that prefix reaches the model's minimum cacheable length (below it
  nothing is cached, silently). Entries live for their TTL ("5m" or "1h") from last use.
- **Automatic** (OpenAI chat completions): a prompt of 1,024 tokens or more is cached;
  a later prompt with the same beginning reads the shared prefix in steps of 128 tokens.
  ``prompt_cache_key`` (or OpenRouter's ``x-session-id``) keeps a conversation on its
  own cache; entries live about ten minutes from last use.

Tokens are estimated at four characters of canonical JSON each: deterministic, which is
what the tests need. The clock is injectable so TTLs can be tested without waiting.

The model facts here (minimum cacheable lengths) are the simulator's own, from the
providers' documentation, not read from the agent's catalog: an oracle that shares the
code under test's table would share its mistakes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.testing.script import RecordedRequest

CHARS_PER_TOKEN = 4
LOOKBACK_BLOCKS = 20  # how far back from a breakpoint Anthropic looks for an earlier entry
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
OPENAI_MIN_TOKENS = 1_024
OPENAI_STEP = 128
OPENAI_TTL = 600.0  # "5 to 10 minutes of inactivity"
OPENAI_KEEP = 64  # prompts remembered per cache shard

# Minimum cacheable prompt length by Claude model (Anthropic prompt-caching docs, as
# quoted in anthropics/anthropic-sdk-python#1194 for the 4.x models; Opus 4.7/4.8 and
# the 5 models from the 2026 updates). Longest matching prefix wins.
_CLAUDE_MINIMUM = (
    ("claude-opus-5", 512),
    ("claude-opus-4-8", 1_024),
    ("claude-opus-4-7", 2_048),
    ("claude-opus-4-6", 4_096),
    ("claude-opus-4-5", 4_096),
    ("claude-haiku-4-5", 4_096),
    ("claude-3-5-haiku", 2_048),
    ("claude-3-haiku", 2_048),
    ("claude", 1_024),  # Sonnet 3.7 to 5, Opus 4 and 4.1, and the rest
)

Clock = Callable[[], float]


def minimum_cacheable_tokens(model: str) -> int:
    """The smallest prefix the API caches for ``model``."""
    norm = re.sub(r"[._]", "-", model.lower().rsplit("/", 1)[-1])
    if "claude" not in norm:
        return OPENAI_MIN_TOKENS
    norm = norm[norm.index("claude") :]
    for prefix, tokens in _CLAUDE_MINIMUM:
        if norm.startswith(prefix):
            return tokens
    return OPENAI_MIN_TOKENS


def estimate_tokens(text: str) -> int:
    """Four characters a token, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class PromptUsage:
    """A request's prompt as the API would bill it: the whole prompt, the part read
    from cache and the part written (``write_1h`` of it at the 1-hour TTL)."""

    prompt_tokens: int
    cache_read: int = 0
    cache_write: int = 0
    write_1h: int = 0

    @property
    def input_tokens(self) -> int:
        """The uncached part (Anthropic's ``input_tokens``)."""
        return self.prompt_tokens - self.cache_read - self.cache_write


@dataclass(frozen=True, slots=True)
class Block:
    """One rendered block of a request: its canonical text (no markers) and its
    breakpoint TTL when it is marked ``cache_control``."""

    text: str
    ttl: str | None = None


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _marker(item: Any) -> str | None:
    marker = item.get("cache_control") if isinstance(item, dict) else None
    if not isinstance(marker, dict):
        return None
    return str(marker.get("ttl") or "5m")


def _bare(item: Any) -> Any:
    return {k: v for k, v in item.items() if k != "cache_control"} if isinstance(item, dict) else item


def _text_blocks(content: Any) -> list[Any]:
    """Content as blocks: a string is one text block (both wires render it so)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content) if isinstance(content, list) else []


def _message_blocks(role: str, items: list[Any], message_marker: str | None = None) -> list[Block]:
    blocks: list[Block] = []
    for index, item in enumerate(items):
        head = f"\n{role}:" if index == 0 else " "  # message boundaries are part of the prefix
        ttl = _marker(item) or (message_marker if index == len(items) - 1 else None)
        blocks.append(Block(head + _dumps(_bare(item)), ttl))
    return blocks


def anthropic_blocks(body: dict[str, Any]) -> list[Block]:
    """A Messages request in render order: tools, system, messages."""
    blocks = [Block("tool:" + _dumps(_bare(t)), _marker(t)) for t in body.get("tools") or [] if isinstance(t, dict)]
    blocks += _message_blocks("system", _text_blocks(body.get("system")))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            blocks += _message_blocks(str(message.get("role")), _text_blocks(message.get("content")))
    return blocks


def chat_blocks(body: dict[str, Any]) -> list[Block]:
    """A chat request as the blocks a gateway renders for Anthropic: tools, system,
    then messages; a message-level ``cache_control`` marks the message's last block."""
    blocks = [Block("tool:" + _dumps(_bare(t)), _marker(t)) for t in body.get("tools") or [] if isinstance(t, dict)]
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role"))
        items = _text_blocks(message.get("content"))
        if role == "tool":
            items = [{"tool_call_id": message.get("tool_call_id"), "content": [_bare(i) for i in items]}]
        items += list(message.get("tool_calls") or [])
        blocks += _message_blocks(role, items, _marker(message))
    return blocks


def prompt_size(wire: str, flavour: str, body: dict[str, Any]) -> int:
    """The whole prompt's tokens, as ``PromptCache.usage`` counts and reports them."""
    if wire == "anthropic":
        return sum(estimate_tokens(b.text) for b in anthropic_blocks(body))
    blocks = chat_blocks(body)
    if flavour == "openrouter" and "claude" in str(body.get("model") or "").lower():
        return sum(estimate_tokens(b.text) for b in blocks)
    return estimate_tokens("".join(b.text for b in blocks))


def request_blocks(request: RecordedRequest) -> list[Block]:
    """A recorded request's blocks, for its wire."""
    return anthropic_blocks(request.body) if request.wire == "anthropic" else chat_blocks(request.body)


def prefix_changes(requests: Sequence[RecordedRequest]) -> list[str]:
    """Where a request does not begin with everything the request before it sent
    (markers aside): each such change costs a cache miss from that block on."""
    problems: list[str] = []
    for index in range(1, len(requests)):
        before = [b.text for b in request_blocks(requests[index - 1])]
        after = [b.text for b in request_blocks(requests[index])]
        for position, text in enumerate(before):
            if position >= len(after) or after[position] != text:
                shown = text.strip()[:60]
                problems.append(f"request {index} changed block {position} of request {index - 1}: {shown}")
                break
    return problems


def count_markers(blocks: list[Block]) -> int:
    """How many breakpoints a request carries."""
    return sum(1 for block in blocks if block.ttl is not None)


def _prefix_keys(model: str, blocks: list[Block]) -> list[str]:
    running = hashlib.sha256(model.encode())
    keys: list[str] = []
    for block in blocks:
        running.update(b"\x00" + block.text.encode())
        keys.append(running.hexdigest())
    return keys


def _common_prefix_len(a: str, b: str) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:  # binary search on slices: C-speed comparisons
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


@dataclass(slots=True)
class _Prompt:
    text: str
    cacheable: int  # tokens of it a later prompt may read
    expires: float


@dataclass(slots=True)
class _Entry:
    expires: float
    ttl: float


@dataclass
class PromptCache:
    """What the simulator has cached, per model; thread-safe."""

    clock: Clock
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _prompts: dict[tuple[str, str | None], list[_Prompt]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def usage(self, request: RecordedRequest) -> PromptUsage:
        """Look the request's prefix up, remember what it writes, and say how the
        API would bill its prompt."""
        body = request.body
        model = str(body.get("model") or "")
        with self._lock:
            if request.wire == "anthropic":
                return self._breakpoints(model, anthropic_blocks(body))
            if request.flavour == "openrouter" and "claude" in model.lower():
                return self._breakpoints(model, chat_blocks(body))
            key = body.get("prompt_cache_key") or request.headers.get("x-session-id")
            return self._automatic(model, str(key) if key else None, chat_blocks(body))

    def clear(self) -> None:
        """Forget everything (as if every entry had expired)."""
        with self._lock:
            self._entries.clear()
            self._prompts.clear()

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.expires <= now:
            return None
        return entry

    def _breakpoints(self, model: str, blocks: list[Block]) -> PromptUsage:
        now = self.clock()
        prefix = list(itertools.accumulate(estimate_tokens(b.text) for b in blocks))
        total = prefix[-1] if prefix else 0
        keys = _prefix_keys(model, blocks)
        marks = [i for i, b in enumerate(blocks) if b.ttl is not None]
        read_at = -1
        for mark in marks:
            for position in range(mark, max(-1, mark - LOOKBACK_BLOCKS - 1), -1):
                if self._live(keys[position], now) is not None:
                    read_at = max(read_at, position)
                    break
        for position in [read_at, *(m for m in marks if m <= read_at)]:
            entry = self._live(keys[position], now) if position >= 0 else None
            if entry is not None:
                entry.expires = now + entry.ttl  # a hit refreshes the entry for free
        minimum = minimum_cacheable_tokens(model)
        written_to = last_1h = -1
        for mark in marks:
            if mark > read_at and prefix[mark] >= minimum:
                ttl = TTL_SECONDS.get(blocks[mark].ttl or "5m", TTL_SECONDS["5m"])
                self._entries[keys[mark]] = _Entry(now + ttl, ttl)
                written_to = mark
                last_1h = mark if blocks[mark].ttl == "1h" else last_1h
        read = prefix[read_at] if read_at >= 0 else 0
        write = prefix[written_to] - read if written_to > read_at else 0
        # 1-hour entries come before 5-minute ones (an API rule): the write up to the last one.
        write_1h = prefix[last_1h] - read if last_1h > read_at else 0
        return PromptUsage(total, read, write, write_1h)

    def _automatic(self, model: str, key: str | None, blocks: list[Block]) -> PromptUsage:
        now = self.clock()
        text = "".join(b.text for b in blocks)
        total = estimate_tokens(text)
        shard = self._prompts.setdefault((model, key), [])
        shard[:] = [p for p in shard if p.expires > now]
        best = 0
        for prompt in shard:
            shared = min(_common_prefix_len(text, prompt.text) // CHARS_PER_TOKEN, prompt.cacheable)
            if shared >= OPENAI_MIN_TOKENS:
                prompt.expires = now + OPENAI_TTL
                best = max(best, shared)
        read = best // OPENAI_STEP * OPENAI_STEP
        if total >= OPENAI_MIN_TOKENS:
            shard.append(_Prompt(text, total // OPENAI_STEP * OPENAI_STEP, now + OPENAI_TTL))
            del shard[:-OPENAI_KEEP]
        return PromptUsage(total, read, 0)
