"""Prompt caching end to end: real SDKs, the simulator's cache, hit rates measured.

Each wire: Anthropic Messages (breakpoints), OpenAI chat completions (automatic
prefixes) and Claude through OpenRouter (breakpoints in content parts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from agent import AIAgent
from agent.config import Settings
from agent.context.compaction import SUMMARY_REQUEST_MARK
from agent.events import AgentEvent, ContextTrimmed, ModelCallFinished
from agent.testing import LongTaskModel, ProviderSimulator, RecordedRequest, Reply, Text, ToolCall
from agent.testing.prompt_cache import count_markers, estimate_tokens, prefix_changes, request_blocks
from tests.e2e.test_long_sessions import make_parts


@dataclass(frozen=True)
class CacheWire:
    name: str
    provider: str
    model: str
    url: Callable[[ProviderSimulator], str]
    other_model: str  # a second model with its own cache, for the switch test


CACHE_WIRES = {
    "anthropic": CacheWire("anthropic", "anthropic", "claude-sonnet-4-6", lambda s: s.base_url, "claude-sonnet-4-5"),
    "openai": CacheWire("openai", "openai", "gpt-4o", lambda s: s.openai_base_url, "gpt-4.1"),
    "openrouter": CacheWire(
        "openrouter",
        "openrouter",
        "anthropic/claude-sonnet-4.6",
        lambda s: s.openrouter_base_url,
        "anthropic/claude-sonnet-4.5",
    ),
}


class FakeClock:
    """The simulator's clock, moved by the test (cache TTLs without waiting)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def csim(clock: FakeClock) -> Iterator[ProviderSimulator]:
    with ProviderSimulator(clock=clock) as simulator:
        yield simulator


@pytest.fixture(params=sorted(CACHE_WIRES))
def cwire(request: pytest.FixtureRequest) -> CacheWire:
    return CACHE_WIRES[request.param]


@pytest.fixture
def agent_for(csim: ProviderSimulator, tmp_path: Path) -> Iterator[Callable[..., AIAgent]]:
    agents: list[AIAgent] = []

    def make(wire: CacheWire, **overrides: Any) -> AIAgent:
        options: dict[str, Any] = {
            "provider": wire.provider,
            "model": wire.model,
            "base_url": wire.url(csim),
            "api_key": "test-key",
            "workdir": tmp_path,
            "stale_timeout": 5.0,
        }
        options.update(overrides)
        agent = AIAgent(**options)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.close()


def tool_loop(steps: int, tag: str = "") -> list[Reply]:
    """``steps`` replies that each write a file, then a final answer."""
    replies = [
        Reply(Text(f"Step {i}{tag}."), ToolCall("write_file", {"path": f"f{i}{tag}.txt", "content": "x" * 200}))
        for i in range(steps)
    ]
    return [*replies, Reply(Text(f"Done{tag}."))]


def calls(events: list[AgentEvent]) -> list[ModelCallFinished]:
    return [e for e in events if isinstance(e, ModelCallFinished)]


def prompt(call: ModelCallFinished) -> int:
    return (call.input_tokens or 0) + (call.cache_read_tokens or 0) + (call.cache_write_tokens or 0)


def read_share(finished: list[ModelCallFinished]) -> float:
    return sum(c.cache_read_tokens or 0 for c in finished) / sum(prompt(c) for c in finished)


def test_a_tool_loop_reads_most_of_each_request_from_cache(
    csim: ProviderSimulator, cwire: CacheWire, agent_for: Callable[..., AIAgent]
) -> None:
    csim.script(*tool_loop(20))
    agent = agent_for(cwire)
    events = list(agent.stream("write twenty files"))
    assert events[-1].kind == "turn_finished" and events[-1].status == "completed"
    finished = calls(events)
    assert len(finished) == 21
    assert (finished[0].cache_read_tokens or 0) == 0  # a cold cache
    for call in finished[1:]:
        assert (call.cache_read_tokens or 0) / prompt(call) > 0.8
    assert read_share(finished[1:]) >= 0.9
    result = agent.last_result
    assert result is not None and result.cache_hit_share is not None and result.cache_hit_share > 0.85
    assert result.cost_usd is not None and result.cost_usd > 0
    for request in csim.requests:  # never more breakpoints than the API allows
        assert count_markers(request_blocks(request)) <= 4 and request.rejected is None


