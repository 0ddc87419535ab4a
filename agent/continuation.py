"""How a cut reply is continued, on a model that takes a prefill and on one that does not.

A model that accepts prefill (Claude before 4.6) gets the shown text as the start of its
own reply and continues it. Every other model (Claude 4.6+, which refuses a request that
ends with an assistant message, and chat-completions models, which answer one with a new
reply) gets the shown text as an assistant message followed by a short runtime note as a
user message: the request ends with a user message on every wire. The new reply is then
joined onto the shown text by ``streaming.seam.SeamJoiner``; the note never enters the
conversation history.
"""

from __future__ import annotations

from dataclasses import replace

from agent.messages import Message, TextPart, user_message
from agent.providers.base import ModelRequest

RUNTIME_NOTE = "[stayline: a note from the agent runtime, not from the user]"
_QUOTED_TAIL = 160  # enough for the model to find its place, short enough to stay cheap


def continuation_note(shown: str, reason: str) -> str:
    """The user-role note that asks for the rest of a cut reply."""
    tail = shown.rstrip()[-_QUOTED_TAIL:]
    return (
        f"{RUNTIME_NOTE} Your previous reply was cut off ({reason}). It is above, and the user has "
        f"already seen it. Continue exactly where it stopped, without repeating any of it and without "
        f"any preamble; it ended with:\n<<<{tail}>>>"
    )


def continuation_request(request: ModelRequest, shown: str, accepts_prefill: bool, reason: str) -> ModelRequest:
    """``request`` asking the model to continue ``shown``, in the form the model accepts."""
    if not shown.strip():
        return request
    if accepts_prefill:
        return replace(request, prefill=shown)
    messages = [
        *request.messages,
        Message("assistant", [TextPart(shown)]),
        user_message(continuation_note(shown, reason)),
    ]
    return replace(request, messages=messages, prefill=None)
