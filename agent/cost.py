"""The price of recovery and the spend of a turn (prices themselves: ``pricing.py``).

Recovery waste is what a flaky provider cost on top of the answer: output the model
produced that was thrown away (thinking and tool-call arguments of a failed attempt, a
whole reply asked again), and prompts that were processed, lost and sent again by a
retry. Text already shown is kept and continued, so it is not waste. When a failed
stream never reported its usage, the figures are estimated (four characters a token, or
the prompt size that the successful attempt reported) and ``estimated`` says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.messages import Part, TextPart, ThinkingPart, ToolCallPart
from agent.pricing import CostTally, Prices, cost_of
from agent.streaming.accumulator import ResponseSnapshot
from agent.usage import Usage

CHARS_PER_TOKEN = 4


# -- the price of recovery ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Waste:
    """Tokens a recovery cost: the prompt split of requests that were lost and sent
    again, and output thrown away. ``estimated``: some figure was not reported."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False

    def __add__(self, other: Waste) -> Waste:
        return Waste(
            self.input_tokens + other.input_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.output_tokens + other.output_tokens,
            self.estimated or other.estimated,
        )

    @property
    def prompt_tokens(self) -> int:
        """Input tokens re-sent by retries, cached parts included."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def empty(self) -> bool:
        """Nothing was wasted."""
        return self.prompt_tokens == 0 and self.output_tokens == 0

    def as_usage(self) -> Usage:
        """The waste as a usage, to price it like any call."""
        return Usage(self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_write_tokens)

    def to_dict(self, cost: float | None) -> dict[str, Any]:
        """The ``waste`` object of ``--json``."""
        return {
            "input_tokens": self.input_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "estimated": self.estimated,
            "cost_usd": cost,
        }


def _chars(parts: Sequence[Part]) -> tuple[int, int]:
    """(characters the model produced in ``parts``, of which visible text)."""
    produced = visible = 0
    for part in parts:
        if isinstance(part, TextPart):
            produced += len(part.text)
            visible += len(part.text)
        elif isinstance(part, ThinkingPart):
            produced += len(part.text)
        elif isinstance(part, ToolCallPart):
            produced += len(json.dumps(part.arguments, ensure_ascii=False))
    return produced, visible


def _estimate_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def _prompt_waste(prompt: Usage) -> tuple[int, int, int]:
    return prompt.input_tokens or 0, prompt.cache_read_tokens or 0, prompt.cache_write_tokens or 0


def failed_attempt_waste(snapshot: ResponseSnapshot, prompt_hint: Usage) -> Waste:
    """What one failed attempt wasted. Its visible text is kept (the next attempt
    continues it); the rest of its output is thrown away. Its prompt counts as re-sent
    only when the provider had started answering (an HTTP error before any byte is not
    billed); ``prompt_hint`` stands in for a prompt the stream did not report."""
    produced, visible = _chars(snapshot.parts)
    if snapshot.cut_call is not None:
        produced += snapshot.cut_call.chars_received
    if produced == 0 and not snapshot.usage.reported:
        return Waste()
    reported_out = snapshot.usage.output_tokens or 0  # often only the stream's opening figure
    estimate_out = _estimate_tokens(produced)
    basis = max(reported_out, estimate_out)
    thrown = round(basis * (produced - visible) / produced) if produced else 0
    own_prompt = snapshot.usage.prompt_tokens is not None
    prompt = snapshot.usage if own_prompt else prompt_hint
    uncached, read, write = _prompt_waste(prompt)
    estimated = (thrown > 0 and estimate_out >= reported_out) or not own_prompt
    return Waste(uncached, read, write, thrown, estimated)


def recovery_waste(
    failed: Sequence[ResponseSnapshot],
    call_usage: Usage,
    requests: int,
    estimated_prompt: int,
    repeated_chars: int = 0,
) -> Waste:
    """The waste of one model call from its failed attempts. ``call_usage`` is the sum
    over all ``requests`` of the call; what the others reported is the best stand-in for
    a failed attempt's unreported prompt, else ``estimated_prompt`` tokens.
    ``repeated_chars``: text a continuation restarted and repeated (dropped at the seam)."""
    restarted = Waste(output_tokens=_estimate_tokens(repeated_chars), estimated=True) if repeated_chars else Waste()
    if not failed:
        return restarted
    served = call_usage
    for snapshot in failed:
        served = _minus(served, snapshot.usage)
    others = requests - len(failed)
    if others > 0 and served.prompt_tokens:
        hint = Usage(
            (served.input_tokens or 0) // others,
            None,
            (served.cache_read_tokens or 0) // others,
            (served.cache_write_tokens or 0) // others,
        )
    else:
        hint = Usage(estimated_prompt)
    total = restarted
    for snapshot in failed:
        total = total + failed_attempt_waste(snapshot, hint)
    return total


def discarded_reply_waste(usage: Usage, parts: Sequence[Part], cut_chars: int, *, asked_again: bool) -> Waste:
    """A whole reply cut by the output limit inside a tool call. ``asked_again``: the
    reply is dropped and the same prompt sent again (all of it is waste); otherwise its
    text is kept and only the cut call is thrown away."""
    output = usage.output_tokens
    _, visible = _chars(parts)
    estimated = output is None
    if output is None:
        output = _estimate_tokens(visible + cut_chars)
    if asked_again:
        uncached, read, write = _prompt_waste(usage)
        return Waste(uncached, read, write, output, estimated or usage.prompt_tokens is None)
    produced = visible + cut_chars
    thrown = round(output * cut_chars / produced) if produced else 0
    return Waste(output_tokens=thrown, estimated=estimated)


def _minus(a: Usage, b: Usage) -> Usage:
    def sub(x: int | None, y: int | None) -> int | None:
        if x is None:
            return None
        return max(0, x - (y or 0))

    return Usage(
        sub(a.input_tokens, b.input_tokens),
        sub(a.output_tokens, b.output_tokens),
        sub(a.cache_read_tokens, b.cache_read_tokens),
        sub(a.cache_write_tokens, b.cache_write_tokens),
    )


# -- a turn's or a session's spend --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spend:
    """Cost and recovery waste of a turn or a session, priced per call (each call at
    its own model's prices, so fallbacks and model switches are priced right)."""

    cost: CostTally = field(default_factory=CostTally)
    waste: Waste = Waste()
    waste_cost: CostTally = field(default_factory=CostTally)

    def add_call(self, usage: Usage, waste: Waste, prices: Prices | None, model: str) -> Spend:
        """This spend with one more model call (its usage and what its recovery wasted)."""
        return Spend(self.cost.add(cost_of(usage, prices), model), self.waste, self.waste_cost).add_waste(
            waste, prices, model
        )

    def add_waste(self, waste: Waste, prices: Prices | None, model: str) -> Spend:
        """This spend with more waste (a reply dropped and asked again...)."""
        if waste.empty:
            return self
        return Spend(self.cost, self.waste + waste, self.waste_cost.add(cost_of(waste.as_usage(), prices), model))

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.cost + other.cost, self.waste + other.waste, self.waste_cost + other.waste_cost)

    def waste_dict(self) -> dict[str, Any]:
        """The ``waste`` object of ``--json`` and ``AgentResult``."""
        return self.waste.to_dict(self.waste_cost.total)
