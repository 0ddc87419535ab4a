"""Failover timing: the primary (Anthropic wire) stalls, the fallback (OpenAI wire) answers.

With a 2 s stale limit, measured per run: from the start of the primary's silence to
the fallback switch, and to the first text from the fallback. By default the primary
gets its whole retry budget first (3 attempts); `--max-retries 0` shows the switch
when the first stall already counts as the provider failing.

    python bench/failover.py [--runs 10] [--limit 2] [--max-retries 2]
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


def one_run(
    primary: ProviderSimulator, backup: ProviderSimulator, args: argparse.Namespace, workdir: str
) -> tuple[float, float]:
    primary.reset_script()
    backup.reset_script()
    primary.behaviour(lambda request: Reply(Silence(60)))
    backup.script(Reply(Text("from the fallback")))
    agent = AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=primary.base_url,
        api_key="bench",
        workdir=workdir,
        tools=[],
        stale_timeout=args.limit,
        max_retries=args.max_retries,
        fallbacks=[f"custom:gpt-4o@{backup.openai_base_url}"],
    )
    switched = first_text = 0.0
    with agent:
        primary.clear_log()
        for event in agent.stream("hi"):
            now = time.monotonic()
            if event.kind == "fallback_activated":
                switched = now
            elif event.kind == "text_delta" and not first_text:
                first_text = now
    silence_start = primary.requests[0].received_at  # the primary never sends a byte
    return switched - silence_start, first_text - silence_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--limit", type=float, default=2.0)
    parser.add_argument("--max-retries", type=int, default=2)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp()
    with ProviderSimulator() as primary, ProviderSimulator() as backup:
        runs = [one_run(primary, backup, args, workdir) for _ in range(args.runs)]
    switch = statistics.median(r[0] for r in runs)
    text = statistics.median(r[1] for r in runs)
    attempts = args.max_retries + 1
    print(f"stale limit {args.limit:.1f} s, {attempts} attempt(s) on the primary, median of {args.runs} runs")
    print(f"  silence start -> fallback switch:           {switch:.3f} s")
    print(f"  silence start -> first text from fallback:  {text:.3f} s")
    print(f"  switch -> first text from fallback:         {(text - switch) * 1000:.0f} ms")
    print(f"  overhead beyond the {attempts} stale limit(s): {(text - attempts * args.limit) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
