"""Long sessions end to end on both wires, on a model whose window is small (16,000
tokens, set by a catalog override) and a simulator that refuses what does not fit, with
each wire's real context-length error."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent import AIAgent
from agent.cli.slash import SlashContext, dispatch
from agent.config import Settings
from agent.context.compaction import SUMMARY_REQUEST_MARK
from agent.context.state import SUMMARY_MARK
from agent.events import AgentEvent
from agent.testing import (
    LongTaskModel,
    ProviderSimulator,
    RecordedRequest,
    Reply,
    Text,
    part_answer,
    part_path,
    prompt_tokens,
)
from agent.testing.behaviours import conversation_items
from tests.e2e.conftest import WireSetup, of_kind

WINDOW = 16_000


def make_parts(root: Path, count: int, chars: int = 2_400, filler: str = "") -> dict[int, str]:
    """``count`` input files of about ``chars`` characters; returns each one's expected answer."""
    expected = {}
    for n in range(1, count + 1):
        key = f"KEY-{n:03d}-{hashlib.sha256(str(n).encode()).hexdigest()[:12]}"
        row = filler or f"row of part {n:03d}: alpha beta gamma delta epsilon zeta eta theta"
        lines = [key, *(row for _ in range(chars // (len(row) + 1)))]
        path = root / part_path("data", n)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        expected[n] = part_answer(key)
    return expected


@pytest.fixture
def small_window(sim: ProviderSimulator, wire: WireSetup) -> Settings:
    """The simulator enforces a 16k window on the model; the agent knows it from its catalog."""
    sim.set_context_window(wire.model, WINDOW)
    return Settings(model_overrides={wire.model: {"context_window": WINDOW}})


@pytest.fixture
def model(sim: ProviderSimulator) -> LongTaskModel:
    behaviour = LongTaskModel(SUMMARY_REQUEST_MARK)
    sim.behaviour(behaviour)
    return behaviour


def request_size(request: RecordedRequest) -> int:
    """What the request asks of the window: the prompt plus the output it reserves."""
    reserved = request.body.get("max_tokens") or request.body.get("max_completion_tokens") or 0
    return prompt_tokens(request) + int(reserved)


def pairs_intact(request: RecordedRequest) -> bool:
    """Every tool result in the request follows its own call (the simulator's rules check
    the wire's adjacency; this checks that no call lost its result and none is orphaned)."""
    calls: set[str] = set()
    answered: set[str] = set()
    for item in conversation_items(request):
        if item.kind == "call":
            calls.add(item.call_id)
        elif item.kind == "result":
            if item.call_id not in calls:
                return False
            answered.add(item.call_id)
    return calls == answered


def test_a_200_step_task_with_large_outputs_completes_inside_the_window(
    sim: ProviderSimulator,
    make_agent: Callable[..., AIAgent],
    small_window: Settings,
    model: LongTaskModel,
    tmp_path: Path,
) -> None:
    expected = make_parts(tmp_path, 200)
    agent = make_agent(settings=small_window, max_iterations=400)
    events = list(agent.stream("Process parts 1 to 200: write out/part_NNN.txt for each data/part_NNN.txt."))
    finished = events[-1]
    assert finished.status == "completed", finished.error
    assert all(r.rejected is None for r in sim.requests)  # no request was refused
    assert max(request_size(r) for r in sim.requests) <= WINDOW  # every request stayed under the window
    for n, answer in expected.items():
        assert (tmp_path / part_path("out", n)).read_text() == answer
    compactions, trims = of_kind(events, "compacted"), of_kind(events, "context_trimmed")
    assert len(compactions) >= 2 and trims  # trimmed in steps, compacted when that was not enough
    assert len(model.summary_requests) >= len(compactions)  # (more only if one was retried)
    assert all(c.tokens_after < c.tokens_before for c in compactions)
    fills = of_kind(events, "context_fill")
    assert all(f.measured for f in fills[1:])  # after the first reply every size rests on a report
    assert max(f.fraction for f in fills) < 0.85
    context = agent.last_result.context if agent.last_result else {}
    assert context["compactions"] == len(compactions) and context["peak_fill"] < 0.85
    assert context["summary_tokens_spent"] > 0
    assert len(agent.full_history) > len(agent.history)  # nothing lost: the full history has it all


def test_the_summary_request_carries_the_older_history_and_the_new_history_keeps_pairs(
    sim: ProviderSimulator,
    make_agent: Callable[..., AIAgent],
    small_window: Settings,
    model: LongTaskModel,
    tmp_path: Path,
) -> None:
    make_parts(tmp_path, 110)
    agent = make_agent(settings=small_window, max_iterations=300)
    result = agent.run("Process parts 1 to 110.")
    assert result.status == "completed", result.error
    assert len(model.summary_requests) >= 2
    first_text = str(model.summary_requests[0].body["messages"])
    # the older history goes along: the first steps, their calls and (stubbed) outputs
    assert part_path("data", 1) in first_text and part_path("out", 1) in first_text
    assert "output removed to save context" in first_text
    # the later compaction updates the earlier summary instead of summarising a summary
    later = [conversation_items(r) for r in model.summary_requests]
    updates = [items for items in later if any(SUMMARY_MARK in i.text for i in items if i.kind == "user")]
    assert updates and all("Update it" in items[-1].text for items in updates)
    for summary in model.summary_requests:
        after = next(r for r in sim.requests if r.index > summary.index and r not in model.summary_requests)
        users = [i.text for i in conversation_items(after) if i.kind == "user"]
        assert users[0] == "Process parts 1 to 110." and SUMMARY_MARK in users[1]  # first message, then the summary
        assert pairs_intact(after) and after.rejected is None
        before = sim.requests[summary.index - 1]
        assert prompt_tokens(after) < prompt_tokens(before) * 0.6


def test_an_overflow_from_the_provider_is_recovered_once(
    sim: ProviderSimulator,
    make_agent: Callable[..., AIAgent],
    small_window: Settings,
    model: LongTaskModel,
    tmp_path: Path,
) -> None:
    # Quotes cost twice as much on the wire as our estimate counts them: the request after
    # reading part 9 is larger than the agent expects, and the provider refuses it.
    make_parts(tmp_path, 8)
    (tmp_path / part_path("data", 9)).write_text("KEY-009-0123456789ab\n" + ('"' * 60 + "\n") * 330)
    agent = make_agent(settings=small_window, max_iterations=60)
    events = list(agent.stream("Process parts 1 to 9."))
    assert events[-1].status == "completed", events[-1].error
    refused = [r for r in sim.requests if r.rejected is not None]
    assert len(refused) == 1
    message = refused[0].rejected or ""
    assert "prompt is too long" in message or "maximum context length" in message
    compactions = of_kind(events, "compacted")
    assert [c.reason for c in compactions] == ["overflow"]
    retry = next(r for r in sim.requests if r.index > refused[0].index and r not in model.summary_requests)
    assert retry.rejected is None and request_size(retry) <= WINDOW
    assert (tmp_path / part_path("out", 9)).read_text() == part_answer("KEY-009-0123456789ab")
    assert "fallback_activated" not in {e.kind for e in events}


def test_when_nothing_can_be_removed_the_turn_ends_with_a_clear_outcome(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent], small_window: Settings, tmp_path: Path
) -> None:
    agent = make_agent(settings=small_window, session="new", session_home=tmp_path / "home")
    huge = "Summarise this log:\n" + "error: disk quota exceeded on /srv/data\n" * 2_000
    result = agent.run(huge)
    assert result.status == "failed"
    error = result.error or ""
    assert "cannot be made smaller" in error and "Nothing was lost" in error
    assert "/new" in error and "/model" in error
    assert sim.requests == []  # nothing was sent that could not fit
    assert agent.full_history[0].text == huge  # everything is kept, in memory and in the session
    resumed = AIAgent(
        provider=agent.provider.name,
        model=agent.provider.model,
        base_url=agent.provider.base_url,
        api_key="test-key",
        workdir=tmp_path,
        session=agent.session_id,
        session_home=tmp_path / "home",
    )
    with resumed:
        assert resumed.full_history[0].text == huge


def _agent_like(agent: AIAgent, tmp_path: Path, settings: Settings, **extra: Any) -> AIAgent:
    provider = agent.provider
    return AIAgent(
        provider=provider.name,
        model=provider.model,
        base_url=provider.base_url,
        api_key="test-key",
        workdir=tmp_path,
        stale_timeout=5.0,
        settings=settings,
        session_home=tmp_path / "home",
        **extra,
    )


def test_resume_after_a_compaction_continues(
    sim: ProviderSimulator,
    make_agent: Callable[..., AIAgent],
    small_window: Settings,
    model: LongTaskModel,
    tmp_path: Path,
) -> None:
    expected = make_parts(tmp_path, 80)
    first = make_agent(settings=small_window, max_iterations=60, session="new", session_home=tmp_path / "home")
    stopped = first.run("Process parts 1 to 80.")
    assert stopped.status == "failed" and "iteration cap" in (stopped.error or "")  # stopped midway on purpose
    assert model.summary_requests  # after a compaction
    seen = [m.to_dict() for m in first.history]
    first.close()
    with _agent_like(first, tmp_path, small_window, session="latest", max_iterations=100) as second:
        assert [m.to_dict() for m in second.history] == seen  # exactly where the model was
        assert SUMMARY_MARK in second.history[1].text
        assert len(second.full_history) > len(second.history)
        before = len(sim.requests)
        result = second.run("continue")
        assert result.status == "completed", result.error
    assert [r.rejected for r in sim.requests[before:] if r.rejected] == []
    for n, answer in expected.items():
        assert (tmp_path / part_path("out", n)).read_text() == answer


def test_undo_across_a_compaction(
    sim: ProviderSimulator,
    make_agent: Callable[..., AIAgent],
    small_window: Settings,
    model: LongTaskModel,
    tmp_path: Path,
) -> None:
    make_parts(tmp_path, 70)
    agent = make_agent(settings=small_window, max_iterations=200, session="new", session_home=tmp_path / "home")
    assert agent.run("Process parts 1 to 3.").status == "completed"
    after_first = [m.to_dict() for m in agent.history]
    assert agent.full_history == agent.history  # no compaction yet
    second = list(agent.stream("Process parts 4 to 70."))
    assert second[-1].status == "completed" and of_kind(second, "compacted")
    lines: list[str] = []
    ctx = SlashContext(agent, lambda line, style: lines.append(line), lambda start: list(start()))
    dispatch("/undo", ctx)
    assert lines == ["undone: Process parts 4 to 70."]
    assert [m.to_dict() for m in agent.history] == after_first  # what the model saw before that turn
    assert [m.to_dict() for m in agent.full_history] == after_first
    agent.close()
    with _agent_like(agent, tmp_path, small_window, session="latest") as resumed:
        assert [m.to_dict() for m in resumed.history] == after_first  # the session agrees
        before = len(sim.requests)
        assert resumed.run("Process parts 4 to 6.").status == "completed"
    assert all(r.rejected is None for r in sim.requests[before:])


def test_compact_on_demand_with_a_focus_and_the_events_reach_json(
    sim: ProviderSimulator,
    make_agent: Callable[..., AIAgent],
    small_window: Settings,
    model: LongTaskModel,
    tmp_path: Path,
) -> None:
    make_parts(tmp_path, 6)
    agent = make_agent(settings=small_window)
    assert agent.run("Process parts 1 to 6.").status == "completed"
    lines: list[str] = []
    turns: list[list[AgentEvent]] = []
    ctx = SlashContext(agent, lambda line, style: lines.append(line), lambda start: turns.append(list(start())))
    dispatch("/compact the output files", ctx)
    events = turns[-1]
    compacted = of_kind(events, "compacted")
    assert len(compacted) == 1 and compacted[0].reason == "manual"
    assert "the output files" in conversation_items(model.summary_requests[-1])[-1].text
    assert SUMMARY_MARK in agent.history[1].text
    assert agent.last_result is not None and agent.last_result.to_json()["events"]["compacted"] == 1
    dispatch("/usage", ctx)
    assert any(line.startswith("context: ") and "1 compaction" in line for line in lines)


def test_turned_off_the_same_task_dies_of_context(
    sim: ProviderSimulator,
    make_agent: Callable[..., AIAgent],
    small_window: Settings,
    model: LongTaskModel,
    tmp_path: Path,
) -> None:
    make_parts(tmp_path, 40)
    agent = make_agent(settings=small_window, max_iterations=100, compaction=False)
    result = agent.run("Process parts 1 to 40.")
    assert result.status == "failed"
    assert "too long" in (result.error or "") and "/model" in (result.error or "")
    assert [r for r in sim.requests if r.rejected is not None]
    assert "compacted" not in result.counts and "context_trimmed" not in result.counts


def test_a_fallback_with_a_larger_window_takes_over_and_stays(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.set_context_window("claude-sonnet-4-6", 8_000)  # the fallback, gpt-4o, has a large window
    sim.script(
        Reply(Text("The log says the disk is full.")),  # usage: the simulator's count of the prompt
        Reply(Text("Clean /srv/data first.")),
    )
    agent = AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=sim.base_url,
        api_key="test-key",
        workdir=tmp_path,
        stale_timeout=5.0,
        settings=Settings(model_overrides={"claude-sonnet-4-6": {"context_window": 8_000}}),
        fallbacks=[f"custom:gpt-4o@{sim.openai_base_url}"],
    )
    with agent:
        events = list(agent.stream("Summarise this log:\n" + "error: disk quota exceeded on /srv/data\n" * 1_000))
        assert events[-1].status == "completed", events[-1].error
        assert len(of_kind(events, "fallback_activated")) == 1
        assert any("stays in use" in e.message for e in of_kind(events, "notice"))
        refused = [r for r in sim.requests if r.rejected is not None]
        assert len(refused) == 1 and refused[0].wire == "anthropic"
        before = len(sim.requests)
        assert agent.run("what first?").status == "completed"  # the next turn stays on the larger window
    assert [r.wire for r in sim.requests[before:]] == ["openai"]
