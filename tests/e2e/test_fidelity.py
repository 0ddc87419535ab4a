"""Behaving like the real APIs (issue 10), end to end through the real SDKs against the
strict simulator: continuation without prefill, whole replies kept, valid tool-call ids,
and the rest of the real wire."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent import AIAgent
from agent.continuation import RUNTIME_NOTE
from agent.testing import (
    Disconnect,
    HttpError,
    ProviderSimulator,
    RawSSE,
    RecordedRequest,
    Reply,
    Reset,
    Silence,
    Text,
    ToolCall,
)
from tests.e2e.conftest import of_kind

STALE = 1.0


def last_role(request: RecordedRequest) -> str:
    return str(request.body["messages"][-1]["role"])


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or [] if isinstance(b, dict))


def note_asking_to_continue(request: RecordedRequest) -> bool:
    last = request.body["messages"][-1]
    return last["role"] == "user" and text_of(last).startswith(RUNTIME_NOTE)


def shown(events: list[Any]) -> str:
    return "".join(e.text for e in of_kind(events, "text_delta"))


@pytest.fixture(
    params=[
        ("anthropic", "claude-sonnet-4-6"),
        ("anthropic", "claude-opus-4-6"),
        ("openai", "gpt-4o"),
        ("openrouter", "anthropic/claude-opus-4.6"),
    ],
    ids=["sonnet-4-6", "opus-4-6", "gpt-4o", "openrouter-opus-4-6"],
)
def no_prefill_agent(request: pytest.FixtureRequest, sim: ProviderSimulator, tmp_path: Path) -> Any:
    provider, model = request.param
    url = {"anthropic": sim.base_url, "openai": sim.openai_base_url, "openrouter": sim.openrouter_base_url}[provider]
    agent = AIAgent(provider=provider, model=model, base_url=url, api_key="k", workdir=tmp_path, stale_timeout=STALE)
    yield agent
    agent.close()


def test_stall_after_text_is_continued_without_prefill(sim: ProviderSimulator, no_prefill_agent: AIAgent) -> None:
    def rest(request: RecordedRequest) -> Reply:
        assert note_asking_to_continue(request), request.body["messages"][-1]
        return Reply(Text("world."))

    sim.script(Reply(Text("Hello ", chunk=2), Silence(30)), rest)
    events = list(no_prefill_agent.stream("greet"))
    assert events[-1].status == "completed" and events[-1].final_text == "Hello world."
    assert shown(events) == "Hello world."
    assert all(r.rejected is None for r in sim.requests) and len(sim.requests) == 2
    assert all(last_role(r) == "user" for r in sim.requests)  # no request ends with an assistant message
    history = no_prefill_agent.history
    assert [m.role for m in history] == ["user", "assistant"]  # the note is not in the conversation
    assert history[-1].text == "Hello world."


def test_a_reply_that_restarts_from_the_beginning_is_not_shown_twice(
    sim: ProviderSimulator, no_prefill_agent: AIAgent
) -> None:
    sim.script(
        Reply(Text("The answer to your question is", chunk=5), Silence(30)),
        Reply(Text("The answer to your question is 42.", chunk=4)),
    )
    events = list(no_prefill_agent.stream("q"))
    assert events[-1].final_text == "The answer to your question is 42."
    assert shown(events) == "The answer to your question is 42."


def test_a_drop_right_after_the_terminal_event_keeps_the_whole_reply(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("Every byte arrived."), after_terminal=Disconnect()))
    result = make_agent(stale_timeout=STALE).run("hi")
    assert result.status == "completed" and result.final_text == "Every byte arrived."
    assert len(sim.requests) == 1


def test_a_reset_right_after_the_terminal_event_keeps_the_whole_reply(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(Text("Kept."), after_terminal=Reset()))
    result = make_agent(stale_timeout=STALE).run("hi")
    assert result.status == "completed" and result.final_text == "Kept." and len(sim.requests) == 1


def test_max_tokens_cut_on_opus_4_6_is_continued_with_a_note(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("Part one, "), stop="max_tokens"), Reply(Text("part two.")))
    with AIAgent(
        provider="anthropic", model="claude-opus-4-6", base_url=sim.base_url, api_key="k", workdir=tmp_path
    ) as agent:
        events = list(agent.stream("write"))
    assert events[-1].final_text == "Part one, part two." and shown(events) == "Part one, part two."
    assert sim.requests[1].rejected is None and note_asking_to_continue(sim.requests[1])
    assert "output limit" in text_of(sim.requests[1].body["messages"][-1])


def test_a_pre_4_6_claude_still_continues_from_a_prefill(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("Part one, "), stop="max_tokens"), Reply(Text(" part two.")))
    with AIAgent(
        provider="anthropic", model="claude-sonnet-4-5", base_url=sim.base_url, api_key="k", workdir=tmp_path
    ) as agent:
        result = agent.run("write")
    assert result.final_text == "Part one, part two."
    retry = sim.requests[1]
    assert retry.rejected is None and last_role(retry) == "assistant"
    assert text_of(retry.body["messages"][-1]) == "Part one,"  # no trailing whitespace sent


def test_a_fallback_that_takes_over_mid_reply_continues_without_prefill(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(
        Reply(Text("Half an ans", chunk=3), Silence(30)),
        HttpError(529, "Overloaded", "overloaded_error"),
        HttpError(529, "Overloaded", "overloaded_error"),
        Reply(Text("answer, finished.")),
    )
    with AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=sim.base_url,
        api_key="k",
        workdir=tmp_path,
        stale_timeout=STALE,
        max_retries=2,
        fallbacks=[f"custom:gpt-4o@{sim.openai_base_url}"],
    ) as agent:
        events = list(agent.stream("q"))
    assert events[-1].status == "completed", events[-1]
    assert shown(events) == "Half an answer, finished."
    fallback = sim.requests[-1]
    assert fallback.wire == "openai" and note_asking_to_continue(fallback)


def test_ids_stay_valid_and_unique_after_a_cross_wire_fallback(sim: ProviderSimulator, tmp_path: Path) -> None:
    """A compatible server that numbers calls per response with ids Anthropic refuses; after
    two tool rounds the turn falls back to the Anthropic wire, which takes the history."""
    sim.script(
        Reply(ToolCall("write_file", {"path": "a.txt", "content": "A"}, id="fc.call:0")),
        Reply(ToolCall("write_file", {"path": "b.txt", "content": "B"}, id="fc.call:0")),
        HttpError(401, "key revoked"),
        Reply(Text("Both written.")),
    )
    with AIAgent(
        provider="openai",
        model="gpt-4o",
        base_url=sim.openai_base_url,
        api_key="k",
        workdir=tmp_path,
        fallbacks=[f"custom:claude-sonnet-4-6@{sim.anthropic_gateway_url}"],
    ) as agent:
        result = agent.run("write both")
    assert result.status == "completed" and result.final_text == "Both written."
    assert (tmp_path / "a.txt").read_text() == "A" and (tmp_path / "b.txt").read_text() == "B"
    anthropic_request = sim.requests[-1]
    assert anthropic_request.wire == "anthropic" and anthropic_request.rejected is None
    ids = [b["id"] for m in anthropic_request.body["messages"] for b in m["content"] if b.get("type") == "tool_use"]
    assert len(ids) == 2 and len(set(ids)) == 2
    # The conversation's own ids are unique too, and every result answers its call.
    calls = [c.call_id for m in agent.history for c in m.tool_calls]
    results = [r.call_id for m in agent.history for r in m.tool_results]
    assert len(set(calls)) == 2 and sorted(calls) == sorted(results)


def test_ids_minted_for_a_server_that_sends_none_are_unique_across_replies(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    no_id = (
        b'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":'
        b'{"tool_calls":[{"index":0,"function":{"name":"list_dir","arguments":"{}"}}]},"finish_reason":null}]}\n\n'
        b'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},'
        b'"finish_reason":"tool_calls"}]}\n\ndata: [DONE]\n\n'
    )
    sim.script(RawSSE(no_id), RawSSE(no_id), Reply(Text("Listed twice.")))
    with AIAgent(provider="openai", model="gpt-4o", base_url=sim.openai_base_url, api_key="k", workdir=tmp_path) as a:
        assert a.run("list").status == "completed"
    calls = [c.call_id for m in a.history for c in m.tool_calls]
    assert len(calls) == 2 and len(set(calls)) == 2
    assert all(r.rejected is None for r in sim.requests)
