"""Repairing a history a crash left behind, so that both wires accept it.

Pure: messages in, messages out. The session store applies it on load and saves the
result, so any number of resumes stay valid.
"""

from __future__ import annotations

from agent.messages import Message, ThinkingPart, ToolResultPart, dangling_tool_calls

NOT_EXECUTED = "not executed: the session ended before this tool call ran"
OUTCOME_UNKNOWN = (
    "outcome unknown: stayline stopped while this tool call was running, so it may have run "
    "completely, partly or not at all. Check its effect (read the file, list the directory, "
    "look at what the command would have changed) before running it again."
)


def repair_history(messages: list[Message], running_call: str | None = None) -> list[Message]:
    """Make a possibly interrupted history acceptable to both wires, anywhere in it.

    A kill can land after an assistant message was stored but before (or while) its
    tool calls ran: every call without a result gets one right after its message, saying
    "outcome unknown" for the call that was running (``running_call``) and "not
    executed" for the ones that never started. Also dropped: thinking without a
    signature (a stream cut before it arrived; Anthropic refuses it), assistant messages
    left empty, and results whose call is not in the message before them. Returns new
    lists; the input messages are not modified.
    """
    repaired = [Message(m.role, [p for p in m.parts if not _unsigned_thinking(p)]) for m in messages]
    repaired = [m for m in repaired if m.role != "assistant" or m.parts]
    repaired = _drop_orphan_results(repaired)
    by_message: dict[int, list[Message]] = {}
    for index, call in dangling_tool_calls(repaired):
        text = OUTCOME_UNKNOWN if call.call_id == running_call else NOT_EXECUTED
        by_message.setdefault(index, []).append(Message("tool", [ToolResultPart(call.call_id, text, is_error=True)]))
    for index in sorted(by_message, reverse=True):  # from the end, so earlier indexes stay right
        insert_at = index + 1
        while insert_at < len(repaired) and repaired[insert_at].role == "tool":
            insert_at += 1  # after the results that exist, before the next message
        repaired[insert_at:insert_at] = by_message[index]
    return repaired


def _drop_orphan_results(history: list[Message]) -> list[Message]:
    """Tool results whose call is not in the assistant message before them are refused
    by both wires; a message left empty by that goes too."""
    kept: list[Message] = []
    calls: set[str] = set()
    for message in history:
        if message.role == "assistant":
            calls = {c.call_id for c in message.tool_calls}
        elif message.role == "user":
            calls = set()
        if message.role == "tool":
            parts = [p for p in message.parts if not isinstance(p, ToolResultPart) or p.call_id in calls]
            if not parts:
                continue
            message = Message("tool", parts)
        kept.append(message)
    return kept


def _unsigned_thinking(part: object) -> bool:
    # A redacted block carries its opaque payload instead of a signature: keep it.
    return isinstance(part, ThinkingPart) and part.signature is None and part.redacted_data is None
