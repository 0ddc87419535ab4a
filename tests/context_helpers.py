"""Builders for conversation histories used by the context tests."""

from __future__ import annotations

from agent.messages import Message, TextPart, ToolCallPart, ToolResultPart, user_message


def tool_round(n: int, output_chars: int = 2_000, tool: str = "read_file") -> list[Message]:
    """One assistant tool call (``call_N``) and its result of ``output_chars`` characters."""
    arguments = {"path": f"data/part_{n:03d}.txt"} if tool != "terminal" else {"command": f"cat part_{n}"}
    call = Message("assistant", [TextPart(f"Step {n}."), ToolCallPart(f"call_{n}", tool, arguments)])
    body = (f"line {n} " * (output_chars // 7 + 1))[:output_chars]
    return [call, Message("tool", [ToolResultPart(f"call_{n}", body)])]


def task_history(rounds: int, output_chars: int = 2_000, first: str = "Process every part.") -> list[Message]:
    """A first user message and ``rounds`` tool rounds."""
    history = [user_message(first)]
    for n in range(1, rounds + 1):
        history.extend(tool_round(n, output_chars))
    return history


def pairs_intact(history: list[Message]) -> bool:
    """Every tool result answers a call of the message just before it, and every call
    is answered right after it (what both wires demand)."""
    for index, message in enumerate(history):
        if message.role == "tool":
            before = history[index - 1] if index else None
            if before is None or before.role != "assistant":
                return False
            ids = {c.call_id for c in before.tool_calls}
            if any(r.call_id not in ids for r in message.tool_results):
                return False
        if message.role == "assistant" and message.tool_calls:
            after = history[index + 1] if index + 1 < len(history) else None
            answered = {r.call_id for r in after.tool_results} if after is not None else set()
            if after is not None and any(c.call_id not in answered for c in message.tool_calls):
                return False
    return True
