"""Text that cannot drive the terminal it is written to.

Model text and tool output are untrusted: an escape sequence in them can set the
clipboard (OSC 52), erase or rewrite lines already shown (``ESC[2K``, ``\\r``), change
the window title or hide text. ``clean`` is the one function that makes such text safe
to show: it removes whole escape sequences (CSI, OSC, DCS, SOS, PM, APC and the short
``ESC x`` forms, in their 7-bit and 8-bit spellings) and then every remaining C0/C1
control character and DEL, keeping only newline and tab.

Streamed text arrives in fragments, and a sequence may be split between two of them;
``CleanStream`` holds back an unfinished sequence until it is complete, so its
parameters are removed with it instead of showing up as stray text.
"""

from __future__ import annotations

import re

__all__ = ["MAX_HELD", "CleanStream", "clean"]

# Strings (OSC, DCS, SOS, PM, APC) run to BEL or ST; nothing inside them is shown.
_STRING_START = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])"
_STRING_BODY = r"[^\x07\x1b\x9c]*"
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: cursor moves, erase, colours...
    rf"|{_STRING_START}{_STRING_BODY}(?:\x07|\x1b\\|\x9c)"  # OSC 52 (clipboard), titles, hyperlinks...
    r"|\x1b[ -/]*[0-~]"  # the short forms: ESC c (reset), ESC 7/8, charset selection...
)
# What is left after the sequences: every control character except \t and \n.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# The start of a sequence that is not finished yet, at the very end of the text.
_UNFINISHED = re.compile(rf"(?:(?:\x1b\[|\x9b)[0-?]*[ -/]*|{_STRING_START}{_STRING_BODY}\x1b?|\x1b[ -/]*)\Z")
# A sequence longer than this is not held back any more: its start is dropped and the
# rest shown as text, so a never-terminated OSC cannot swallow the answer.
MAX_HELD = 4096


def clean(text: str) -> str:
    """``text`` without escape sequences and control characters (newline and tab stay)."""
    if text.isprintable():  # the common case: nothing to remove (\n and \t are not "printable")
        return text
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


class CleanStream:
    """``clean`` for text that arrives in fragments: ``feed`` returns what is safe to
    show now, ``flush`` what was held back when the text ends."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, chunk: str) -> str:
        """The cleaned text that is safe to show now (an unfinished sequence is held)."""
        text = self._held + chunk
        self._held = ""
        unfinished = _UNFINISHED.search(text)
        if unfinished is not None and len(text) - unfinished.start() <= MAX_HELD:
            self._held = text[unfinished.start() :]
            text = text[: unfinished.start()]
        return clean(text)

    def flush(self) -> str:
        """The held-back rest (an unfinished sequence: its visible text only)."""
        held, self._held = self._held, ""
        return clean(held)
