"""Failover timing: the primary (Anthropic wire) stalls, the fallback (OpenAI wire) answers.

With a 2 s stale limit, both behaviours side by side in one run: early escalation (the
default: a fallback exists, so the second stall in a row hands the call over) against
the first wave's behaviour (the primary's whole attempt budget first, three stalls;
`escalate_early = false`). Measured per run from the primary's first stall (its
detection) to the fallback switch and to the fallback's first text.

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
from agent.config import Settings
from agent.testing import ProviderSimulator, Reply, Silence, Text


def one_run(
    primary: ProviderSimulator, backup: ProviderSimulator, args: argparse.Namespace, workdir: str, early: bool
) -> tuple[float, float, int]:
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
        settings=Settings(escalate_early=early),
    )
    first_stall = switched = first_text = 0.0
    with agent:
        primary.clear_log()
        for event in agent.stream("hi"):
            now = time.monotonic()
            if event.kind == "stalled" and not first_stall:
                first_stall = now
            elif event.kind == "fallback_activated":
                switched = now
            elif event.kind == "text_delta" and not first_text:
                first_text = now
    return switched - first_stall, first_text - first_stall, len(primary.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--limit", type=float, default=2.0)
    parser.add_argument("--max-retries", type=int, default=2)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp()
    print(f"stale limit {args.limit:.1f} s, {args.max_retries + 1} attempts allowed, median of {args.runs} runs")
    results = {}
    with ProviderSimulator() as primary, ProviderSimulator() as backup:
        for label, early in (("early escalation (default)", True), ("whole budget first (old)", False)):
            runs = [one_run(primary, backup, args, workdir, early) for _ in range(args.runs)]
            switch = statistics.median(r[0] for r in runs)
            text = statistics.median(r[1] for r in runs)
            results[label] = text
            print(
                f"  {label:27} {runs[0][2]} requests to the primary; first stall -> switch {switch:.3f} s,"
                f" -> first fallback text {text:.3f} s"
            )
    early_text, old_text = results.values()
    print(f"  early escalation reaches the fallback's first text {old_text - early_text:.3f} s sooner"
          f" ({early_text / old_text:.2f} of the old time)")  # fmt: skip


if __name__ == "__main__":
    main()
