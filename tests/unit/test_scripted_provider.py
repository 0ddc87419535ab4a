"""``ScriptedProvider``: scripted replies streamed as neutral deltas, without HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any, TypeVar

import pytest

from agent.call import CallContext, CallSettings, model_call
from agent.continuation import RUNTIME_NOTE
from agent.messages import Message, TextPart, ToolCallPart, ToolResultPart
from agent.providers.base import ErrorFacts, ModelRequest, Provider, ResetReport, ToolSpec
from agent.providers.deltas import (
    Delta,
    StopChunk,
    StreamEnd,
    TextChunk,
    ToolArgsChunk,
    ToolCallBegin,
    UsageChunk,
)
from agent.recovery.outcome import CallResult, ProviderHealth
from agent.streaming.accumulator import Accumulator, ResponseSnapshot
from agent.testing.scripted import ScriptedError, ScriptedProvider, ScriptedReply, ScriptExhausted

T = TypeVar("T")


def request(text: str = "hi", **extra: Any) -> ModelRequest:
    return ModelRequest(
        model="scripted-model", system="be brief", messages=[Message("user", [TextPart(text)])], **extra
    )


def deltas(provider: ScriptedProvider, req: ModelRequest | None = None) -> list[Delta]:
    stream = provider.open_stream(req or request())
    try:
        return list(stream)
    finally:
        stream.close()


def snapshot(provider: ScriptedProvider, req: ModelRequest | None = None) -> ResponseSnapshot:
    accumulator = Accumulator(provider.wire)
    stream = provider.open_stream(req or request())
    failed = False
    try:
        for delta in stream:
            accumulator.apply(delta)
    except Exception:
        failed = True
    finally:
        stream.close()
    return accumulator.snapshot(failed=failed)


def drive(generator: Generator[Any, None, T], events: list[Any] | None = None) -> T:
    """Run a loop generator to its end and return its value, keeping the events if asked."""
    while True:
        try:
            event = next(generator)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if events is not None:
            events.append(event)


# --- the protocol -------------------------------------------------------------------------


def test_it_is_a_provider() -> None:
    provider: Provider = ScriptedProvider([], model="m1", context_window=1_000)
    assert (provider.name, provider.wire, provider.model, provider.base_url) == ("scripted", "scripted", "m1", "")
    assert provider.is_local is True
    assert provider.context_window == 1_000
    assert provider.output_limit(request()) is None
    assert provider.output_limit(request(max_tokens=77)) == 77
    assert ScriptedProvider(max_output_tokens=500).output_limit(request()) == 500


def test_text_reply() -> None:
    provider = ScriptedProvider([ScriptedReply("Hello there!")])
    assert deltas(provider) == [
        TextChunk("Hello there!"),
        StopChunk("completed", "completed"),
        UsageChunk(3, 3),  # (len("be brief") + len("hi")) / 4 rounded up; len("Hello there!") / 4
        StreamEnd(),
    ]
    provider.assert_complete()


def test_text_reply_accumulates_to_a_complete_snapshot() -> None:
    provider = ScriptedProvider(["Hello there!"], chunk_size=3)
    snap = snapshot(provider)
    assert snap.state == "complete"
    assert snap.text == "Hello there!"
    assert snap.stop_reason == "completed"
    assert snap.terminal_seen
    assert snap.tool_calls == []
    assert provider.streams[0].deltas[:4] == [TextChunk("Hel"), TextChunk("lo "), TextChunk("the"), TextChunk("re!")]


def test_tool_calls_get_generated_ids_across_the_script() -> None:
    provider = ScriptedProvider(
        [
            ScriptedReply("Let me look.", [("read_file", {"path": "a.txt"}), ("list_dir", {})]),
            ScriptedReply(tool_calls=[("terminal", {"command": "ls -l", "timeout": 5})]),
        ],
        chunk_size=4,
    )
    first = snapshot(provider)
    assert first.state == "complete"
    assert first.stop_reason == "tool_calls"
    assert first.text == "Let me look."
    assert first.tool_calls == [
        ToolCallPart("call_1", "read_file", {"path": "a.txt"}),
        ToolCallPart("call_2", "list_dir", {}),
    ]
    second = snapshot(provider)
    assert second.tool_calls == [ToolCallPart("call_3", "terminal", {"command": "ls -l", "timeout": 5})]
    begins = [d for d in provider.streams[1].deltas if isinstance(d, ToolCallBegin)]
    pieces = [d.text for d in provider.streams[1].deltas if isinstance(d, ToolArgsChunk)]
    assert begins == [ToolCallBegin(0, "call_3", "terminal")]
    assert len(pieces) > 1 and all(len(p) <= 4 for p in pieces)
    provider.assert_complete()


def test_explicit_stop_and_usage() -> None:
    provider = ScriptedProvider(
        [ScriptedReply("cut here", stop="truncated", usage=(100, 4096)), ScriptedReply("no", stop="refusal")]
    )
    snap = snapshot(provider)
    assert snap.state == "truncated"
    assert snap.stop_reason == "truncated"
    assert (snap.usage.input_tokens, snap.usage.output_tokens) == (100, 4096)
    assert snapshot(provider).stop_reason == "refusal"
    with pytest.raises(ValueError, match="unknown stop reason 'length'"):
        ScriptedReply("x", stop="length")


def test_requests_are_recorded_and_a_callable_step_sees_its_request() -> None:
    def answer(req: ModelRequest) -> ScriptedReply:
        result = req.messages[-1].tool_results[0].content
        return ScriptedReply(f"The file says: {result}")

    provider = ScriptedProvider([ScriptedReply(tool_calls=[("read_file", {"path": "a"})]), answer])
    tools = [ToolSpec("read_file", "Read.", {"type": "object"})]
    first = request("read a", tools=tools)
    snapshot(provider, first)
    history = [
        *first.messages,
        Message("assistant", [ToolCallPart("call_1", "read_file", {"path": "a"})]),
        Message("tool", [ToolResultPart("call_1", "hello")]),
    ]
    second = request(tools=tools)
    second = ModelRequest(model=second.model, system=second.system, messages=history, tools=tools)
    assert snapshot(provider, second).text == "The file says: hello"
    assert provider.requests == [first, second]


# --- failures -------------------------------------------------------------------------------


def test_an_exception_step_is_raised_by_open_stream() -> None:
    boom = ConnectionResetError("peer reset")
    provider = ScriptedProvider([boom, "after"])
    with pytest.raises(ConnectionResetError) as info:
        provider.open_stream(request())
    assert info.value is boom
    assert provider.error_facts(boom) == ErrorFacts("other", "peer reset")
    assert snapshot(provider).text == "after"
    assert len(provider.requests) == 2


def test_scripted_error_reports_its_own_facts() -> None:
    facts = ErrorFacts("http_status", "rate limited", status=429, retry_after=1.5)
    provider = ScriptedProvider([ScriptedError(facts)])
    with pytest.raises(ScriptedError) as info:
        provider.open_stream(request())
    assert provider.error_facts(info.value) == facts


def test_a_reply_with_an_error_is_cut_mid_stream() -> None:
    provider = ScriptedProvider(
        [
            ScriptedReply("Partial answ", error=ConnectionResetError("gone")),
            ScriptedReply("Writing.", [("write_file", {"path": "x", "content": "y" * 50})], error=TimeoutError()),
        ],
    )
    first = snapshot(provider)
    assert first.state == "failed"
    assert first.text == "Partial answ"
    assert not first.terminal_seen
    assert not any(isinstance(d, StopChunk | StreamEnd) for d in provider.streams[0].deltas)
    second = snapshot(provider)
    assert second.state == "cut_mid_tool_call"
    assert second.tool_calls == []
    assert second.cut_call is not None and second.cut_call.name == "write_file"
    assert provider.error_facts(TimeoutError()) == ErrorFacts("other", "TimeoutError")


def test_running_out_of_script() -> None:
    provider = ScriptedProvider(["one"])
    snapshot(provider)
    with pytest.raises(ScriptExhausted, match=r"model call #2 has no scripted step left \(the script had 1\)") as info:
        provider.open_stream(request())
    assert isinstance(info.value, AssertionError)
    facts = provider.error_facts(info.value)
    assert facts.kind == "other"
    assert facts.error_type == "script_exhausted"
    assert facts.message.startswith("script exhausted: ")
    assert len(provider.requests) == 2


def test_assert_complete_and_add() -> None:
    provider = ScriptedProvider(["one", "two"])
    snapshot(provider)
    assert provider.remaining == 1
    with pytest.raises(AssertionError, match=r"1 of 2 scripted steps unused .*made 1 model call\)"):
        provider.assert_complete()
    snapshot(provider)
    provider.assert_complete()
    provider.add("three")
    assert provider.remaining == 1
    assert snapshot(provider).text == "three"
    provider.assert_complete()


def test_a_step_function_must_return_a_reply() -> None:
    provider = ScriptedProvider([lambda req: "not a reply"])  # type: ignore[list-item, return-value]
    with pytest.raises(TypeError, match="must return a ScriptedReply"):
        provider.open_stream(request())


# --- reset and close ------------------------------------------------------------------------


def test_reset_counts_and_stops_open_streams() -> None:
    provider = ScriptedProvider([ScriptedReply("abcdef")], chunk_size=1)
    stream = provider.open_stream(request())
    iterator = iter(stream)
    assert next(iterator) == TextChunk("a")
    report = provider.reset("stale")
    assert report == ResetReport("scripted", "stale", ok=True, detail="scripted provider: streams closed")
    assert list(iterator) == []
    provider.reset("interrupt")
    assert provider.resets == ["stale", "interrupt"]
    provider.close()
    assert provider.closed


# --- through the real call machinery (worker thread, retry policy, continuation) -------------


def call(provider: ScriptedProvider, events: list[Any] | None = None, req: ModelRequest | None = None) -> CallResult:
    settings = CallSettings(stale_timeout=5.0, max_attempts=3, max_continuations=2, clock=time.monotonic)
    context = CallContext(settings, threading.Event(), [])
    return drive(model_call(provider, req or request(), context, ProviderHealth(), 1), events)


def test_model_call_retries_a_transient_scripted_error() -> None:
    provider = ScriptedProvider([ScriptedError(ErrorFacts("transport", "connection reset")), "recovered"])
    result = call(provider)
    assert result.status == "ok"
    assert result.text == "recovered"
    assert len(provider.requests) == 2
    provider.assert_complete()


def test_model_call_does_not_retry_other_errors() -> None:
    provider = ScriptedProvider([ValueError("bad script")])
    result = call(provider)
    assert result.status == "failed"
    assert result.error is not None and result.error.message == "bad script"
    assert len(provider.requests) == 1


def test_model_call_continues_a_cut_reply_from_the_shown_text() -> None:
    provider = ScriptedProvider(
        [ScriptedReply("The answer ", error=ScriptedError(ErrorFacts("transport", "dropped"))), "is 42."]
    )
    result = call(provider)
    assert result.status == "ok"
    assert result.text == "The answer is 42."
    assert provider.requests[0].prefill is None and len(provider.requests[0].messages) == 1
    # No prefill: the shown text as an assistant message, then a runtime note asking for the rest.
    retry = provider.requests[1]
    assert retry.prefill is None
    assert [m.role for m in retry.messages] == ["user", "assistant", "user"]
    assert retry.messages[1].text == "The answer "
    assert retry.messages[2].text.startswith(RUNTIME_NOTE) and "The answer" in retry.messages[2].text


def test_a_model_that_takes_prefill_continues_its_own_words() -> None:
    provider = ScriptedProvider(
        [ScriptedReply("The answer ", error=ScriptedError(ErrorFacts("transport", "dropped"))), " is 42."],
        accepts_prefill=True,
    )
    result = call(provider)
    assert result.text == "The answer is 42."  # the repeated seam space is dropped
    assert provider.requests[1].prefill == "The answer " and len(provider.requests[1].messages) == 1


def test_a_restarted_reply_is_not_shown_twice() -> None:
    provider = ScriptedProvider(
        [ScriptedReply("The answer ", error=ScriptedError(ErrorFacts("transport", "dropped"))), "The answer is 42."]
    )
    events: list[Any] = []
    result = call(provider, events)
    assert result.text == "The answer is 42."
    shown = "".join(e.text for e in events if e.kind == "text_delta")
    assert shown == "The answer is 42."
    assert result.repeated_chars == len("The answer ")
