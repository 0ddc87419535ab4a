"""Prompt caching: a 40-step tool loop through the simulator on each wire.

For each wire (Anthropic Messages, OpenAI chat completions, Claude through OpenRouter)
the same scripted loop runs twice in one process, with caching on (the default) and
off (``prompt_caching = false``). Printed: the share of input tokens read from cache
after the first call (goal: at least 0.9), and the loop's cost with caching against
the same loop without it. OpenAI caches long prefixes whatever the client sends, so
"off" there is the off run's tokens priced as if nothing had been cached (for the
Claude wires that is exactly what the off run costs). Token counts are the simulator's
deterministic estimates (four characters a token); prices are the model catalog's.

    python bench/cache.py [--steps 40] [--content 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import AIAgent
from agent.config import Settings
from agent.events import ModelCallFinished
from agent.models import ModelCatalog
from agent.pricing import Prices, cost_of, format_usd
from agent.testing import ProviderSimulator, Reply, Text, ToolCall
from agent.usage import Usage


@dataclass(frozen=True)
class Wire:
    name: str
    provider: str
    model: str


WIRES = (
    Wire("anthropic", "anthropic", "claude-sonnet-4-6"),
    Wire("openai", "openai", "gpt-4.1"),
    Wire("openrouter", "openrouter", "anthropic/claude-sonnet-4.6"),
)


@dataclass(frozen=True)
class Run:
    calls: list[ModelCallFinished]
    cost: float | None

    def prompt(self, index: int) -> int:
        call = self.calls[index]
        return (call.input_tokens or 0) + (call.cache_read_tokens or 0) + (call.cache_write_tokens or 0)

    def cost_without_cache(self, prices: Prices) -> float:
        """Every prompt token at the input price, as with no cache at all."""
        total = 0.0
        for index, call in enumerate(self.calls):
            total += cost_of(Usage(self.prompt(index), call.output_tokens or 0, 0, 0), prices) or 0.0
        return total

    def output_cost(self, prices: Prices) -> float:
        return sum(call.output_tokens or 0 for call in self.calls) * prices.output / 1_000_000

    def cached_share_after_first(self) -> float:
        later = range(1, len(self.calls))
        read = sum(self.calls[i].cache_read_tokens or 0 for i in later)
        return read / max(1, sum(self.prompt(i) for i in later))


def base_url(sim: ProviderSimulator, wire: Wire) -> str:
    return {"anthropic": sim.base_url, "openai": sim.openai_base_url, "openrouter": sim.openrouter_base_url}[wire.name]


def loop(wire: Wire, args: argparse.Namespace, caching: bool) -> Run:
    replies = [
        Reply(
            Text(f"Writing part {i}."),
            ToolCall("write_file", {"path": f"part{i}.txt", "content": f"{i}:" + "x" * args.content}),
        )
        for i in range(args.steps)
    ]
    with ProviderSimulator() as sim, tempfile.TemporaryDirectory() as workdir:
        sim.script(*replies, Reply(Text("All parts written.")))
        agent = AIAgent(
            provider=wire.provider,
            model=wire.model,
            base_url=base_url(sim, wire),
            api_key="bench",
            workdir=workdir,
            settings=Settings(prompt_caching=caching),
            max_iterations=args.steps + 5,
        )
        with agent:
            events = list(agent.stream(f"write {args.steps} parts"))
            if agent.last_result is None or agent.last_result.status != "completed":
                raise SystemExit(f"{wire.name}: the loop did not complete: {agent.last_result}")
            cost = agent.last_result.cost_usd
    return Run([e for e in events if isinstance(e, ModelCallFinished)], cost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--content", type=int, default=2_000, help="characters written per step")
    args = parser.parse_args()
    print(f"{args.steps}-step tool loop, {args.content} characters written per step; tokens estimated by the simulator")
    print(
        f"{'wire':<11} {'model':<28} {'cached after 1st':>16} {'cost cached':>12} {'cost uncached':>14} "
        f"{'ratio':>6} {'input only':>10}"
    )
    for wire in WIRES:
        prices = ModelCatalog().lookup(wire.model).prices
        assert prices is not None, f"{wire.model} has no price in the catalog"
        cached = loop(wire, args, caching=True)
        off = loop(wire, args, caching=False)
        uncached = off.cost_without_cache(prices)
        ratio = f"{cached.cost / uncached:.3f}" if cached.cost else "n/a"
        output = cached.output_cost(prices)  # the same replies either way
        input_ratio = f"{(cached.cost - output) / (uncached - output):.3f}" if cached.cost else "n/a"
        print(
            f"{wire.name:<11} {wire.model:<28} {cached.cached_share_after_first():>16.3f} "
            f"{format_usd(cached.cost):>12} {format_usd(uncached):>14} {ratio:>6} {input_ratio:>10}"
        )
        tokens = sum(cached.prompt(i) for i in range(len(cached.calls)))
        reads = ""
        if wire.name == "openai":
            reads = f"; the off run still read {off.cached_share_after_first():.3f} from cache"
        print(f"{'':<11} {len(cached.calls)} calls, {tokens:,} prompt tokens in all{reads}")


if __name__ == "__main__":
    main()
