"""The outcome of one turn, built from the same event stream everyone consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.events import TurnStatus
from agent.messages import Message


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What ``AIAgent.run`` returns.

    ``status`` is ``completed``, ``failed`` or ``interrupted``; ``error`` says what
    went wrong and what to do when it is not ``completed``; ``counts`` tallies the
    turn's events by kind (retries, stalls, connection resets...).
    """

    status: TurnStatus
    final_text: str
    messages: list[Message]
    usage: dict[str, int | None]  # ``Usage.to_dict()``: null where the provider did not report
    error: str | None = None
    api_calls: int = 0
    session_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def to_json(self) -> dict[str, Any]:
        """The single-shot ``--json`` object."""
        return {
            "status": self.status,
            "final_text": self.final_text,
            "api_calls": self.api_calls,
            "usage": dict(self.usage),
            "error": self.error,
            "session_id": self.session_id,
            "events": dict(self.counts),
        }
