"""Test support: a provider simulator speaking the real Anthropic and OpenAI wire formats."""

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
from agent.testing.simulator import NO_REPLY_LEFT, ProviderSimulator

__all__ = [
    "NO_REPLY_LEFT",
    "ConnectionRecord",
    "Disconnect",
    "EndBody",
    "HttpError",
    "KeepAlives",
    "Pace",
    "ProviderSimulator",
    "RawSSE",
    "RecordedRequest",
    "Reply",
    "Reset",
    "Silence",
    "SseError",
    "Text",
    "Thinking",
    "ToolCall",
]
