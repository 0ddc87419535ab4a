"""The model catalog: context window, real output limit and per-model capabilities.

Capabilities are decided here once, from a normalised id, so no other module sniffs
model names. Matching: lower-case, provider prefix (``anthropic/``) stripped, dots to
dashes; the longest catalog key that the id starts with wins. Unknown models get a safe
default; a user override always wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelInfo:
    key: str
    context_window: int
    max_output_tokens: int
    family: str = "other"  # "claude" enables the Claude-specific quirks of profiles
    eager_input_streaming: bool = False  # per-tool fine-grained tool streaming is accepted
    known: bool = True
    # Continues a request that ends with its own partial reply (assistant prefill).
    # Claude before 4.6 does; Claude 4.6+ refuses it with a 400, and chat-completions
    # models answer a trailing assistant message with a new reply. Unknown: no.
    accepts_prefill: bool = False


_CLAUDE_OPUS_NEW = (200_000, 128_000)
_CATALOG: dict[str, tuple[int, int]] = {
    # Anthropic (output limits from PROTOCOL-NOTES.md)
    "claude-opus-5": _CLAUDE_OPUS_NEW,
    "claude-opus-4-8": _CLAUDE_OPUS_NEW,
    "claude-opus-4-7": _CLAUDE_OPUS_NEW,
    "claude-opus-4-6": _CLAUDE_OPUS_NEW,
    "claude-opus-4-5": (200_000, 64_000),
    "claude-opus-4-1": (200_000, 32_000),
    "claude-opus-4": (200_000, 32_000),
    "claude-sonnet-5": (200_000, 64_000),
    "claude-sonnet-4-6": (200_000, 64_000),
    "claude-sonnet-4-5": (200_000, 64_000),
    "claude-sonnet-4": (200_000, 64_000),
    "claude-haiku-4-5": (200_000, 64_000),
    "claude-3-7-sonnet": (200_000, 64_000),
    "claude-3-5": (200_000, 8_192),
    "claude-3": (200_000, 4_096),
    # OpenAI
    "gpt-5": (400_000, 128_000),
    "gpt-4-1": (1_047_576, 32_768),
    "gpt-4o": (128_000, 16_384),
    "o3": (200_000, 100_000),
    "o4-mini": (200_000, 100_000),
    # Others commonly reached through OpenRouter or compatible servers
    "minimax-m2": (204_800, 131_072),
    "deepseek-chat": (128_000, 8_192),
    "qwen3-coder": (262_144, 65_536),
}

# Claude models from before 4.6, which still continue an assistant prefill.
_ACCEPTS_PREFILL = frozenset(
    {
        "claude-opus-4-5",
        "claude-opus-4-1",
        "claude-opus-4",
        "claude-sonnet-4-5",
        "claude-sonnet-4",
        "claude-haiku-4-5",
        "claude-3-7-sonnet",
        "claude-3-5",
        "claude-3",
    }
)

# Models known to refuse per-tool eager input streaming.
_REJECTS_EAGER_STREAMING = ("minimax",)

UNKNOWN_CONTEXT_WINDOW = 128_000
UNKNOWN_MAX_OUTPUT = 8_192


def normalise_model_id(model: str) -> str:
    name = model.strip().lower()
    if "/" in name:
        name = name.rsplit("/", 1)[1]
    name = name.split(":", 1)[0]  # OpenRouter variants such as ":thinking" or ":free"
    return re.sub(r"[._]", "-", name)


class ModelCatalog:
    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._overrides = {normalise_model_id(k): dict(v) for k, v in (overrides or {}).items()}

    def lookup(self, model: str) -> ModelInfo:
        norm = normalise_model_id(model)
        key = max((k for k in _CATALOG if norm.startswith(k)), key=len, default=None)
        if key is None:
            info = ModelInfo(norm, UNKNOWN_CONTEXT_WINDOW, UNKNOWN_MAX_OUTPUT, known=False)
        else:
            window, output = _CATALOG[key]
            claude = key.startswith("claude")
            info = ModelInfo(
                key,
                window,
                output,
                "claude" if claude else "other",
                eager_input_streaming=claude,
                accepts_prefill=key in _ACCEPTS_PREFILL,
            )
        if any(marker in norm for marker in _REJECTS_EAGER_STREAMING):
            info = replace(info, eager_input_streaming=False)
        override = self._overrides.get(norm)
        if override:
            info = _apply_override(info, override, model)
        return info


_OVERRIDABLE = {
    "context_window": int,
    "max_output_tokens": int,
    "eager_input_streaming": bool,
    "family": str,
    "accepts_prefill": bool,
}


def _apply_override(info: ModelInfo, override: Mapping[str, Any], model: str) -> ModelInfo:
    changes: dict[str, Any] = {}
    for name, value in override.items():
        expected = _OVERRIDABLE.get(name)
        if expected is None:
            continue  # other per-model settings (stale timeout...) are read by config
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f"model override {model}.{name} must be {expected.__name__}, not {value!r}")
        changes[name] = value
    return replace(info, **changes)