def test_the_cached_prefix_stays_byte_identical_across_requests(
    csim: ProviderSimulator, cwire: CacheWire, agent_for: Callable[..., AIAgent]
) -> None:
    csim.script(*tool_loop(6, "a"), *tool_loop(3, "b"))
    agent = agent_for(cwire)
    assert agent.run("first task").status == "completed"
    assert agent.run("second task").status == "completed"
    assert len(csim.requests) == 11
    # Each request repeats the whole previous one (markers aside) and only appends.
    assert prefix_changes(csim.requests) == []


def test_a_changed_system_prompt_is_caught_as_a_prefix_change(
    csim: ProviderSimulator, cwire: CacheWire, agent_for: Callable[..., AIAgent]
) -> None:
    csim.script(*tool_loop(1, "a"), *tool_loop(1, "b"))
    agent = agent_for(cwire, system_prompt="You are helpful. Request 1.")
    assert agent.run("first").status == "completed"
    agent.settings = replace(agent.settings, system_prompt="You are helpful. Request 2.")  # a counter
    assert agent.run("second").status == "completed"
    changes = prefix_changes(csim.requests)
    assert len(changes) == 1 and changes[0].startswith("request 2 changed block") and "Request 1" in changes[0]


def test_a_model_switch_starts_a_new_cache_that_then_hits(
    csim: ProviderSimulator, cwire: CacheWire, agent_for: Callable[..., AIAgent]
) -> None:
    csim.script(*tool_loop(2, "a"), *tool_loop(2, "b"))
    agent = agent_for(cwire)
    first = calls(list(agent.stream("on the first model")))
    assert (first[-1].cache_read_tokens or 0) > 0
    agent.switch_model(cwire.provider, cwire.other_model, cwire.url(csim), api_key="test-key")
    second = calls(list(agent.stream("on the second model")))
    assert (second[0].cache_read_tokens or 0) == 0  # the other model's cache is its own
    if cwire.name != "openai":  # OpenAI writes silently; Anthropic reports the write
        assert (second[0].cache_write_tokens or 0) > 0
    assert all((c.cache_read_tokens or 0) / prompt(c) > 0.8 for c in second[1:])


def test_a_prompt_below_the_minimum_is_not_cached_and_not_refused(
    csim: ProviderSimulator, cwire: CacheWire, agent_for: Callable[..., AIAgent]
) -> None:
    csim.script(Reply(Text("Hi.")), Reply(Text("Hi again.")))
    agent = agent_for(cwire, tools=[], system_prompt="Be brief.")
    assert agent.run("hello").status == "completed"
    assert agent.run("hello again").status == "completed"
    assert all(r.rejected is None for r in csim.requests)
    usage = agent.total_usage
    assert usage["cache_read_tokens"] in (0, None) and usage["cache_write_tokens"] in (0, None)
    assert usage["prompt_tokens"] and usage["prompt_tokens"] < 1_024


@pytest.mark.parametrize(("ttl", "hits_after_six_minutes"), [("5m", False), ("1h", True)])
def test_the_cache_ttl_is_configurable(
    csim: ProviderSimulator,
    clock: FakeClock,
    agent_for: Callable[..., AIAgent],
    ttl: str,
    hits_after_six_minutes: bool,
) -> None:
    csim.script(*tool_loop(1, "a"), *tool_loop(1, "b"))
    agent = agent_for(CACHE_WIRES["anthropic"], settings=Settings(cache_ttl=ttl))
    assert agent.run("first").status == "completed"
    marker = csim.requests[0].body["system"][0]["cache_control"]
    assert marker == ({"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"})
    clock.now += 6 * 60
    second = calls(list(agent.stream("second")))
    assert ((second[0].cache_read_tokens or 0) > 0) is hits_after_six_minutes


def test_caching_off_sends_no_markers_and_no_key(csim: ProviderSimulator, agent_for: Callable[..., AIAgent]) -> None:
    for wire in CACHE_WIRES.values():
        csim.script(Reply(Text("ok")))
        agent = agent_for(wire, settings=Settings(prompt_caching=False))
        assert agent.run("hi").status == "completed"
    for request in csim.requests:
        assert "cache_control" not in str(request.body)
        assert "prompt_cache_key" not in request.body and "x-session-id" not in request.headers


