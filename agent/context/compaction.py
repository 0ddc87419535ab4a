"""The compaction planner: which messages go into the summary, where the cut is, and
the new working history. Pure; the summary request itself is sent by the runner.

The new history is the head (the first user message), the summary (marked as such),
and the most recent messages up to a budget. The cut is only ever made in front of a
message that is not a tool result, so every tool call keeps its result, and never after
the last assistant message, so the round in progress is always kept whole. A later
compaction sends the earlier summary along and asks for it to be updated, instead of
summarising a summary of a summary.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.context.state import CompactionRecord, ContextState, head_length, summary_message
from agent.context.tokens import message_tokens
from agent.messages import Message, user_message

SUMMARY_REQUEST_MARK = "[stayline: compaction request]"
SUMMARY_SECTIONS = (
    "## Goal and constraints",
    "## Decisions",
    "## Files",
    "## Tried and failed",
    "## Next steps",
)
_SECTION_HINTS = (
    "what the user wants, and every requirement and preference they stated",
    "what was decided, and why",
    "every file created, changed or read that matters, and its current state",
    "approaches and commands that did not work, and what went wrong",
    "what remains to do, starting with the step in progress",
)


@dataclass(frozen=True, slots=True)
class CompactionPlan:
    """Working-history positions: ``head`` messages stay in front, ``prefix`` is the head
    plus an earlier summary (if any), ``cut`` is the first recent message kept."""

    head: int
    prefix: int
    cut: int
    previous: str | None

    def older(self, history: list[Message]) -> list[Message]:
        """The messages the summary replaces."""
        return history[self.prefix : self.cut]

    def recent(self, history: list[Message]) -> list[Message]:
        """The messages kept whole after the summary."""
        return history[self.cut :]


def last_unit_start(history: list[Message]) -> int:
    """Where the last unit of work begins: the last assistant message (its tool results
    and what follows stay together), else the last message."""
    for index in range(len(history) - 1, -1, -1):
        if history[index].role == "assistant":
            return index
    return max(0, len(history) - 1)


def cut_points(history: list[Message], start: int, end: int) -> list[int]:
    """Positions in ``(start, end]`` where the history can be cut without separating a
    tool call from its result."""
    return [c for c in range(start + 1, end + 1) if c < len(history) and _boundary(history, c)]


def _boundary(history: list[Message], index: int) -> bool:
    if history[index].role == "tool":
        return False
    before = history[index - 1]
    return not (before.role == "assistant" and before.tool_calls)


def plan_compaction(history: list[Message], state: ContextState, keep_tokens: int) -> CompactionPlan | None:
    """Cut so that the recent messages fit ``keep_tokens`` (at least the last unit is
    kept); None when nothing lies between the head and the last unit to summarise."""
    last = state.last
    head = last.head if last is not None else head_length(history)
    prefix = state.prefix if last is not None else head
    previous = last.summary if last is not None else None
    if head == 0:
        return None  # no user message yet: nothing anchors a summary
    cuts = cut_points(history, prefix, last_unit_start(history))
    if not cuts:
        return None
    suffix = _suffix_tokens(history)
    cut = next((c for c in cuts if suffix[c] <= keep_tokens), cuts[-1])
    return CompactionPlan(head, prefix, cut, previous)


def _suffix_tokens(history: list[Message]) -> list[int]:
    """``suffix[i]``: the tokens of ``history[i:]``."""
    suffix = [0] * (len(history) + 1)
    for index in range(len(history) - 1, -1, -1):
        suffix[index] = suffix[index + 1] + message_tokens(history[index])
    return suffix


def drop_points(history: list[Message], plan: CompactionPlan) -> list[int]:
    """How many of the oldest summarised messages may be left out of the summary request
    (each a clean cut), fewest first; the last choice keeps at least one message."""
    return [c - plan.prefix for c in cut_points(history, plan.prefix, plan.cut - 1)]


def summary_request(
    history: list[Message], plan: CompactionPlan, *, dropped: int = 0, focus: str | None = None
) -> list[Message]:
    """The messages of the summary request: the head, the earlier summary, the older
    history (less the ``dropped`` oldest messages) and the request itself. It starts
    like the requests before it, so a provider's prompt cache serves most of it."""
    older = history[plan.prefix + dropped : plan.cut]
    return [*history[: plan.prefix], *older, user_message(summary_instruction(plan, dropped, focus))]


def summary_instruction(plan: CompactionPlan, dropped: int, focus: str | None) -> str:
    """What the model is asked to write (the marker lets a test double recognise it)."""
    sections = "\n".join(f"{title} - {hint}" for title, hint in zip(SUMMARY_SECTIONS, _SECTION_HINTS, strict=True))
    lines = [
        f"{SUMMARY_REQUEST_MARK} This conversation is about to outgrow the model's context window. Write a "
        "handoff summary of the conversation above: it will replace those messages, and the work must be able "
        "to continue from the summary alone. Do not call any tools; answer with the summary only, in these "
        f"sections:\n{sections}"
    ]
    if plan.previous is not None:
        lines.append(
            "The conversation starts with an earlier summary. Update it with what happened since: keep what "
            "still holds, drop what is obsolete, and write one summary of everything."
        )
    if dropped:
        lines.append(
            f"The {dropped:,} oldest messages that the summary should cover did not fit into this request and are "
            "left out; say in the summary that this part of the history is not covered."
        )
    if focus:
        lines.append(f"The user asks the summary to focus on: {focus.strip()}")
    return "\n\n".join(lines)


@dataclass(frozen=True, slots=True)
class Compaction:
    """A compaction ready to apply: the new working history and the new state."""

    messages: list[Message]
    state: ContextState
    record: CompactionRecord


def apply_compaction(history: list[Message], state: ContextState, plan: CompactionPlan, summary: str) -> Compaction:
    """The working history with the older messages replaced by ``summary``."""
    record = CompactionRecord(
        number=len(state.compactions) + 1,
        summary=summary.strip(),
        head=plan.head,
        covered=state.full_index(plan.cut),
        at=state.full_index(len(history)),
    )
    messages = [*history[: plan.head], summary_message(record), *history[plan.cut :]]
    return Compaction(messages, state.with_compaction(record), record)
