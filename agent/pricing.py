"""Prices per million tokens and the cost of a usage: pure arithmetic on ``Usage``.

A cost is in US dollars. An unknown price or an unreported usage gives an unknown cost
(``None``), never 0: a local server that reports nothing, or a model without a price,
must not look free.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from agent.usage import Usage

PER_MILLION = 1_000_000
CacheTTL = str  # "5m" (the default) or "1h"
TTLS = ("5m", "1h")


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per million tokens. ``cache_read`` None: reads cost what input costs;
    ``cache_write`` None: writes cost what input costs (OpenAI charges nothing extra);
    ``cache_write_1h`` None: the same as ``cache_write``."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None

    def for_ttl(self, ttl: CacheTTL) -> Prices:
        """These prices with cache writes at the rate of ``ttl`` ("5m" or "1h")."""
        if ttl == "1h" and self.cache_write_1h is not None:
            return replace(self, cache_write=self.cache_write_1h)
        return self

    def to_dict(self) -> dict[str, float | None]:
        """The prices as config-file keys would name them."""
        return {
            "input_price": self.input,
            "output_price": self.output,
            "cache_read_price": self.cache_read,
            "cache_write_price": self.cache_write,
            "cache_write_1h_price": self.cache_write_1h,
        }


def cost_of(usage: Usage, prices: Prices | None) -> float | None:
    """The cost of ``usage`` at ``prices`` in dollars; None when either is unknown (no
    price, or the provider did not report the prompt or the output)."""
    if prices is None or usage.prompt_tokens is None or usage.output_tokens is None:
        return None
    read = prices.cache_read if prices.cache_read is not None else prices.input
    write = prices.cache_write if prices.cache_write is not None else prices.input
    total = (
        (usage.input_tokens or 0) * prices.input
        + (usage.cache_read_tokens or 0) * read
        + (usage.cache_write_tokens or 0) * write
        + usage.output_tokens * prices.output
    )
    return total / PER_MILLION


def cache_hit_share(usage: Usage) -> float | None:
    """The share of the prompt read from cache (None when the prompt was not reported)."""
    prompt = usage.prompt_tokens
    if not prompt:
        return None
    return (usage.cache_read_tokens or 0) / prompt


def format_usd(value: float | None) -> str:
    """ "$0.0123" (four decimals below a dollar), "$12.34" above; "unknown" for None."""
    if value is None:
        return "unknown"
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


@dataclass(frozen=True, slots=True)
class CostTally:
    """A running cost: the dollars of the priced calls and the models of the calls whose
    cost is unknown. The total is known only when every call was priced."""

    usd: float = 0.0
    unpriced: tuple[str, ...] = ()

    def add(self, cost: float | None, model: str) -> CostTally:
        """This tally with one more call's cost (None: unknown, remembered by model)."""
        if cost is None:
            unpriced = self.unpriced if model in self.unpriced else (*self.unpriced, model)
            return CostTally(self.usd, unpriced)
        return CostTally(self.usd + cost, self.unpriced)

    def __add__(self, other: CostTally) -> CostTally:
        unpriced = self.unpriced + tuple(m for m in other.unpriced if m not in self.unpriced)
        return CostTally(self.usd + other.usd, unpriced)

    @property
    def total(self) -> float | None:
        """The cost in dollars, or None when some call could not be priced."""
        return None if self.unpriced else self.usd
