"""The outcome of one turn, built from the same event stream everyone consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.cost import Waste
from agent.events import TurnStatus
from agent.messages import Message
from agent.pricing import cache_hit_share
from agent.usage import Usage


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What ``AIAgent.run`` returns.

    ``status`` is ``completed``, ``failed`` or ``interrupted``; ``error`` says what
    went wrong and what to do when it is not ``completed``; ``counts`` tallies the
    turn's events by kind (retries, stalls, connection resets...); ``truncated`` says
    the answer is still cut short (a notice said why). ``cost_usd`` is the
    turn's cost in dollars (None: unknown, never 0 for an unpriced model); ``waste`` is
    what recoveries cost (``Waste.to_dict``: prompts re-sent, output thrown away).
    ``context`` is how full the model's context window was at the turn's last request
    (``window``, ``tokens``, ``fill``), its ``peak_fill``, and the turn's
    ``compactions``, ``trimmed_results`` and ``summary_tokens_spent``.
    """

    status: TurnStatus
    final_text: str
    messages: list[Message]
    usage: dict[str, int | None]  # ``Usage.to_dict()``: null where the provider did not report
    error: str | None = None
    api_calls: int = 0
    session_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    context: dict[str, int | float] = field(default_factory=dict)
    cost_usd: float | None = None
    waste: dict[str, Any] = field(default_factory=lambda: Waste().to_dict(0.0))
    truncated: bool = False  # the answer was still cut (continuation budget spent, or a full context)

    @property
    def cache_hit_share(self) -> float | None:
        """The share of the turn's prompt tokens read from cache (None: not reported)."""
        return cache_hit_share(Usage(*(self.usage.get(k) for k in _USAGE_FIELDS)))

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
            "context": dict(self.context),
            "cost_usd": self.cost_usd,
            "cache_hit_share": _rounded(self.cache_hit_share),
            "waste": dict(self.waste),
            "truncated": self.truncated,
        }


_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def _rounded(share: float | None) -> float | None:
    return None if share is None else round(share, 4)
