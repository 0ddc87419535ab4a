"""Small text helpers shared by the built-in tools."""

from __future__ import annotations

__all__ = ["BINARY_SNIFF_BYTES", "body_budget", "count_lines", "looks_binary", "plural"]

# Like git: a NUL byte near the start means binary; text encodings never contain NUL.
BINARY_SNIFF_BYTES = 8192


def looks_binary(data: bytes) -> bool:
    return b"\0" in data[:BINARY_SNIFF_BYTES]


def body_budget(max_chars: int, reserve: int) -> int:
    """Characters left for a tool's body once ``reserve`` is kept for its header and notes;
    never less than half the limit, so a tiny configured limit still shows something."""
    return max(max_chars - reserve, max_chars // 2, 1)


def count_lines(text: str) -> int:
    """Lines as an editor counts them: a trailing newline does not start a new line."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """A count with its noun: 1 line, 2 lines, 1,234 entries (``nouns`` if irregular)."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"
