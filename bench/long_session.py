"""A long tool task on a small context window, with trimming and compaction on and off.

The simulated model works through STEPS parts (read a large input file, write a small
output file, one part a step) on a model whose window is WINDOW tokens: the simulator
refuses any request over it with the wire's real context-length error, and the agent
knows the window from a catalog override. Printed side by side, measured in one run:
steps completed, peak window fill (the simulator's own count of every request sent,
with the output it reserves), tokens spent on summaries, requests refused, and how much
of the prompts the simulator's prompt cache served, and the cost at catalog prices.

    python bench/long_session.py [--steps 200] [--window 16000] [--wire anthropic|openai]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import AIAgent
from agent.config import Settings
from agent.context.compaction import SUMMARY_REQUEST_MARK
from agent.testing import LongTaskModel, ProviderSimulator, RecordedRequest, part_answer, part_path, prompt_tokens

WIRES = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4o"}


@dataclass
class Figures:
    status: str
    steps: int
    peak_prompt: float
    peak_fill: float
    summary_tokens: int
    refused: int
    compactions: int
    trimmed: int
    requests: int
    cache_share: float | None
    cost: float | None
    seconds: float


def make_parts(root: Path, count: int, chars: int) -> dict[int, str]:
    expected = {}
    for n in range(1, count + 1):
        key = f"KEY-{n:03d}-{hashlib.sha256(str(n).encode()).hexdigest()[:12]}"
        row = f"row of part {n:03d}: alpha beta gamma delta epsilon zeta eta theta"
        path = root / part_path("data", n)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([key, *(row for _ in range(chars // (len(row) + 1)))]) + "\n")
        expected[n] = part_answer(key)
    return expected


def request_size(request: RecordedRequest) -> int:
    reserved = request.body.get("max_tokens") or request.body.get("max_completion_tokens") or 0
    return prompt_tokens(request) + int(reserved)


def one_run(args: argparse.Namespace, *, compaction: bool) -> Figures:
    model_id = WIRES[args.wire]
    workdir = Path(tempfile.mkdtemp())
    expected = make_parts(workdir, args.steps, args.chars)
    model = LongTaskModel(SUMMARY_REQUEST_MARK)
    with ProviderSimulator(context_windows={model_id: args.window}) as sim:
        sim.behaviour(model)
        url = sim.base_url if args.wire == "anthropic" else sim.openai_base_url
        settings = Settings(model_overrides={model_id: {"context_window": args.window}})
        started = time.monotonic()
        with AIAgent(
            provider=args.wire,
            model=model_id,
            base_url=url,
            api_key="bench",
            workdir=workdir,
            settings=settings,
            max_iterations=args.steps * 2 + 20,
            compaction=compaction,
        ) as agent:
            result = agent.run(f"Process parts 1 to {args.steps}.")
        seconds = time.monotonic() - started
        requests = sim.requests
    done = sum(1 for n, answer in expected.items() if _read(workdir / part_path("out", n)) == answer)
    sent = [r for r in requests if r.rejected is None]
    context: dict[str, Any] = result.context
    return Figures(
        status=result.status,
        steps=done,
        peak_prompt=max((prompt_tokens(r) for r in sent), default=0) / args.window,
        peak_fill=max((request_size(r) for r in sent), default=0) / args.window,
        summary_tokens=int(context.get("summary_tokens_spent", 0)),
        refused=sum(1 for r in requests if r.rejected is not None),
        compactions=result.counts.get("compacted", 0),
        trimmed=int(context.get("trimmed_results", 0)),
        requests=len(requests),
        cache_share=result.cache_hit_share,
        cost=result.cost_usd,
        seconds=seconds,
    )


def _share(share: float | None) -> str:
    return "not reported" if share is None else f"{share:.1%}"


def _usd(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--window", type=int, default=16_000)
    parser.add_argument("--chars", type=int, default=2_400, help="size of each input file")
    parser.add_argument("--wire", choices=sorted(WIRES), default="anthropic")
    args = parser.parse_args()
    on = one_run(args, compaction=True)
    off = one_run(args, compaction=False)
    print(
        f"{args.steps}-step task, {args.chars:,}-character tool outputs, {args.window:,}-token window, {args.wire} wire"
    )
    print(f"{'':34}{'trim + compaction':>20}{'turned off':>14}")
    rows = [
        ("outcome", on.status, off.status),
        ("steps completed", f"{on.steps} of {args.steps}", f"{off.steps} of {args.steps}"),
        ("peak window fill: prompt", f"{on.peak_prompt:.1%}", f"{off.peak_prompt:.1%}"),
        ("  with the output it reserves", f"{on.peak_fill:.1%}", f"{off.peak_fill:.1%}"),
        ("requests refused", on.refused, off.refused),
        ("compactions", on.compactions, off.compactions),
        ("tool outputs stubbed", on.trimmed, off.trimmed),
        ("tokens spent on summaries", f"{on.summary_tokens:,}", f"{off.summary_tokens:,}"),
        ("requests sent", on.requests, off.requests),
        ("prompt tokens read from cache", _share(on.cache_share), _share(off.cache_share)),
        ("cost (catalog prices)", _usd(on.cost), _usd(off.cost)),
        ("wall time", f"{on.seconds:.1f} s", f"{off.seconds:.1f} s"),
    ]
    for label, a, b in rows:
        print(f"  {label:<32}{a!s:>20}{b!s:>14}")
    print("(peak fill: the simulator's count of each request sent; cache: as the simulator's prompt cache")
    print(" reports it, breakpoints on Anthropic, automatic prefixes on OpenAI)")


if __name__ == "__main__":
    main()
