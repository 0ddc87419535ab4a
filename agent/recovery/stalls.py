"""The stall ledger: what to do when the same tool call keeps getting cut off.

A model that writes a large file in one ``write_file`` call can stall (or hit the output
limit) in the middle of the arguments. The half call is never executed; the turn
retries. Retrying the same huge call usually stalls the same way, so after ``threshold``
consecutive cuts of the same call (same tool, same target) the ledger produces guidance
that tells the model how to split the work, and the model carries on by itself. The
number of guidance rounds per turn is bounded; past that the turn ends with an
actionable error instead of looping.

Pure logic: no I/O, no clock, no threads. The ledger lives in the session (it serialises
to a JSON-able dict) because the counts must outlive a failed turn: a user who types
"continue" gets the guidance up front instead of watching the same stall again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent.streaming.accumulator import CutToolCall

CutCause = Literal["stall", "drop", "output_limit"]
StallAction = Literal["retry", "guide", "give_up"]

_CAUSES: tuple[CutCause, ...] = ("stall", "drop", "output_limit")
# Below this the size of the arguments is not what breaks the call, so shrinking the
# pieces further would only multiply calls without helping.
_MIN_CHUNK = 1000
_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class StallKey:
    """One tool call as the model keeps trying it: the tool and what it acts on."""

    tool: str
    target: str | None


@dataclass(frozen=True, slots=True)
class StallVerdict:
    """What the loop does after a cut: ``text`` is the guidance (``guide``) or the
    error that ends the turn (``give_up``); it is empty for ``retry``."""

    action: StallAction
    key: StallKey
    consecutive: int
    text: str = ""


@dataclass(slots=True)
class _Entry:
    # Cuts since the last completed call for this key: what the threshold counts.
    consecutive: int = 0
    # Largest argument size reached in the current run of cuts (what the guidance quotes
    # and sizes the pieces from) and ever (kept for diagnostics).
    run_chars: int = 0
    largest_chars: int = 0
    causes: dict[str, int] = field(default_factory=dict)
    last_cause: CutCause = "stall"
    # Kept across successes: the give-up text says guidance did not help.
    guided: bool = False
    # Calls for this key that completed and ran: "what was written" in the give-up text.
    completed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "consecutive": self.consecutive,
            "run_chars": self.run_chars,
            "largest_chars": self.largest_chars,
            "causes": dict(self.causes),
            "last_cause": self.last_cause,
            "guided": self.guided,
            "completed": self.completed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Entry:
        last_cause = data.get("last_cause", "stall")
        return cls(
            consecutive=int(data.get("consecutive", 0)),
            run_chars=int(data.get("run_chars", 0)),
            largest_chars=int(data.get("largest_chars", 0)),
            causes={str(k): int(v) for k, v in dict(data.get("causes", {})).items()},
            # A session written by a newer version may know other causes; read it as a stall.
            last_cause=last_cause if last_cause in _CAUSES else "stall",
            guided=bool(data.get("guided", False)),
            completed=int(data.get("completed", 0)),
        )


class StallLedger:
    """Counts cuts per tool call across the turns of a session and decides retry,
    guide or give up. The loop calls ``start_turn`` at each user turn, ``record_cut``
    for every response cut mid tool call, and ``record_success`` for every call that ran."""

    def __init__(self, threshold: int = 2, max_guidance_per_turn: int = 2, chunk_chars: int = 8000) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        if max_guidance_per_turn < 0:
            raise ValueError("max_guidance_per_turn must not be negative")
        if chunk_chars < 1:
            raise ValueError("chunk_chars must be at least 1")
        self.threshold = threshold
        self.max_guidance_per_turn = max_guidance_per_turn
        self.chunk_chars = chunk_chars
        self.guidance_this_turn = 0
        self._entries: dict[StallKey, _Entry] = {}

    # -- recording -----------------------------------------------------------------

    def record_cut(self, cut: CutToolCall, cause: CutCause) -> StallVerdict:
        """Record that ``cut`` never arrived whole and say what the loop does next."""
        key = StallKey(cut.name, cut.target)
        entry = self._entries.setdefault(key, _Entry())
        entry.consecutive += 1
        entry.run_chars = max(entry.run_chars, cut.chars_received)
        entry.largest_chars = max(entry.largest_chars, cut.chars_received)
        entry.causes[cause] = entry.causes.get(cause, 0) + 1
        entry.last_cause = cause
        if entry.consecutive < self.threshold:
            return StallVerdict("retry", key, entry.consecutive)
        if self.guidance_this_turn < self.max_guidance_per_turn:
            self.guidance_this_turn += 1
            entry.guided = True
            return StallVerdict("guide", key, entry.consecutive, self.guidance_text(key, entry.run_chars))
        return StallVerdict("give_up", key, entry.consecutive, self.give_up_text(key))

    def record_success(self, tool: str, target: str | None) -> None:
        """A call for this key completed and ran: the run of cuts is over."""
        key = StallKey(tool, target)
        entry = self._entries.get(key)
        if entry is None:
            # Only keys that were cut are worth remembering; a session writes many files.
            return
        entry.consecutive = 0
        entry.run_chars = 0
        entry.completed += 1

    def start_turn(self) -> None:
        """A new user turn: the guidance budget is per turn, the counts are not."""
        self.guidance_this_turn = 0

    # -- queries -------------------------------------------------------------------

    def consecutive(self, tool: str, target: str | None) -> int:
        entry = self._entries.get(StallKey(tool, target))
        return entry.consecutive if entry else 0

    def stalled_keys(self) -> list[StallKey]:
        """Keys that reached the threshold and have not completed since, oldest first."""
        return [key for key, entry in self._entries.items() if entry.consecutive >= self.threshold]

    def pending_guidance(self) -> str | None:
        """Guidance to give at the start of a turn, before the model repeats a call that
        already stalled past the threshold (the user typed "continue" after a failure)."""
        texts = [self.guidance_text(key, self._entries[key].run_chars) for key in self.stalled_keys()]
        return "\n\n".join(texts) if texts else None

    # -- texts ---------------------------------------------------------------------

    def chunk_size_for(self, chars: int) -> int:
        """The piece size to recommend. When the call broke before even reaching the
        configured size, that size is evidently too big: recommend half of what got
        through (rounded down to a multiple of 500), but never below ``_MIN_CHUNK``."""
        if chars >= self.chunk_chars or chars < 2 * _MIN_CHUNK:
            return self.chunk_chars
        return max(_MIN_CHUNK, chars // 2 // 500 * 500)

    def guidance_text(self, key: StallKey, chars: int) -> str:
        entry = self._entries.get(key, _Entry())
        attempts = max(entry.consecutive, 1)
        chunk = self.chunk_size_for(chars)
        subject = _call_subject(key)
        return (
            f"The last {_attempts(attempts)} to call {subject} {_cut_phrase(entry.last_cause, attempts > 1)} "
            f"after about {chars:,} characters of arguments, before the call could run; nothing was written "
            f"by {'them' if attempts > 1 else 'it'}. "
            f"Do not send it as one call again. Write the content in pieces of at most {chunk:,} characters: "
            f'call write_file with the first piece, then write_file with mode "append" for each following '
            f"piece, in order. For changes to an existing file, use several small patch calls instead."
        )

    def give_up_text(self, key: StallKey) -> str:
        entry = self._entries.get(key, _Entry())
        subject = _call_subject(key)
        after = " even after guidance" if entry.guided else ""
        if entry.completed:
            written = (
                f"{_calls(entry.completed)} to {subject} completed earlier and their content was written; "
                f"the content of the cut calls was not written."
            )
        else:
            written = "Nothing of that call was executed and nothing was written by it."
        remedies = [
            f'ask for the content in smaller pieces (write_file, then write_file with mode "append", '
            f"at most {self.chunk_size_for(entry.run_chars):,} characters each)",
            "use a fallback model",
        ]
        # A long write that stalls may just be slow; one cut by the output limit needs room.
        if entry.causes.get("output_limit"):
            remedies.append("raise --max-tokens")
        if entry.causes.get("stall") or entry.causes.get("drop"):
            remedies.append("give a longer --stale-timeout")
        return (
            f"The tool call to {subject} was cut off {_times(entry.consecutive)}{after} "
            f"(largest: about {entry.run_chars:,} characters of arguments). {written} "
            f'To carry on: {_join_or(remedies)}, then say "continue".'
        )

    # -- session store -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot. The per-turn budget is included so that a session saved
        mid turn resumes with what it had left; ``start_turn`` resets it anyway."""
        return {
            "version": _FORMAT_VERSION,
            "threshold": self.threshold,
            "max_guidance_per_turn": self.max_guidance_per_turn,
            "chunk_chars": self.chunk_chars,
            "guidance_this_turn": self.guidance_this_turn,
            # A list, not a dict keyed by tool: the target may be None and JSON keys are strings.
            "entries": [{"tool": k.tool, "target": k.target, **e.to_dict()} for k, e in self._entries.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StallLedger:
        ledger = cls(
            threshold=int(data.get("threshold", 2)),
            max_guidance_per_turn=int(data.get("max_guidance_per_turn", 2)),
            chunk_chars=int(data.get("chunk_chars", 8000)),
        )
        ledger.guidance_this_turn = int(data.get("guidance_this_turn", 0))
        for item in data.get("entries", []):
            target = item.get("target")
            key = StallKey(str(item["tool"]), None if target is None else str(target))
            ledger._entries[key] = _Entry.from_dict(item)
        return ledger


def _call_subject(key: StallKey) -> str:
    return f"{key.tool} for {key.target!r}" if key.target is not None else key.tool


def _cut_phrase(cause: CutCause, plural: bool) -> str:
    if cause == "output_limit":
        return f"{'were' if plural else 'was'} cut by the output limit"
    if cause == "drop":
        return "lost the connection"
    return "stalled"


def _attempts(n: int) -> str:
    return "attempt" if n == 1 else f"{n} attempts"


def _calls(n: int) -> str:
    return "1 call" if n == 1 else f"{n} calls"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _join_or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
