"""Stall recovery timing with a 2 s stale limit, through the real SDK and the simulator.

Part 1: the provider sends some text, then goes silent; the retry answers at once.
Measured from the start of the silence (the last delta before it reached the agent):
detection, the retried request reaching the simulator, and the first new text.
Targets: detection within limit + 0.5 s; the retry sent within 0.3 s after detection.

Part 2, the continuation paths side by side: a reply of about 500 tokens stalls after
half of it; the model streams at a fixed pace (about 100 tokens/s). On a pre-4.6 Claude
the retry continues the prefill exactly; on Claude 4.6 (no prefill) the model gets the
runtime note and either continues exactly, repeats its last sentence, or restarts from
the beginning. Printed per path: output tokens regenerated per recovery (the waste,
dropped at the seam so the user never sees them) and the time from the stall's
detection to the first new text.

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
from agent.testing import Pace, ProviderSimulator, RecordedRequest, Reply, Silence, Text

SENTENCES = [f"Sentence {i} explains one more step of the answer in plain words. " for i in range(32)]
ANSWER = "".join(SENTENCES)  # about 2,000 characters, 500 tokens
CUT = len("".join(SENTENCES[:16]))  # the stall comes after half of it
PACE = 0.01  # seconds per 4-character event: about 100 tokens/s

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


def _retry_reply(mode: str) -> object:
    def reply(request: RecordedRequest) -> Reply:
        prefill = request.body["messages"][-1]["role"] == "assistant"
        if prefill or mode == "exact":
            rest = ANSWER[CUT:]
        elif mode == "repeat last sentence":
            rest = SENTENCES[15] + ANSWER[CUT:]
        else:
            rest = ANSWER
        return Reply(Pace(PACE), Text(rest, chunk=4))

    return reply


def one_path(sim: ProviderSimulator, model: str, mode: str, limit: float, workdir: str) -> tuple[float, float]:
    """(tokens regenerated, seconds from detection to the first new text) for one recovery."""
    sim.clear_log()
    sim.script(Reply(Pace(PACE), Text(ANSWER[:CUT], chunk=4), Silence(60)), _retry_reply(mode))
    detected = first_new = 0.0
    with AIAgent(
        provider="anthropic", model=model, base_url=sim.base_url, api_key="bench", workdir=workdir, tools=[],
        stale_timeout=limit,
    ) as agent:  # fmt: skip
        for event in agent.stream("explain"):
            if event.kind == "stalled":
                detected = time.monotonic()
            elif event.kind == "text_delta" and detected and not first_new:
                first_new = time.monotonic()
        assert agent.last_result is not None and agent.last_result.final_text == ANSWER, "the join is not exact"
    sent = len(_retry_text(mode, sim))
    regenerated_chars = sent - (len(ANSWER) - CUT)
    return regenerated_chars / 4, first_new - detected


def _retry_text(mode: str, sim: ProviderSimulator) -> str:
    prefill = sim.requests[1].body["messages"][-1]["role"] == "assistant"
    if prefill or mode == "exact":
        return ANSWER[CUT:]
    return SENTENCES[15] + ANSWER[CUT:] if mode == "repeat last sentence" else ANSWER


def continuation_paths(sim: ProviderSimulator, runs: int, limit: float, workdir: str) -> None:
    print("\ncontinuation after a stall mid-reply (500-token reply, cut at half, ~100 tokens/s):")
    paths = [
        ("claude-sonnet-4-5", "prefill", "exact"),
        ("claude-sonnet-4-6", "no prefill, continues exactly", "exact"),
        ("claude-sonnet-4-6", "no prefill, repeats last sentence", "repeat last sentence"),
        ("claude-sonnet-4-6", "no prefill, restarts the reply", "restart"),
    ]
    for model, label, mode in paths:
        results = [one_path(sim, model, mode, limit, workdir) for _ in range(runs)]
        waste = statistics.median(r[0] for r in results)
        first = statistics.median(r[1] for r in results)
        print(f"  {label:36} ({model}): {waste:5.0f} tokens regenerated, first new text {first * 1000:6.0f} ms")


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
        continuation_paths(sim, max(1, args.runs // 2), args.limit, workdir)


if __name__ == "__main__":
    main()