def test_the_cache_key_is_stable_per_session_and_where_the_endpoint_takes_it(
    csim: ProviderSimulator, agent_for: Callable[..., AIAgent], tmp_path: Path
) -> None:
    csim.script(*tool_loop(1, "a"), Reply(Text("b")), Reply(Text("c")), Reply(Text("d")))
    home = tmp_path / "home"
    agent = agent_for(CACHE_WIRES["openai"], session="new", session_home=home)
    agent.run("one")
    agent.run("two")
    keys = [r.body.get("prompt_cache_key") for r in csim.requests]
    assert len(set(keys)) == 1 and str(keys[0]).startswith("stayline-")
    assert agent.session_id is not None and agent.session_id not in str(keys[0])  # a hash, nothing leaks
    resumed = agent_for(CACHE_WIRES["openai"], session=agent.session_id, session_home=home)
    resumed.run("three")
    assert csim.requests[-1].body["prompt_cache_key"] == keys[0]  # the same conversation, the same key
    other = agent_for(CACHE_WIRES["openrouter"])
    other.run("four")
    routed = csim.requests[-1]
    assert "prompt_cache_key" not in routed.body  # OpenRouter derives its own upstream key
    assert routed.headers["x-session-id"].startswith("stayline-") and routed.headers["x-session-id"] != keys[0]


def test_an_unknown_custom_server_gets_no_cache_key_and_an_unknown_cost(
    csim: ProviderSimulator, agent_for: Callable[..., AIAgent]
) -> None:
    csim.script(Reply(Text("local answer")))
    custom = CacheWire("custom", "custom", "qwen3-coder", lambda s: s.openai_base_url, "")
    agent = agent_for(custom)
    result = agent.run("hi")
    assert result.status == "completed"
    assert "prompt_cache_key" not in csim.requests[0].body and "cache_control" not in str(csim.requests[0].body)
    assert result.cost_usd is None and agent.total_cost is None  # no price: unknown, never 0
    assert result.to_json()["cost_usd"] is None


def unchanged_prefix_tokens(before: RecordedRequest, after: RecordedRequest) -> int:
    """The tokens at the start of ``after`` that ``before`` sent too (markers aside): all
    that a cache could serve once a change lands after them."""
    tokens = 0
    for old, new in zip(request_blocks(before), request_blocks(after), strict=False):
        if old.text != new.text:
            break
        tokens += estimate_tokens(new.text)
    return tokens


def test_the_request_right_after_a_trim_reads_what_the_trim_left_unchanged(
    csim: ProviderSimulator, cwire: CacheWire, agent_for: Callable[..., AIAgent], tmp_path: Path
) -> None:
    # A long tool task on a 16k window: tool outputs get stubbed every few steps. Each trim
    # changes the history after the stubs of the trim before; what comes before it stays,
    # and the cache must still serve it (Anthropic: a breakpoint where the stubs end).
    window = 16_000
    csim.set_context_window(cwire.model, window)
    csim.behaviour(LongTaskModel(SUMMARY_REQUEST_MARK))
    make_parts(tmp_path, 40)
    settings = Settings(model_overrides={cwire.model: {"context_window": window}})
    events = list(agent_for(cwire, settings=settings, max_iterations=120).stream("Process parts 1 to 40."))
    assert events[-1].kind == "turn_finished" and events[-1].status == "completed"
    finished = calls(events)
    requests = csim.requests
    assert len(finished) == len(requests) and all(r.rejected is None for r in requests)
    after_trim: list[int] = []  # indexes of the requests right after a trim
    for event in events:
        if isinstance(event, ContextTrimmed):
            after_trim.append(sum(1 for e in events[: events.index(event)] if isinstance(e, ModelCallFinished)))
    assert len(after_trim) >= 4, after_trim
    for index in after_trim[1:]:  # the first trim has nothing stubbed before it
        unchanged = unchanged_prefix_tokens(requests[index - 1], requests[index])
        read = finished[index].cache_read_tokens or 0
        assert read >= 0.8 * unchanged, f"request {index} read {read:,} of {unchanged:,} unchanged tokens"
    for request in requests:
        assert count_markers(request_blocks(request)) <= 4
