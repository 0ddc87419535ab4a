"""Window accounting: how full a request will be, and how full it may get.

The size of a request the provider has answered is known exactly: it reports the
prompt's tokens (uncached + cache reads + cache writes, ``Usage.prompt_tokens``). The
next request is that request plus the messages added since, so its size is the report
plus an estimate of only the new messages. When the history changed in front of those
(trimming, compaction, a resumed session) the whole request is estimated, scaled by how
far the last report was from our estimate of the same request (a per-model calibration).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.config import CompactionSettings
from agent.context.tokens import messages_tokens
from agent.messages import Message

MIN_ANSWER_TOKENS = 1_024  # the least room a request leaves for the reply
TRIM_HEADROOM = 0.1  # trimming must leave this share of the window below the threshold


@dataclass(frozen=True, slots=True)
class SizeAnchor:
    """A request the provider measured: its reported prompt tokens, our estimate of
    the same request, and the messages it held (compared by identity: messages are
    never changed in place, a trimmed or compacted history holds new objects)."""

    reported: int
    estimate: int
    messages: tuple[Message, ...]
    model: str

    @property
    def ratio(self) -> float:
        """Reported over estimated tokens: how this model's tokenizer compares to ours."""
        return self.reported / self.estimate if self.estimate > 0 else 1.0


@dataclass(frozen=True, slots=True)
class Size:
    """The size of a request: ``tokens``, and whether a provider report grounds it."""

    tokens: int
    measured: bool


def estimate(fixed: int, messages: Sequence[Message]) -> int:
    """Our own estimate of a request: the system prompt and tools plus the messages."""
    return fixed + messages_tokens(messages)


def measure(
    fixed: int, messages: Sequence[Message], anchor: SizeAnchor | None, model: str, calibration: float = 1.0
) -> Size:
    """The size of a request with ``messages`` (``fixed``: system prompt and tools).
    Without a report of this model's to anchor on, our estimate scaled by what was
    learned of its tokenizer earlier (``calibration``; 1.0: nothing learned)."""
    ours = estimate(fixed, messages)
    if anchor is None or anchor.model != model:
        return Size(math.ceil(ours * calibration), False)
    held = anchor.messages
    if len(held) <= len(messages) and all(a is b for a, b in zip(held, messages, strict=False)):
        return Size(anchor.reported + max(0, ours - anchor.estimate), True)
    return Size(math.ceil(ours * anchor.ratio), True)


@dataclass(frozen=True, slots=True)
class Limits:
    """How full a request may get on a model: ``threshold`` starts trimming and
    compaction; ``hard`` is the most that still leaves room for the reply."""

    window: int
    threshold: int
    hard: int

    @property
    def trim_target(self) -> int:
        """Trimming alone is enough when it gets the request this low (so the next
        request does not trim again and the cached prefix stays put)."""
        return max(0, self.threshold - int(self.window * TRIM_HEADROOM))


def limits(window: int, settings: CompactionSettings, max_tokens: int | None) -> Limits:
    """The limits of a request on a ``window``-token model; ``max_tokens`` is the
    request's explicit output limit (None: the provider fits its own to the room)."""
    reserve = max(max_tokens or 0, MIN_ANSWER_TOKENS)
    hard = max(0, window - reserve - settings.margin_tokens)
    return Limits(window, min(int(window * settings.threshold), hard), hard)


def output_room(window: int, size: int, settings: CompactionSettings) -> int:
    """The output tokens a request of ``size`` can still ask for on this window."""
    return window - size - settings.margin_tokens


def clamp_output(limit: int | None, room: int) -> int | None:
    """The request's output limit, lowered to the room left (never below 1); None stays
    None (the server decides, and counts only the prompt against the window)."""
    if limit is None:
        return None
    return max(1, min(limit, room))


@dataclass(frozen=True, slots=True)
class OverflowFacts:
    """What a context-length error says about sizes (None: it does not say)."""

    prompt_tokens: int | None = None
    window: int | None = None


_NUMBER = r"(\d[\d,]*)"
# (pattern, which group is the prompt, which is the window), as the servers word them.
_SIZE_PATTERNS: tuple[tuple[re.Pattern[str], int | None, int | None], ...] = (
    # Anthropic: "prompt is too long: 208499 tokens > 200000 maximum"
    (re.compile(rf"prompt is too long: {_NUMBER} tokens > {_NUMBER}"), 1, 2),
    # Anthropic: "input length and `max_tokens` exceed context limit: 195000 + 8192 > 200000"
    (re.compile(rf"exceed context limit: {_NUMBER} \+ {_NUMBER} > {_NUMBER}"), 1, 3),
    # llama.cpp: "request (4476 tokens) exceeds the available context size (4096 tokens)"
    (re.compile(rf"request \({_NUMBER} tokens\) exceeds the available context size \({_NUMBER} tokens\)"), 1, 2),
    # llama-cpp-python: "Requested tokens (5000) exceed context window of 4096"
    (re.compile(rf"requested tokens \({_NUMBER}\) exceed context window of {_NUMBER}"), 1, 2),
    # OpenAI, OpenRouter, vLLM: "maximum context length is 16385 tokens. However, you requested
    # 17000 tokens (15000 in the messages, 2000 in the completion)" / "your messages resulted in N tokens"
    (re.compile(rf"{_NUMBER} in the messages"), 1, None),
    (re.compile(rf"messages resulted in {_NUMBER} tokens"), 1, None),
    (re.compile(rf"request has {_NUMBER} input tokens"), 1, None),
    (re.compile(rf"maximum context length is {_NUMBER}"), None, 1),
)


def overflow_facts(message: str) -> OverflowFacts:
    """The prompt size and the window a context-length error names, where it does."""
    prompt: int | None = None
    window: int | None = None
    lowered = message.lower()
    for pattern, prompt_group, window_group in _SIZE_PATTERNS:
        found = pattern.search(lowered)
        if found is None:
            continue
        if prompt is None and prompt_group is not None:
            prompt = _int(found.group(prompt_group))
        if window is None and window_group is not None:
            window = _int(found.group(window_group))
    return OverflowFacts(prompt, window)


def _int(text: str) -> int:
    return int(text.replace(",", ""))
