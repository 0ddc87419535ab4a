"""Test support: a provider simulator speaking the real Anthropic and OpenAI wire formats."""

from agent.providers.base import ErrorFacts, ModelRequest
from agent.testing.behaviours import (
    LargeWriteModel,
    LongTaskModel,
    part_answer,
    part_path,
    wants_fine_grained_streaming,
)
from agent.testing.busy import BusyWindow
from agent.testing.script import (
    ConnectionRecord,
    Disconnect,
    EndBody,
    HttpError,
    KeepAlives,
    Pace,
    RawSSE,
    RecordedRequest,
    Reply,
    Reset,
    Silence,
    SseError,
    Text,
    Thinking,
    ToolCall,
)
from agent.testing.scripted import ScriptedError, ScriptedProvider, ScriptedReply, ScriptExhausted
from agent.testing.simulator import NO_REPLY_LEFT, ProviderSimulator
from agent.testing.validation import prompt_tokens

__all__ = [
    "NO_REPLY_LEFT",
    "BusyWindow",
    "ConnectionRecord",
    "Disconnect",
    "EndBody",
    "ErrorFacts",
    "HttpError",
    "KeepAlives",
    "LargeWriteModel",
    "LongTaskModel",
    "ModelRequest",
    "Pace",
    "ProviderSimulator",
    "RawSSE",
    "RecordedRequest",
    "Reply",
    "Reset",
    "ScriptExhausted",
    "ScriptedError",
    "ScriptedProvider",
    "ScriptedReply",
    "Silence",
    "SseError",
    "Text",
    "Thinking",
    "ToolCall",
    "part_answer",
    "part_path",
    "prompt_tokens",
    "wants_fine_grained_streaming",
]
