"""Stall recovery timing with a 2 s stale limit, through the real SDK and the simulator.

For each run the provider sends some text, then goes silent; the retry answers at once.
Measured from the start of the silence (the last delta before it reached the agent):
detection, the retried request reaching the simulator, and the first new text.
Targets: detection within limit + 0.5 s; the retry sent within 0.3 s after detection.

    python bench/stall_recovery.py [--runs 10] [--limit 2]
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
from agent.testing import ProviderSimulator, Reply, Silence, Text

WIRES = {
    "anthropic": ("anthropic", "claude-sonnet-4-6", lambda s: s.base_url),
    "openai": ("openai", "gpt-4o", lambda s: s.openai_base_url),
}


def one_run(sim: ProviderSimulator, wire: str, limit: float, workdir: str) -> tuple[float, float, float]:
    provider, model, url = WIRES[wire]
    sim.clear_log()
    sim.script(Reply(Text("Hello "), Silence(60)), Reply(Text("world.")))
    silence_start = detected = first_new_text = 0.0
    with AIAgent(
        provider=provider,
        model=model,
        base_url=url(sim),
        api_key="bench",
        workdir=workdir,
        tools=[],
        stale_timeout=limit,
    ) as agent:
        for event in agent.stream("greet"):
            now = time.monotonic()
            if event.kind == "text_delta":
                if detected:
                    first_new_text = first_new_text or now
                else:
                    silence_start = now
            elif event.kind == "stalled":
                detected = now
    retry_received = sim.requests[1].received_at
    return detected - silence_start, retry_received - detected, first_new_text - silence_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--limit", type=float, default=2.0)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp()
    print(f"stale limit {args.limit:.1f} s, median of {args.runs} runs per wire\n")
    with ProviderSimulator() as sim:
        for wire in WIRES:
            runs = [one_run(sim, wire, args.limit, workdir) for _ in range(args.runs)]
            detect, retry, text = (statistics.median(column) for column in zip(*runs, strict=True))
            worst_detect = max(r[0] for r in runs)
            worst_retry = max(r[1] for r in runs)
            print(
                f"{wire:9}  detection {detect:.3f} s (worst {worst_detect:.3f}; target <= {args.limit + 0.5:.1f})"
                f"   retry sent {retry * 1000:.0f} ms after detection (worst {worst_retry * 1000:.0f}; target <= 300)"
                f"   first new text {text:.3f} s after the silence began"
            )


if __name__ == "__main__":
    main()
