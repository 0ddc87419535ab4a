"""What the context has become: the compactions and stubs that turn the full history
into the working history the model sees.

The session store keeps the full history (every message, as it happened) and this small
state beside it. The working history is a pure function of the two
(``working_history``), so a resumed session continues from exactly the bytes the model
saw last, and ``/undo`` across a compaction simply forgets what the undone turns did
(``ContextState.undone``).

After a compaction the working history is ``full[:head] + [summary] + full[covered:]``
(with stubs applied): the first user message, the summary, and the recent messages,
which correspond one to one to the end of the full history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from agent.context.trimming import apply_stubs
from agent.messages import Message, TextPart

NOTE_MARK = "[stayline:"
SUMMARY_MARK = "[stayline: summary of the earlier conversation]"


def is_note(message: Message) -> bool:
    """A user-role message the runtime wrote (guidance, a summary), not the user."""
    return message.role == "user" and message.text.startswith(NOTE_MARK)


def last_user_turn(history: list[Message]) -> int | None:
    """Where the last turn begins: the index of the last message the user wrote."""
    for index in range(len(history) - 1, -1, -1):
        message = history[index]
        if message.role == "user" and message.text and not is_note(message):
            return index
    return None


def head_length(history: list[Message]) -> int:
    """How many messages the head is: up to and including the first user message."""
    for index, message in enumerate(history):
        if message.role == "user" and message.text and not is_note(message):
            return index + 1
    return 0


@dataclass(frozen=True, slots=True)
class CompactionRecord:
    """One compaction: its summary replaces ``full[head:covered]``; ``at`` is the full
    history's length when it was made (an undo back before that forgets it)."""

    number: int
    summary: str
    head: int
    covered: int
    at: int

    @property
    def replaced(self) -> int:
        """How many messages of the full history the summary stands for."""
        return self.covered - self.head

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept with the session."""
        return {
            "number": self.number,
            "summary": self.summary,
            "head": self.head,
            "covered": self.covered,
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompactionRecord:
        """Read the JSON form back (raises KeyError/TypeError/ValueError when broken)."""
        number, head, covered, at = (int(data[k]) for k in ("number", "head", "covered", "at"))
        record = cls(number, str(data["summary"]), head, covered, at)
        if not 0 <= record.head <= record.covered <= record.at:
            raise ValueError(f"compaction record out of order: {data!r}")
        return record


def summary_message(record: CompactionRecord) -> Message:
    """The summary as it stands in the working history (marked as not the user's words)."""
    heading = (
        f"{SUMMARY_MARK} Compaction {record.number}: this summary, written by the model, replaces "
        f"{record.replaced:,} earlier messages of this conversation (the session keeps them)."
    )
    return Message("user", [TextPart(f"{heading}\n\n{record.summary.strip()}")])


@dataclass(frozen=True, slots=True)
class ContextState:
    """The compactions so far (oldest first) and the stubbed tool results (call id ->
    the full history's length when it was stubbed); and what was learned about the
    models: how their token counts compare to our estimate (``calibration``, model ->
    reported / estimated) and windows their errors named (``windows``). Never changed
    in place."""

    compactions: tuple[CompactionRecord, ...] = ()
    stubbed: dict[str, int] = field(default_factory=dict)
    calibration: dict[str, float] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=dict)

    @property
    def last(self) -> CompactionRecord | None:
        """The compaction the working history is built on, if any."""
        return self.compactions[-1] if self.compactions else None

    @property
    def prefix(self) -> int:
        """Working messages in front of the recent ones: the head and the summary."""
        last = self.last
        return last.head + 1 if last is not None else 0

    def full_index(self, working_index: int) -> int:
        """The full-history index of a working-history position at or after ``prefix``."""
        last = self.last
        if last is None:
            return working_index
        return last.covered + (working_index - self.prefix)

    def with_compaction(self, record: CompactionRecord) -> ContextState:
        """This state after one more compaction."""
        return replace(self, compactions=(*self.compactions, record))

    def with_stubs(self, call_ids: Iterable[str], at: int) -> ContextState:
        """This state with more stubbed results."""
        stubbed = dict(self.stubbed)
        for call_id in call_ids:
            stubbed.setdefault(call_id, at)
        return replace(self, stubbed=stubbed)

    def with_calibration(self, model: str, ratio: float) -> ContextState:
        """This state with ``model``'s tokens counted at ``ratio`` times our estimate."""
        return replace(self, calibration={**self.calibration, model: round(ratio, 4)})

    def with_window(self, model: str, window: int) -> ContextState:
        """This state with a window the model's own errors named."""
        return replace(self, windows={**self.windows, model: window})

    def undone(self, length: int) -> ContextState:
        """The state as it was when the full history had ``length`` messages (what was
        learned about the models stays)."""
        return ContextState(
            tuple(r for r in self.compactions if r.at <= length),
            {call_id: at for call_id, at in self.stubbed.items() if at <= length},
            dict(self.calibration),
            dict(self.windows),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept with the session."""
        return {
            "compactions": [r.to_dict() for r in self.compactions],
            "stubbed": dict(self.stubbed),
            "calibration": dict(self.calibration),
            "windows": dict(self.windows),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContextState:
        """Read the JSON form back (raises KeyError/TypeError/ValueError when broken)."""
        records = tuple(CompactionRecord.from_dict(r) for r in data.get("compactions", []))
        stubbed = {str(k): int(v) for k, v in dict(data.get("stubbed", {})).items()}
        calibration = {str(k): float(v) for k, v in dict(data.get("calibration", {})).items()}
        windows = {str(k): int(v) for k, v in dict(data.get("windows", {})).items()}
        return cls(records, stubbed, calibration, windows)


def working_history(full: list[Message], state: ContextState) -> list[Message]:
    """The history the model sees, rebuilt from the full history and the state. A record
    that does not fit the full history (rows lost to corruption) is ignored: the model
    then sees the full history, which the next request compacts again."""
    record = state.last
    if record is not None and _fits(full, record):
        base = [*full[: record.head], summary_message(record), *full[record.covered :]]
    else:
        base = list(full)
    return apply_stubs(base, state.stubbed.keys())


def unmirrored(full: list[Message], working: list[Message], state: ContextState) -> list[Message]:
    """The messages at the end of the working history that the full history lacks (kept
    in memory only, after a session write failed), so the two can be brought together."""
    record = state.last
    mirrored = state.prefix + (len(full) - record.covered) if record is not None else len(full)
    return working[max(0, mirrored) :]


def _fits(full: list[Message], record: CompactionRecord) -> bool:
    if record.covered > len(full):
        return False
    return record.covered == len(full) or full[record.covered].role != "tool"
