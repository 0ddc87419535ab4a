"""Tool-output trimming: old, large tool results become short stubs. No model call.

A stub names the tool, its target and how to get the content again, and it keeps the
result's call id, so every tool call still has its result on every wire. The most
recent tool rounds keep their results whole. A stub is a pure function of the call and
the result, so the same history always trims to the same bytes; results are only ever
stubbed once, so the stubbed prefix changes only when trimming advances, and provider
prompt caches keep hitting between those steps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from agent.context.tokens import part_tokens, text_tokens
from agent.messages import Message, Part, ToolCallPart, ToolResultPart
from tools.base import target_of

STUB_MARK = "[stayline: output removed to save context]"
_TARGET_LIMIT = 200
# How to get a built-in tool's output again; other tools are simply called again.
_AGAIN = {
    "read_file": "read the file again (in parts, with offset and limit, if it is large)",
    "terminal": "run the command again",
    "search_files": "run the search again",
    "list_dir": "list the directory again",
}


@dataclass(frozen=True, slots=True)
class ToolRound:
    """An assistant message with tool calls and the tool messages that answer it."""

    call_index: int
    result_indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TrimPlan:
    """The history with stubs in place, which calls got one, and the tokens saved."""

    messages: list[Message]
    stubbed: tuple[str, ...]
    saved_tokens: int


def tool_rounds(history: list[Message]) -> list[ToolRound]:
    """Every tool round of the history, oldest first."""
    rounds: list[ToolRound] = []
    index = 0
    while index < len(history):
        message = history[index]
        if message.role == "assistant" and message.tool_calls:
            results: list[int] = []
            after = index + 1
            while after < len(history) and history[after].role == "tool":
                results.append(after)
                after += 1
            rounds.append(ToolRound(index, tuple(results)))
            index = after
            continue
        index += 1
    return rounds


def is_stub(content: str) -> bool:
    """Whether a tool result is already a stub."""
    return content.startswith(STUB_MARK)


def stub_text(call: ToolCallPart | None, result: ToolResultPart) -> str:
    """The stub that replaces ``result`` (``call``: the call it answers, if known)."""
    name = call.name if call is not None else "the tool"
    target = target_of(call.arguments) if call is not None else None
    what = name
    if target:
        flat = " ".join(target.split())
        what += " " + (flat if len(flat) <= _TARGET_LIMIT else flat[: _TARGET_LIMIT - 1] + "…")
    kind = "an error of" if result.is_error else "an output of"
    again = _AGAIN.get(name, f"call {name} again with the same arguments")
    return f"{STUB_MARK} {what} returned {kind} {len(result.content):,} characters; {again} if you need it."


def calls_by_id(history: list[Message]) -> dict[str, ToolCallPart]:
    """Every tool call of the history by its id."""
    return {call.call_id: call for message in history for call in message.tool_calls}


def stub_boundary(history: list[Message], stubbed: Mapping[str, int], up_to: int | None = None) -> int | None:
    """The index of the last tool message of ``history`` holding a result stubbed by the
    trim at ``up_to`` or before (``stubbed``: call id -> when it was stubbed; None: by any
    trim). Everything up to it stays the same bytes until a compaction."""
    for index in range(len(history) - 1, -1, -1):
        for result in history[index].tool_results:
            at = stubbed.get(result.call_id)
            if at is not None and (up_to is None or at <= up_to) and is_stub(result.content):
                return index
    return None


def plan_trim(history: list[Message], *, keep_rounds: int, min_tokens: int) -> TrimPlan | None:
    """Stub every result larger than ``min_tokens`` outside the last ``keep_rounds``
    tool rounds; None when there is nothing (more) to stub."""
    rounds = tool_rounds(history)
    old = rounds[: max(0, len(rounds) - keep_rounds)]
    candidates = {i for r in old for i in r.result_indexes}

    def wanted(index: int, result: ToolResultPart) -> bool:
        return index in candidates and text_tokens(result.content) > min_tokens

    return _stubbed(history, wanted)


def apply_stubs(history: list[Message], call_ids: Collection[str]) -> list[Message]:
    """The history with the results of ``call_ids`` stubbed (rebuilding a working history
    from the full one gives the very bytes the trimming produced)."""
    if not call_ids:
        return list(history)
    plan = _stubbed(history, lambda index, result: result.call_id in call_ids)
    return plan.messages if plan is not None else list(history)


def _stubbed(history: list[Message], wanted: Callable[[int, ToolResultPart], bool]) -> TrimPlan | None:
    calls = calls_by_id(history)
    messages = list(history)
    stubbed: list[str] = []
    saved = 0
    for index, message in enumerate(history):
        if message.role != "tool":
            continue
        parts: list[Part] = []
        changed = False
        for part in message.parts:
            if isinstance(part, ToolResultPart) and not is_stub(part.content) and wanted(index, part):
                stub = ToolResultPart(part.call_id, stub_text(calls.get(part.call_id), part), part.is_error)
                saved += part_tokens(part) - part_tokens(stub)
                stubbed.append(part.call_id)
                parts.append(stub)
                changed = True
            else:
                parts.append(part)
        if changed:
            messages[index] = Message(message.role, parts)
    if not stubbed:
        return None
    return TrimPlan(messages, tuple(stubbed), saved)
