"""Token usage as the provider reported it, in one neutral shape for both wires.

The fields follow the Anthropic split, because it is the one that prices correctly:
``input_tokens`` is input that was neither read from nor written to a prompt cache,
``cache_read_tokens`` and ``cache_write_tokens`` are the cached parts, so the whole
prompt is their sum (``prompt_tokens``). The chat-completions adapter converts its
``prompt_tokens`` (which includes the cached part) into this split.

A figure the provider did not send is ``None`` (unknown), never 0: a local server that
reports nothing must not look free or empty. Sums keep what is known; a sum is unknown
only when none of its terms was reported.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


def _add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one or more model calls; ``None`` means the provider did not report it."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            _add(self.input_tokens, other.input_tokens),
            _add(self.output_tokens, other.output_tokens),
            _add(self.cache_read_tokens, other.cache_read_tokens),
            _add(self.cache_write_tokens, other.cache_write_tokens),
        )

    def merged(self, update: Usage) -> Usage:
        """This usage with every figure that ``update`` reports replacing ours (a stream
        reports some figures at its start and the rest, cumulative, at its end)."""
        return Usage(
            *(
                getattr(update, f.name) if getattr(update, f.name) is not None else getattr(self, f.name)
                for f in fields(self)
            )
        )

    @property
    def reported(self) -> bool:
        """Whether the provider reported any figure at all."""
        return self.input_tokens is not None or self.output_tokens is not None or self.prompt_tokens is not None

    @property
    def prompt_tokens(self) -> int | None:
        """The whole prompt: uncached input plus cache reads plus cache writes."""
        parts = (self.input_tokens, self.cache_read_tokens, self.cache_write_tokens)
        if all(p is None for p in parts):
            return None
        return sum(p or 0 for p in parts)

    def to_dict(self) -> dict[str, Any]:
        """The ``usage`` object of ``--json`` and results: unknown figures are null."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "prompt_tokens": self.prompt_tokens,
        }
