"""stayline: an agent conversation loop that does not lose your work when a provider stalls.

The public surface: ``AIAgent``, ``AgentResult``, the event types, ``Tool``. Names are
loaded on first use so that ``stayline --help`` does not pay for the whole agent.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.agent import AIAgent
    from agent.config import CompactionSettings, Settings
    from agent.errors import AgentBusyError, ConfigError, MissingKeyError, SessionWriteError, StaylineError
    from agent.events import (
        AgentEvent,
        Compacted,
        ConnectionReset,
        ContextFill,
        ContextTrimmed,
        Continuing,
        FallbackActivated,
        FallbackExhausted,
        ModelCallFinished,
        ModelCallStarted,
        Notice,
        Retrying,
        RetryWaiting,
        Stalled,
        StallGuidance,
        TextDelta,
        ThinkingDelta,
        ToolCallFinished,
        ToolCallStarted,
        ToolCallStreaming,
        TurnFinished,
        TurnStarted,
        Waiting,
    )
    from agent.messages import Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
    from agent.result import AgentResult
    from tools.base import Tool, ToolContext, ToolError
    from tools.decorator import tool


_HOMES = {
    "AIAgent": "agent.agent",
    "Settings": "agent.config",
    "CompactionSettings": "agent.config",
    "AgentBusyError": "agent.errors",
    "ConfigError": "agent.errors",
    "MissingKeyError": "agent.errors",
    "SessionWriteError": "agent.errors",
    "StaylineError": "agent.errors",
    "AgentResult": "agent.result",
    "Tool": "tools.base",
    "ToolContext": "tools.base",
    "ToolError": "tools.base",
    "tool": "tools.decorator",
    **dict.fromkeys(("Message", "TextPart", "ThinkingPart", "ToolCallPart", "ToolResultPart"), "agent.messages"),
}


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name, "agent.events" if name in __all__ else None)
    if module is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AIAgent",
    "AgentBusyError",
    "AgentEvent",
    "AgentResult",
    "Compacted",
    "CompactionSettings",
    "ConfigError",
    "ConnectionReset",
    "ContextFill",
    "ContextTrimmed",
    "Continuing",
    "FallbackActivated",
    "FallbackExhausted",
    "Message",
    "MissingKeyError",
    "ModelCallFinished",
    "ModelCallStarted",
    "Notice",
    "RetryWaiting",
    "Retrying",
    "SessionWriteError",
    "Settings",
    "StallGuidance",
    "Stalled",
    "StaylineError",
    "TextDelta",
    "TextPart",
    "ThinkingDelta",
    "ThinkingPart",
    "Tool",
    "ToolCallFinished",
    "ToolCallPart",
    "ToolCallStarted",
    "ToolCallStreaming",
    "ToolContext",
    "ToolError",
    "ToolResultPart",
    "TurnFinished",
    "TurnStarted",
    "Waiting",
    "tool",
]
