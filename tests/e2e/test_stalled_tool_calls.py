"""Stalled tool calls: never half-executed, and repeated stalls turn into chunking
guidance that works. The simulator plays a proxy that kills a stream after 1 s without
bytes, and a model that goes silent while it generates a large tool call unless
fine-grained tool streaming was asked for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import AIAgent
from agent.config import Settings
from agent.testing import LargeWriteModel, ProviderSimulator
from tests.e2e.conftest import of_kind

CONTENT = "".join(f"line {i:05d}: the quick brown fox jumps over the lazy dog\n" for i in range(1_100))  # ~60 KB


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


def agent_without_fine_grained(sim: ProviderSimulator, tmp_path: Path, wire: str, **options: object) -> AIAgent:
    if wire == "anthropic":
        return AIAgent(
            provider="anthropic",
            model="claude-sonnet-4-6",
            base_url=sim.base_url,
            api_key="k",
            workdir=tmp_path,
            stale_timeout=5,
            settings=Settings(eager_tool_streaming=False),
            **options,  # type: ignore[arg-type]
        )
    return AIAgent(
        provider="openrouter",
        model="z-ai/glm-4.6",
        base_url=sim.openrouter_base_url,
        api_key="k",
        workdir=tmp_path,
        stale_timeout=5,
        **options,  # type: ignore[arg-type]
    )


def test_fine_grained_streaming_lets_a_60kb_write_finish_in_one_attempt(sim: ProviderSimulator, tmp_path: Path) -> None:
    assert len(CONTENT) >= 60_000
    sim.behaviour(LargeWriteModel("big.txt", CONTENT))
    with AIAgent(
        provider="openrouter",
        model="anthropic/claude-opus-4.6",
        base_url=sim.openrouter_base_url,
        api_key="k",
        workdir=tmp_path,
        stale_timeout=5,
    ) as agent:
        events = list(agent.stream("write big.txt"))
    assert events[-1].status == "completed"
    assert (tmp_path / "big.txt").read_text() == CONTENT
    assert len(sim.requests) == 2  # the write, then the answer
    assert of_kind(events, "retrying") == [] and of_kind(events, "stall_guidance") == []


@pytest.mark.parametrize("wire", ["anthropic", "openrouter"])
def test_repeated_stalls_turn_into_guidance_and_the_file_is_written_in_pieces(
    sim: ProviderSimulator, tmp_path: Path, wire: str
) -> None:
    sim.behaviour(LargeWriteModel("big.txt", CONTENT))
    with agent_without_fine_grained(sim, tmp_path, wire) as agent:
        events = list(agent.stream("write big.txt"))
    finished = events[-1]
    assert finished.status == "completed", finished.error
    assert (tmp_path / "big.txt").read_bytes() == CONTENT.encode()
    (guidance,) = of_kind(events, "stall_guidance")
    assert guidance.tool == "write_file" and guidance.target == "big.txt"
    assert "8,000" in guidance.text and '"append"' in guidance.text and "patch" in guidance.text
    assert len(of_kind(events, "retrying")) == 1  # the first stall is retried as usual
    writes = [e for e in of_kind(events, "tool_call_started") if e.name == "write_file"]
    assert len(writes) == -(-len(CONTENT) // 8_000)  # only whole pieces ever ran
    assert all(r.rejected is None for r in sim.requests)


def test_a_model_that_ignores_guidance_ends_with_an_actionable_error(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.behaviour(LargeWriteModel("big.txt", CONTENT, obeys_guidance=False))
    with agent_without_fine_grained(sim, tmp_path, "openrouter") as agent:
        result = agent.run("write big.txt")
    assert result.status == "failed"
    error = result.error or ""
    assert "big.txt" in error and "Nothing of that call was executed" in error and "continue" in error
    assert not (tmp_path / "big.txt").exists()  # nothing half-written
    # cut, retry (cut), guidance (cut), guidance (cut): bounded
    assert len(sim.requests) == 4
    assert result.counts.get("stall_guidance") == 2


def test_continue_after_a_failed_turn_starts_with_the_guidance(sim: ProviderSimulator, tmp_path: Path) -> None:
    stubborn = LargeWriteModel("big.txt", CONTENT, obeys_guidance=False)
    sim.behaviour(stubborn)
    with agent_without_fine_grained(sim, tmp_path, "anthropic") as agent:
        assert agent.run("write big.txt").status == "failed"
        sim.clear_log()
        sim.behaviour(LargeWriteModel("big.txt", CONTENT))  # now a model that listens
        events = list(agent.stream("continue"))
    assert events[-1].status == "completed"
    assert (tmp_path / "big.txt").read_bytes() == CONTENT.encode()
    first = sim.requests[0]
    texts = str(first.body["messages"][-1])
    assert "continue" in texts and '"append"' in texts  # the guidance came up front
    assert of_kind(events, "retrying") == []  # no doomed attempt first
