"""Joining a continued reply onto the text already shown, so nothing shows twice.

After a cut, the model is asked to continue from the text the user already saw. Models
that cannot take that text as a prefill (Claude 4.6+, chat-completions models) write a
new reply, and it does not always start where the old one stopped: it may repeat the
last words, or restart the whole answer. ``SeamJoiner`` holds the start of the new
reply back until it can tell, drops what repeats, and lets the rest through:

- a restart from the beginning: everything up to the end of the shown text is dropped;
- a repeated tail ("...the quick brown" + "brown fox"): the repeated words are dropped,
  when the overlap starts at a word boundary of the shown text;
- whitespace the shown text ended with, repeated: dropped ("Hello " + " world").

The wait is bounded by the length of the shown text; a reply that diverges from both
candidates is let through at once.
"""

from __future__ import annotations

TAIL_WINDOW = 400  # how far back a repeated tail is looked for


class SeamJoiner:
    def __init__(self, shown: str) -> None:
        self._core = shown.rstrip()
        self._pending_space = shown[len(self._core) :]
        self._tail = self._core[-TAIL_WINDOW:]
        self._buffer = ""
        self._decided = not self._core
        self.dropped = 0  # characters of the new reply dropped as repeats

    @property
    def holding(self) -> bool:
        """Whether text is held back, waiting for the decision."""
        return not self._decided and bool(self._buffer)

    def feed(self, text: str) -> str:
        """The part of a new chunk to show now."""
        if self._decided:
            return self._strip_repeated_space(text) if self._pending_space else text
        self._buffer += text
        return self._decide(final=False)

    def finish(self) -> str:
        """The held text to show when the text block ends (a tool call begins, or the
        stream ended); repeats are still dropped."""
        if self._decided:
            return ""
        return self._decide(final=True)

    def _decide(self, final: bool) -> str:
        lead = len(self._buffer) - len(self._buffer.lstrip())
        body = self._buffer[lead:]
        if not body:  # nothing to tell by yet; at the end, only the whitespace seam is left
            return self._release(0) if final and self._buffer else ""
        core = self._core
        if body.startswith(core):  # a whole restart
            return self._release(lead + len(core))
        if not final and (core.startswith(body) or self._tail_may_grow(body)):
            return ""
        if final and body and core.startswith(body):
            return self._release(len(self._buffer))  # a restart cut short: all of it repeats
        overlap = self._tail_overlap(body)
        return self._release(lead + overlap if overlap else 0)

    def _tail_may_grow(self, body: str) -> bool:
        """Whether ``body`` could still become a longer repeat of the shown tail."""
        tail = self._tail
        start = tail.find(body)
        while start != -1:
            if len(tail) - start > len(body) and _word_start(tail, start):
                return True
            start = tail.find(body, start + 1)
        return False

    def _tail_overlap(self, body: str) -> int:
        tail = self._tail
        for size in range(min(len(tail), len(body)), 0, -1):
            start = len(tail) - size
            if not tail.endswith(body[:size]) or not _word_start(tail, start):
                continue
            whole_word = size == len(body) or not body[size].isalnum()
            if size >= 2 or whole_word:
                return size
        return 0

    def _release(self, drop: int) -> str:
        self._decided = True
        self.dropped += drop
        rest = self._buffer[drop:]
        self._buffer = ""
        return self._strip_repeated_space(rest)

    def _strip_repeated_space(self, text: str) -> str:
        """Drop the start of ``text`` that repeats the whitespace the shown text ended with;
        the check lasts until the first character that is shown."""
        pending, common = self._pending_space, 0
        while common < min(len(text), len(pending)) and text[common] == pending[common]:
            common += 1
        self.dropped += common
        rest = text[common:]
        self._pending_space = pending[common:] if not rest else ""
        return rest


def _word_start(text: str, index: int) -> bool:
    return index == 0 or not text[index - 1].isalnum()
