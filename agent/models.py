"""The model catalog: context window, real output limit, prices and per-model capabilities.

Capabilities are decided here once, from a normalised id, so no other module sniffs
model names. Matching: lower-case, provider prefix (``anthropic/``) stripped, dots to
dashes; the longest catalog key that the id starts with wins. Unknown models get a safe
default; a user override always wins.

Prices (US dollars per million tokens) match more strictly: the id must be the key
itself or the key plus a date or ``latest`` (``claude-sonnet-4-5-20250929``), so that a
new model is never priced as an older one (``gpt-4o-mini`` is not ``gpt-4o``). A model
without a price has an unknown cost until ``[models."ID"]`` in the config file gives one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from agent.pricing import Prices


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
    prices: Prices | None = None  # None: the cost of this model is unknown
    # Thinks (out of sight) before its first visible token: a longer first-token limit.
    reasoning: bool = False


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
    "deepseek-reasoner": (128_000, 64_000),
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

# USD per million tokens: input, output, cache read, cache write (5 min), cache write (1 h).
# Anthropic: platform.claude.com/docs/en/about-claude/pricing (writes 1.25x input, 1 h
# writes 2x, reads 0.1x). OpenAI: cached input as published; writes cost nothing extra.
_OPUS_NEW = Prices(5.0, 25.0, 0.50, 6.25, 10.0)
_OPUS_OLD = Prices(15.0, 75.0, 1.50, 18.75, 30.0)
_SONNET = Prices(3.0, 15.0, 0.30, 3.75, 6.0)
_PRICES: dict[str, Prices] = {
    "claude-opus-5": _OPUS_NEW,
    "claude-opus-4-8": _OPUS_NEW,
    "claude-opus-4-7": _OPUS_NEW,
    "claude-opus-4-6": _OPUS_NEW,
    "claude-opus-4-5": _OPUS_NEW,
    "claude-opus-4-1": _OPUS_OLD,
    "claude-opus-4": _OPUS_OLD,
    "claude-3-opus": _OPUS_OLD,
    "claude-sonnet-4-6": _SONNET,
    "claude-sonnet-4-5": _SONNET,
    "claude-sonnet-4": _SONNET,
    "claude-3-7-sonnet": _SONNET,
    "claude-3-5-sonnet": _SONNET,
    "claude-haiku-4-5": Prices(1.0, 5.0, 0.10, 1.25, 2.0),
    "claude-3-5-haiku": Prices(0.80, 4.0, 0.08, 1.0, 1.6),
    "claude-3-haiku": Prices(0.25, 1.25, 0.03, 0.30, 0.50),
    "gpt-5": Prices(1.25, 10.0, 0.125),
    "gpt-5-mini": Prices(0.25, 2.0, 0.025),
    "gpt-4-1": Prices(2.0, 8.0, 0.50),
    "gpt-4o": Prices(2.50, 10.0, 1.25),
    "gpt-4o-mini": Prices(0.15, 0.60, 0.075),
}
_PRICE_SUFFIX = re.compile(r"\d{8}|\d{4}-\d{2}-\d{2}|latest")
# Reasoning models: they think before the first visible token, often for minutes.
_REASONING = ("gpt-5", "o3", "o4-mini", "deepseek-reasoner", "qwq", "deepseek-r1")

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


def catalog_prices(model: str) -> Prices | None:
    """The catalog's prices for ``model``: its own key, or its key plus a date."""
    norm = normalise_model_id(model)
    for key in sorted(_PRICES, key=len, reverse=True):
        rest = norm.removeprefix(key)
        if rest == "" or (rest.startswith("-") and _PRICE_SUFFIX.fullmatch(rest[1:])):
            return _PRICES[key]
    return None


class ModelCatalog:
    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._overrides = {normalise_model_id(k): dict(v) for k, v in (overrides or {}).items()}

    def overrides_window(self, model: str) -> bool:
        """Whether the user set this model's context window (it then beats a server's)."""
        return "context_window" in self._overrides.get(normalise_model_id(model), {})

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
        info = replace(info, prices=catalog_prices(model))
        if norm.startswith(_REASONING):
            info = replace(info, reasoning=True)
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
    "reasoning": bool,
}


# Config-file price keys and the Prices field each one sets.
PRICE_KEYS = {
    "input_price": "input",
    "output_price": "output",
    "cache_read_price": "cache_read",
    "cache_write_price": "cache_write",
    "cache_write_1h_price": "cache_write_1h",
}


def _apply_override(info: ModelInfo, override: Mapping[str, Any], model: str) -> ModelInfo:
    changes: dict[str, Any] = {}
    prices = _price_override(info.prices, override, model)
    if prices is not info.prices:
        changes["prices"] = prices
    for name, value in override.items():
        expected = _OVERRIDABLE.get(name)
        if expected is None:
            continue  # other per-model settings (stale timeout...) are read by config
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f"model override {model}.{name} must be {expected.__name__}, not {value!r}")
        changes[name] = value
    return replace(info, **changes)


def _price_override(prices: Prices | None, override: Mapping[str, Any], model: str) -> Prices | None:
    """The catalog's prices with the user's price keys applied. An unknown model needs
    at least input_price and output_price to get a price."""
    given = {field: override[key] for key, field in PRICE_KEYS.items() if key in override}
    if not given:
        return prices
    for key, field in PRICE_KEYS.items():
        value = given.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise ValueError(f"model override {model}.{key} must be a number of dollars, 0 or more, not {value!r}")
    values = {field: float(value) for field, value in given.items()}
    if prices is not None:
        return replace(prices, **values)
    if "input" not in values or "output" not in values:
        raise ValueError(
            f"model {model} has no price in the catalog: give both input_price and output_price "
            "(dollars per million tokens)"
        )
    return Prices(**values)
