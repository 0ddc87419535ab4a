"""The price of recovery end to end: what a stall or a drop wasted is counted and shown."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import AIAgent
from agent.events import ModelCallFinished
from agent.testing import Disconnect, ProviderSimulator, Reply, Silence, Text, Thinking, ToolCall
from agent.trace import TraceWriter

STALE = 1.0
# Sonnet 4.5 continues a cut reply from a prefill; Sonnet 4.6 and gpt-4o from a runtime note.
WIRES = {
    "anthropic-prefill": ("anthropic", "claude-sonnet-4-5", lambda s: s.base_url),
    "anthropic": ("anthropic", "claude-sonnet-4-6", lambda s: s.base_url),
    "openai": ("openai", "gpt-4o", lambda s: s.openai_base_url),
}


@pytest.fixture
def csim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


@pytest.fixture(params=sorted(WIRES))
def make(request: pytest.FixtureRequest, csim: ProviderSimulator, tmp_path: Path) -> Iterator[Callable[..., AIAgent]]:
    provider, model, url = WIRES[request.param]
    agents: list[AIAgent] = []

    def build(**overrides: Any) -> AIAgent:
        options: dict[str, Any] = {
            "provider": provider,
            "model": model,
            "base_url": url(csim),
            "api_key": "k",
            "workdir": tmp_path,
            "stale_timeout": 60.0,  # no false stalls on a loaded machine; stall tests pass STALE
        }
        options.update(overrides)
        agent = AIAgent(**options)
        agents.append(agent)
        return agent

    yield build
    for agent in agents:
        agent.close()


def test_a_stall_mid_text_costs_the_prompt_sent_again(csim: ProviderSimulator, make: Callable[..., AIAgent]) -> None:
    csim.script(
        Reply(Thinking("Let me think about this carefully. " * 20), Text("The answer ", chunk=4), Silence(30)),
        Reply(Text("is 42.")),
    )
    agent = make(stale_timeout=STALE)
    events = list(agent.stream("what is the answer?"))
    result = agent.last_result
    assert result is not None and result.status == "completed" and result.final_text == "The answer is 42."
    waste = result.waste
    retry = [e for e in events if isinstance(e, ModelCallFinished)][-1]
    retried_prompt = (retry.input_tokens or 0) + (retry.cache_read_tokens or 0) + (retry.cache_write_tokens or 0)
    # The first attempt's prompt was processed and lost: about the size of the retry's.
    assert 0.8 * retried_prompt <= waste["prompt_tokens"] <= retried_prompt
    # Its thinking is thrown away (never sent back); its text is kept and continued.
    thinking_tokens = len("Let me think about this carefully. " * 20) // 4
    assert thinking_tokens * 0.9 <= waste["output_tokens"] <= thinking_tokens * 1.2
    assert waste["estimated"] is True  # a cut stream never reports its output
    assert waste["cost_usd"] is not None and waste["cost_usd"] > 0
    assert agent.total_spend.waste.prompt_tokens == waste["prompt_tokens"]
    assert result.to_json()["waste"] == waste


def test_a_dropped_tool_call_costs_its_arguments_and_the_prompt(
    csim: ProviderSimulator, make: Callable[..., AIAgent], tmp_path: Path
) -> None:
    content = "y" * 4_000
    call = {"path": "a.txt", "content": content}
    csim.script(
        Reply(Text("Writing it."), ToolCall("write_file", call, chunk=500), Disconnect()),
        Reply(ToolCall("write_file", call)),
        Reply(Text(" Done.")),
    )
    agent = make()
    result = agent.run("write a.txt")
    assert result.status == "completed" and (tmp_path / "a.txt").read_text() == content
    waste = result.waste
    arguments_tokens = len(json.dumps(call)) // 4
    assert arguments_tokens * 0.9 <= waste["output_tokens"] <= arguments_tokens * 1.2
    assert waste["prompt_tokens"] > 0 and waste["estimated"] is True


def test_a_clean_turn_wastes_nothing(csim: ProviderSimulator, make: Callable[..., AIAgent]) -> None:
    csim.script(Reply(Text("Fine.")))
    result = make().run("hi")
    assert result.waste == {
        "input_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "prompt_tokens": 0,
        "output_tokens": 0,
        "estimated": False,
        "cost_usd": 0.0,
    }


def test_the_trace_summary_shows_cache_share_and_cost(
    csim: ProviderSimulator, make: Callable[..., AIAgent], tmp_path: Path
) -> None:
    csim.script(Reply(ToolCall("write_file", {"path": "b.txt", "content": "z" * 100})), Reply(Text("Done.")))
    path = tmp_path / "trace.jsonl"
    with TraceWriter(path) as trace:
        assert make(stream_observer=trace).run("write b.txt").status == "completed"
    summaries = [json.loads(line) for line in path.read_text().splitlines() if '"kind":"summary"' in line]
    assert len(summaries) == 2
    first, second = summaries
    assert first["prompt_tokens"] > 0 and first["cost_usd"] > 0
    assert second["cache_hit_share"] > 0.8 and second["cost_usd"] < first["cost_usd"]
    assert "from cache, $0.0" in second["sentence"]


def test_a_restarted_reply_costs_the_text_it_repeated(csim: ProviderSimulator, make: Callable[..., AIAgent]) -> None:
    shown = "The answer to your question is"
    csim.script(Reply(Text(shown, chunk=5), Silence(30)), Reply(Text(shown + " 42.", chunk=4)))
    result = make(stale_timeout=STALE).run("q")
    assert result.status == "completed" and result.final_text == shown + " 42."
    # The retry started over: the repeated start was dropped at the seam, and paid for.
    assert result.waste["output_tokens"] == -(-len(shown) // 4) and result.waste["estimated"] is True
