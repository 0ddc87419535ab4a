"""Throughput of one long stream: the raw SDK against AIAgent (rendering off), same run.

Both consume the same simulated stream (the provider simulator on 127.0.0.1, real HTTP)
on each wire. Target: the agent keeps at least 0.85 of the raw SDK's throughput.

    python bench/stream_overhead.py [--deltas 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The raw SDKs are the baseline this benchmark measures against, hence the direct imports.
import anthropic
import openai

from agent import AIAgent
from agent.testing import ProviderSimulator, Reply, Text

PROMPT = [{"role": "user", "content": "go"}]


def raw_anthropic(sim: ProviderSimulator) -> int:
    client = anthropic.Anthropic(api_key="bench", base_url=sim.base_url, max_retries=0)
    count = 0
    with client:
        for event in client.messages.create(model="claude-sonnet-4-6", max_tokens=64000, messages=PROMPT, stream=True):
            if event.type == "content_block_delta":
                count += 1
    return count


def raw_openai(sim: ProviderSimulator) -> int:
    client = openai.OpenAI(api_key="bench", base_url=sim.openai_base_url, max_retries=0)
    count = 0
    with client:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=PROMPT, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
    return count


def through_agent(sim: ProviderSimulator, wire: str, workdir: str) -> int:
    if wire == "anthropic":
        options = {"provider": "anthropic", "model": "claude-sonnet-4-6", "base_url": sim.base_url}
    else:
        options = {"provider": "openai", "model": "gpt-4o", "base_url": sim.openai_base_url}
    count = 0
    with AIAgent(api_key="bench", workdir=workdir, tools=[], stale_timeout=60, **options) as agent:
        for event in agent.stream("go"):
            if event.kind == "text_delta":
                count += 1
    return count


def timed(fn, *args) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    count = fn(*args)
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deltas", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    text = "tok " * args.deltas
    workdir = tempfile.mkdtemp()
    with ProviderSimulator() as sim:
        sim.behaviour(lambda request: Reply(Text(text, chunk=4)))
        print(f"{args.deltas:,} text deltas per stream, median of {args.rounds} rounds, alternating\n")
        for wire, raw in (("anthropic", raw_anthropic), ("openai", raw_openai)):
            raw_times, agent_times = [], []
            raw(sim)  # warm up both paths
            through_agent(sim, wire, workdir)
            for _ in range(args.rounds):
                seconds, count = timed(raw, sim)
                assert count == args.deltas, count
                raw_times.append(seconds)
                seconds, count = timed(through_agent, sim, wire, workdir)
                assert count == args.deltas, count
                agent_times.append(seconds)
            raw_rate = args.deltas / statistics.median(raw_times)
            agent_rate = args.deltas / statistics.median(agent_times)
            print(
                f"{wire:9}  raw SDK {raw_rate:9,.0f} deltas/s   AIAgent {agent_rate:9,.0f} deltas/s   "
                f"ratio {agent_rate / raw_rate:.2f}  (target >= 0.85)"
            )


if __name__ == "__main__":
    main()
