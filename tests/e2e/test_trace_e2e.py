"""The stream trace end to end: a real agent, real SDKs, a stall and its retry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent import AIAgent
from agent.testing import KeepAlives, ProviderSimulator, Reply, Silence, Text
from agent.trace import TraceWriter

STALE = 1.0
ENV_SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-api03-envsecret-0123456789",
    "OPENAI_API_KEY": "sk-proj-envsecret-9876543210",
    "OPENROUTER_API_KEY": "sk-or-v1-envsecret-5555555555",
}


def test_trace_of_a_stall_and_its_retry(
    sim: ProviderSimulator,
    make_agent: Callable[..., AIAgent],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENV_SECRETS.items():
        monkeypatch.setenv(name, value)
    sim.script(
        Reply(Text("Hello there, friend", chunk=3), KeepAlives(1.0, every=0.2), Silence(30)),
        Reply(Text(" and welcome.")),
    )
    path = tmp_path / "t.jsonl"
    with TraceWriter(path) as trace:
        agent = make_agent(stale_timeout=STALE, stream_observer=trace)
        result = agent.run("greet")
    assert result.status == "completed"
    assert result.final_text == "Hello there, friend and welcome."

    content = path.read_text(encoding="utf-8")
    lines: list[dict[str, Any]] = [json.loads(line) for line in content.splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds.count("attempt_start") == 2
    assert kinds.count("attempt_end") == 2 and kinds.count("summary") == 2
    assert kinds[-1] == "trace_end"

    first_text = [line for line in lines if line["kind"] == "text" and line["attempt"] == 1 and line["bytes"]]
    assert len(first_text) == 7  # 19 characters in chunks of 3 (Anthropic also opens with an empty one)
    assert sum(line["bytes"] for line in first_text) == len("Hello there, friend")
    keep_alives = [line for line in lines if line["kind"] == "keep_alive"]
    assert all(line["bytes"] == 0 and line["call"] == 1 for line in keep_alives)
    stall_pings = [line for line in keep_alives if line["attempt"] == 1]
    assert len(stall_pings) >= 3  # KeepAlives(1.0, every=0.2) before the stall was detected
    times = [line["t"] for line in lines]
    assert times == sorted(times)

    stalled, answered = [line for line in lines if line["kind"] == "summary"]
    assert stalled["attempt"] == 1 and stalled["retries"] == 0
    assert stalled["progress_deltas"] == 7
    assert stalled["sentence"].startswith(f"{stalled['progress_deltas']} deltas in ")
    assert "s of silence" in stalled["sentence"]
    assert stalled["keep_alives"] == len(stall_pings)
    assert stalled["silence_at_end"] >= STALE
    assert answered["attempt"] == 2 and answered["retries"] == 1
    head, spend = answered["sentence"].rsplit("; ", 1)
    assert head.endswith("complete; retry 1 of call 1")
    assert spend.startswith(f"{answered['prompt_tokens']:,} prompt tokens")  # then the cache share and cost
    first_end, second_end = [line for line in lines if line["kind"] == "attempt_end"]
    assert first_end["error_kind"] == "stale" and second_end["state"] == "complete"

    for secret in [*ENV_SECRETS.values(), "test-key"]:
        assert secret not in content
    assert "Hello" not in content  # sizes only, never what the model said
