"""stayline: an agent conversation loop that does not lose your work when a provider stalls.

The public surface: ``AIAgent``, ``AgentResult``, the event types, ``Tool``.
"""

from agent.agent import AIAgent
from agent.config import Settings
from agent.errors import ConfigError, MissingKeyError, StaylineError
from agent.events import (
    AgentEvent,
    ConnectionReset,
    Continuing,
    ModelCallFinished,
    ModelCallStarted,
    Notice,
    Retrying,
    Stalled,
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
from agent.tools.base import Tool, ToolContext, ToolError

__all__ = [
    "AIAgent",
    "AgentEvent",
    "AgentResult",
    "ConfigError",
    "ConnectionReset",
    "Continuing",
    "Message",
    "MissingKeyError",
    "ModelCallFinished",
    "ModelCallStarted",
    "Notice",
    "Retrying",
    "Settings",
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
]
