"""Exact-match search/replace edits, as a pure function.

Each ``old`` must occur exactly once in the text as it stands after the previous
edits. Requiring uniqueness means the model can never edit the wrong spot silently;
raising before returning anything makes a batch of edits all-or-nothing.
"""

from __future__ import annotations

from tools.base import ToolError

__all__ = ["PatchError", "apply_edits"]

_EXCERPT_CHARS = 60
_NOTHING = "No changes were written; re-read the file and copy the old text exactly."


class PatchError(ToolError):
    """An edit could not be applied; nothing was changed."""


def apply_edits(text: str, edits: list[tuple[str, str]]) -> str:
    """Apply ``(old, new)`` replacements in order and return the new text."""
    if not edits:
        raise PatchError("no edits given; pass at least one {old, new} pair")
    total = len(edits)
    for number, (old, new) in enumerate(edits, start=1):
        where = f"edit {number} of {total}"
        if not old:
            raise PatchError(f"{where}: 'old' is empty; it must quote existing text exactly. {_NOTHING}")
        count = text.count(old)
        if count == 0:
            raise PatchError(f"{where}: old text not found: {_excerpt(old)}.{_hint(text, old)} {_NOTHING}")
        if count > 1:
            raise PatchError(
                f"{where}: old text occurs {count} times: {_excerpt(old)}. Include more surrounding "
                f"lines so that it matches exactly once. {_NOTHING}"
            )
        text = text.replace(old, new, 1)
    return text


def _excerpt(old: str) -> str:
    if len(old) <= _EXCERPT_CHARS:
        return repr(old)
    return repr(old[:_EXCERPT_CHARS]) + f" … ({len(old):,} characters)"


def _hint(text: str, old: str) -> str:
    # The commonest miss is whitespace (indentation, trailing spaces): say so.
    stripped = old.strip()
    if stripped and stripped != old and stripped in text:
        return " (It does occur if leading/trailing whitespace is ignored; check indentation.)"
    return ""
