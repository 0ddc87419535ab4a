"""Exact joins of a reply that was continued after a cut.

The shown text may end in whitespace that could not be sent back (the Anthropic API
refuses a final assistant message ending in whitespace). If the continuation starts
by repeating that whitespace, the repeat is dropped; otherwise the continuation is
appended as is. "Hello " + "world." and "Hello " + " world." both give "Hello world.".
"""

from __future__ import annotations


class SeamTrimmer:
    def __init__(self, shown: str) -> None:
        stripped = shown.rstrip()
        self._pending = shown[len(stripped) :]

    def feed(self, text: str) -> str:
        """The part of a continuation chunk to show."""
        if not self._pending or not text:
            return text
        common = 0
        while common < min(len(text), len(self._pending)) and text[common] == self._pending[common]:
            common += 1
        if common == len(text):
            self._pending = self._pending[common:]
            return ""
        self._pending = ""
        return text[common:]
