"""What one turn reads and changes, passed explicitly to the loop and the tool round."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.call import CallContext
from agent.context.keeper import ContextKeeper
from agent.cost import Spend
from agent.messages import Message
from agent.recovery.fallback import ProviderChain
from agent.recovery.repeats import RepeatGuard
from agent.usage import Usage
from tools.base import ToolContext, ToolRegistry


@dataclass(slots=True)
class TurnState:
    """Everything one turn reads and changes, passed explicitly."""

    chain: ProviderChain
    history: list[Message]
    tools: ToolRegistry
    tool_context: ToolContext
    system_prompt: str
    call_context: CallContext
    max_iterations: int
    max_tokens: int | None
    stream: bool = True
    on_message: Callable[[Message], None] = lambda message: None  # saves it; raises SessionWriteError
    on_tool_start: Callable[[str], None] = lambda call_id: None  # a call is about to run
    session_id: str | None = None
    cache_key: str | None = None  # stable for the conversation: the provider's prompt-cache routing key
    context: ContextKeeper | None = None  # keeps the requests inside the model's window
    usage: Usage = field(default_factory=Usage)
    spend: Spend = field(default_factory=Spend)  # cost and recovery waste, priced per call
    api_calls: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    truncated: bool = False  # the last reply was still cut when the turn took it
    repeats: RepeatGuard = field(default_factory=lambda: RepeatGuard(3))  # the same call again and again

    @property
    def interrupt(self) -> threading.Event:
        return self.call_context.interrupt

    def append(self, message: Message) -> None:
        """Save, then keep: a message the store refused is not in memory either."""
        self.on_message(message)
        self.history.append(message)
