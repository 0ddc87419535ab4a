"""A model that keeps making the same tool call: noticed, told, then stopped.

Pure bookkeeping. The same call (name and arguments) made more than ``limit`` times in
one turn is not run again: its result tells the model it is repeating itself. One more
repeat ends the turn. A call that changes something (a tool with side effects, with
other arguments) resets the count of every other call: running the tests again after
an edit is not a loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["run", "note", "stop"]


def repeat_note(name: str, times: int) -> str:
    return (
        f"not executed: this exact {name} call already ran {times} times in this turn with the same "
        "arguments, and its result will not change. Do something different, or answer with what you have."
    )


def repeat_stop(name: str, times: int) -> str:
    return (
        f"the model kept repeating the same {name} call ({times} times in one turn, nothing changing in "
        "between), so the turn was stopped. The work so far is kept; say what to do differently, or 'continue'."
    )


@dataclass(slots=True)
class RepeatGuard:
    limit: int
    counts: dict[str, int] = field(default_factory=dict)

    def check(self, name: str, arguments: dict[str, Any]) -> tuple[Verdict, int]:
        """Count this call; what to do with it, and how many times it came."""
        key = _key(name, arguments)
        times = self.counts.get(key, 0) + 1
        self.counts[key] = times
        if times <= self.limit:
            return "run", times
        return ("note" if times == self.limit + 1 else "stop"), times

    def ran(self, name: str, arguments: dict[str, Any], side_effects: bool) -> None:
        """A call ran; when it may have changed something, other calls start over."""
        if side_effects:
            key = _key(name, arguments)
            self.counts = {key: self.counts.get(key, 0)}


def _key(name: str, arguments: dict[str, Any]) -> str:
    return name + "\0" + json.dumps(arguments, sort_keys=True, ensure_ascii=False, default=str)
