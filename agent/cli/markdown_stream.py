"""Markdown that streams: finished blocks are printed once, only the last one is redrawn.

A terminal can only redraw the few lines at its bottom, so an answer rendered as
Markdown while it arrives is split in two. Text up to the last block boundary (a blank
line outside a code fence, followed by an unindented line) is *settled*: its
rendering cannot change any more, so it is printed for good and scrolls away like
normal output. The rest, the *active* block, is re-rendered on every refresh; when it
grows taller than ``window`` lines, its top lines are printed for good too (a long
code block or paragraph keeps streaming without ever needing the whole screen).

The class is independent of rich: ``render(markdown_source) -> lines`` is injected,
so the logic is unit-tested with plain strings and the chat passes rich's renderer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Generic, TypeVar

Line = TypeVar("Line")

_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})")


class MarkdownStream(Generic[Line]):
    """One Markdown document arriving in fragments (not thread-safe: the caller locks)."""

    def __init__(self, render: Callable[[str], list[Line]], blank: Line, window: int = 8) -> None:
        self._render = render
        self._blank = blank
        self.window = max(1, window)
        self._source = ""
        self._settled_upto = 0  # offset in _source where the active block starts
        self._printed_blocks = 0  # settled chunks printed so far (a blank line separates them)
        self._committed = 0  # lines of the active block's rendering already printed
        self._cache: tuple[str, list[Line]] | None = None

    @property
    def source(self) -> str:
        return self._source

    def feed(self, text: str) -> None:
        self._source += text

    def take_stable(self) -> list[Line]:
        """Lines that will not change any more and are not printed yet; the caller prints
        them above the live area. Returns them in order, each exactly once."""
        out: list[Line] = []
        boundary = last_boundary(self._source, self._settled_upto)
        if boundary is not None:
            chunk_end, active_start = boundary
            lines = self._render_block(self._source[self._settled_upto : chunk_end])
            out.extend(lines[self._committed :])
            self._printed_blocks += 1
            self._settled_upto = active_start
            self._committed = 0
        lines = self._active_lines()
        if len(lines) - self._committed > self.window:
            upto = len(lines) - self.window
            out.extend(lines[self._committed : upto])
            self._committed = upto
        return out

    def tail(self) -> list[Line]:
        """The lines to (re)draw in the live area now."""
        return self._active_lines()[self._committed :]

    def finish(self) -> list[Line]:
        """Every line not printed yet; the document is complete."""
        out = self.take_stable()
        rest = self.tail()
        out.extend(rest)
        self._committed += len(rest)
        return out

    def _active_lines(self) -> list[Line]:
        text = self._source[self._settled_upto :]
        if self._cache is None or self._cache[0] != text:
            self._cache = (text, self._render_block(text))
        return self._cache[1]

    def _render_block(self, text: str) -> list[Line]:
        text = text.rstrip("\n")  # where a block ends does not change how it looks
        if not text.strip():
            return []
        lines = self._render(text)
        return [self._blank, *lines] if self._printed_blocks and lines else lines


def last_boundary(text: str, start: int = 0) -> tuple[int, int] | None:
    """The last block boundary in ``text[start:]`` as (end of the settled text, start of
    the next block), or None. ``start`` must itself be at a block start (outside fences)."""
    found: tuple[int, int] | None = None
    fence: str | None = None
    blank_at: int | None = None
    seen_content = False
    offset = start
    for line in text[start:].splitlines(keepends=True):
        complete = line.endswith("\n")
        body = line.rstrip("\r\n")
        here, offset = offset, offset + len(line)
        if fence is not None:
            if complete and _closes(body, fence):
                fence = None
            continue
        if not body.strip():
            if complete and seen_content and blank_at is None:
                blank_at = here
            continue
        if blank_at is not None and not body[0].isspace():
            found = (blank_at, here)
        blank_at = None
        seen_content = True
        opened = _FENCE_OPEN.match(body)
        if opened and complete and not (opened.group(1)[0] == "`" and "`" in body[opened.end() :]):
            fence = opened.group(1)
    return found


def open_fence(text: str) -> str | None:
    """The opening line of a code fence left open at the end of ``text``, if any (so a
    document split in two can reopen it)."""
    fence: str | None = None
    opener: str | None = None
    for line in text.splitlines():
        if fence is not None:
            if _closes(line, fence):
                fence = opener = None
            continue
        opened = _FENCE_OPEN.match(line)
        if opened and not (opened.group(1)[0] == "`" and "`" in line[opened.end() :]):
            fence, opener = opened.group(1), line.strip()
    return opener


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]} and len(line) - len(line.lstrip()) <= 3
