"""A rate-limit window of N seconds against the time to success, through the real SDK.

The simulator answers 429 for N seconds from the first request, saying when to come
back in one of the forms real servers use (``retry-after``, a LiteLLM proxy's
``llm_provider-retry-after``, or only the error text), then answers. Goal: the turn
finishes within 10 % of N plus one request.

    python bench/rate_limit.py [--window 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import AIAgent
from agent.testing import BusyWindow, ProviderSimulator, Reply, Text

WIRES = {
    "anthropic": ("anthropic", "claude-sonnet-4-6", lambda s: s.base_url),
    "openai": ("openai", "gpt-4o", lambda s: s.openai_base_url),
}


def one_run(sim: ProviderSimulator, wire: str, advice: str, window: float, workdir: str) -> tuple[float, float, int]:
    """(seconds to success, one request's time, requests refused)."""
    provider, model, url = WIRES[wire]
    sim.reset_script()
    sim.clear_log()
    busy = BusyWindow(window, advice=advice)  # type: ignore[arg-type]
    sim.behaviour(busy)
    with AIAgent(provider=provider, model=model, base_url=url(sim), api_key="b", workdir=workdir, tools=[]) as agent:
        started = time.monotonic()
        result = agent.run("hi")
        elapsed = time.monotonic() - started
    assert result.status == "completed", result.error
    sim.reset_script()
    sim.behaviour(lambda request: Reply(Text("ok")))
    with AIAgent(provider=provider, model=model, base_url=url(sim), api_key="b", workdir=workdir, tools=[]) as agent:
        started = time.monotonic()
        agent.run("hi")
        one_request = time.monotonic() - started
    return elapsed, one_request, busy.busy_answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp()
    print(f"429 window {args.window:.1f} s, median of {args.runs} runs; goal: <= 1.10 x window + one request")
    with ProviderSimulator() as sim:
        for wire in WIRES:
            for advice in ("retry-after", "litellm", "text"):
                runs = [one_run(sim, wire, advice, args.window, workdir) for _ in range(args.runs)]
                elapsed = statistics.median(r[0] for r in runs)
                request = statistics.median(r[1] for r in runs)
                refused = max(r[2] for r in runs)
                goal = 1.10 * args.window + request
                verdict = "ok" if elapsed <= goal else "over"
                print(
                    f"  {wire:9} {advice:12} success after {elapsed:6.3f} s (ratio {elapsed / args.window:.3f};"
                    f" goal {goal:.3f} s: {verdict}); {refused} refused requests"
                )


if __name__ == "__main__":
    main()
