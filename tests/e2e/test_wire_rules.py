"""The rest of the real wire (issue 10, point 5), end to end through the real SDKs:
stop reasons, error shapes and odd endings, each as the real APIs send them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agent import AIAgent
from agent.testing import HttpError, ProviderSimulator, RawSSE, Reply, Text, ToolCall
from tests.e2e.conftest import of_kind

CONTEXT_LIMIT = (
    "input length and `max_tokens` exceed context limit: 190000 + 64000 > 200000, "
    "decrease input length or `max_tokens` and try again"
)


def anthropic_agent(sim: ProviderSimulator, tmp_path: Path, **options: object) -> AIAgent:
    return AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=sim.base_url,
        api_key="k",
        workdir=tmp_path,
        stale_timeout=2.0,
        **options,  # type: ignore[arg-type]
    )


def openai_agent(sim: ProviderSimulator, tmp_path: Path) -> AIAgent:
    return AIAgent(
        provider="openai", model="gpt-4o", base_url=sim.openai_base_url, api_key="k", workdir=tmp_path, stale_timeout=2
    )


def test_finish_reason_error_is_a_failure_not_a_completion(sim: ProviderSimulator, tmp_path: Path) -> None:
    aborted = (
        b'data: {"id":"gen-1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
        b'"delta":{"content":"Half"},"finish_reason":null}]}\n\n'
        b'data: {"id":"gen-1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
        b'"delta":{},"finish_reason":"error"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    sim.script(RawSSE(aborted), Reply(Text(" done.")))
    with openai_agent(sim, tmp_path) as agent:
        events = list(agent.stream("q"))
    assert events[-1].status == "completed" and events[-1].final_text == "Half done."
    assert len(of_kind(events, "retrying")) == 1 and len(sim.requests) == 2


def test_done_with_no_content_is_an_incomplete_stream_not_an_empty_answer(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    sim.script(RawSSE(b"data: [DONE]\n\n"), Reply(Text("Real answer.")))
    with openai_agent(sim, tmp_path) as agent:
        events = list(agent.stream("q"))
    assert events[-1].final_text == "Real answer."
    # From a server on this machine (llama.cpp's answer to a prompt that does not fit),
    # the same request is asked again once without streaming, to read the server's own error.
    assert any("stream ended with nothing in it" in n.message for n in of_kind(events, "notice"))
    assert [r.body.get("stream") for r in sim.requests] == [True, None]


def test_context_limit_with_max_tokens_is_retried_once_with_a_max_tokens_that_fits(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    sim.script(HttpError(400, CONTEXT_LIMIT, "invalid_request_error"), Reply(Text("Fits now.")))
    with anthropic_agent(sim, tmp_path) as agent:
        result = agent.run("q")
    assert result.status == "completed" and result.final_text == "Fits now."
    assert sim.requests[1].body["max_tokens"] == 200_000 - 190_000 - 256


def test_context_limit_is_retried_only_once(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(*[HttpError(400, CONTEXT_LIMIT, "invalid_request_error")] * 2, Reply(Text("unused")))
    with anthropic_agent(sim, tmp_path) as agent:
        result = agent.run("q")
    assert result.status == "failed" and "too long" in (result.error or "")
    assert len(sim.requests) == 2 and sim.remaining == 1


def test_pause_turn_continues_the_turn(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("Searching the web..."), stop="pause_turn"), Reply(Text(" found it.")))
    with anthropic_agent(sim, tmp_path) as agent:
        result = agent.run("q")
    assert result.status == "completed" and result.final_text == "Searching the web... found it."
    assert sim.requests[1].rejected is None and sim.requests[1].body["messages"][-1]["role"] == "user"


def test_a_refusal_is_a_refusal_and_says_why(sim: ProviderSimulator, tmp_path: Path) -> None:
    details = {"type": "refusal", "category": "cyber", "explanation": "This could enable malware."}
    sim.script(
        Reply(Text("I can't help with"), ToolCall("terminal", {"command": "echo never"}), stop="refusal",
              stop_details=details)
    )  # fmt: skip
    with anthropic_agent(sim, tmp_path, approve=lambda tool, action: True) as agent:
        events = list(agent.stream("q"))
    finished = events[-1]
    assert finished.status == "failed" and "refused" in (finished.error or "")
    assert "cyber: This could enable malware." in (finished.error or "")
    assert of_kind(events, "tool_call_started") == []  # a refused reply's calls never run
    assert finished.final_text == "I can't help with"


def test_unknown_event_types_are_ignored(sim: ProviderSimulator, tmp_path: Path) -> None:
    future = RawSSE(b'event: some_future_event\ndata: {"type": "some_future_event", "x": 1}\n\n')
    sim.script(Reply(Text("Before "), future, Text("after.")))
    with anthropic_agent(sim, tmp_path) as agent:
        assert agent.run("q").final_text == "Before after."


def test_an_empty_reply_is_retried_once(sim: ProviderSimulator, make_agent: Callable[..., AIAgent]) -> None:
    sim.script(Reply(), Reply(Text("There you go.")))
    events = list(make_agent().stream("q"))
    assert events[-1].status == "completed" and events[-1].final_text == "There you go."
    assert "empty reply" in of_kind(events, "retrying")[0].reason


def test_two_empty_replies_fail_with_a_clear_message(
    sim: ProviderSimulator, make_agent: Callable[..., AIAgent]
) -> None:
    sim.script(Reply(), Reply(), Reply(Text("unused")))
    result = make_agent().run("q")
    assert result.status == "failed" and "empty reply" in (result.error or "")
    assert sim.remaining == 1
