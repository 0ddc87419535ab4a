"""The accumulator fed with real recorded streams, whole and cut into random fragments."""

from __future__ import annotations

import pytest

from agent.messages import TextPart, ToolCallPart
from agent.providers.deltas import (
    BlockEnd,
    StopChunk,
    StreamEnd,
    TextChunk,
    ToolArgsChunk,
    ToolCallBegin,
)
from agent.streaming.accumulator import Accumulator, target_from_partial
from tests.wire import accumulate, sample_bytes, sdk_deltas

ANTHROPIC = "anthropic_messages"
CHAT = "chat_completions"


@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4, 5])
def test_anthropic_basic_text(seed: int | None) -> None:
    snapshot = accumulate(ANTHROPIC, sdk_deltas(ANTHROPIC, sample_bytes("anthropic/basic_response.sse"), seed))
    assert snapshot.state == "complete"
    assert snapshot.text == "Hello there!"
    assert snapshot.stop_reason == "completed"
    assert snapshot.usage.input_tokens == 11 and snapshot.usage.output_tokens == 6


@pytest.mark.parametrize("seed", [None, 7, 8, 9])
def test_anthropic_tool_use(seed: int | None) -> None:
    snapshot = accumulate(ANTHROPIC, sdk_deltas(ANTHROPIC, sample_bytes("anthropic/tool_use_response.sse"), seed))
    assert snapshot.state == "complete"
    assert snapshot.stop_reason == "tool_calls"
    assert snapshot.text == "I'll check the current weather in Paris for you."
    (call,) = snapshot.tool_calls
    assert call == ToolCallPart("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})


@pytest.mark.parametrize("seed", [None, 11, 12])
def test_anthropic_tool_call_cut_by_max_tokens_is_not_executable(seed: int | None) -> None:
    data = sample_bytes("anthropic/incomplete_partial_json_response.sse")
    snapshot = accumulate(ANTHROPIC, sdk_deltas(ANTHROPIC, data, seed))
    assert snapshot.state == "cut_mid_tool_call"
    assert snapshot.tool_calls == []
    assert snapshot.text.startswith("I'll create a comprehensive tax guide")
    assert snapshot.cut_call is not None
    assert snapshot.cut_call.name == "make_file"
    assert snapshot.cut_call.target == "taxes.txt"
    assert snapshot.cut_call.chars_received > 100


@pytest.mark.parametrize("seed", [None, 21, 22])
def test_openai_single_tool_call(seed: int | None) -> None:
    snapshot = accumulate(CHAT, sdk_deltas(CHAT, sample_bytes("openai/single_tool_call.sse"), seed))
    assert snapshot.state == "complete"
    assert snapshot.stop_reason == "tool_calls"
    assert snapshot.tool_calls == [
        ToolCallPart("call_4XzlGBLtUe9dy3GVNV4jhq7h", "get_weather", {"city": "New York City"})
    ]
    assert snapshot.usage.input_tokens == 44 and snapshot.usage.output_tokens == 16


@pytest.mark.parametrize("seed", [None, 31, 32])
def test_openai_parallel_tool_calls(seed: int | None) -> None:
    snapshot = accumulate(CHAT, sdk_deltas(CHAT, sample_bytes("openai/parallel_tool_calls.sse"), seed))
    assert [c.name for c in snapshot.tool_calls] == ["GetWeatherArgs", "get_stock_price"]
    assert snapshot.tool_calls[0].arguments == {"city": "Edinburgh", "country": "GB", "units": "c"}
    assert snapshot.tool_calls[1].arguments == {"ticker": "AAPL", "exchange": "NASDAQ"}


def test_openai_text_cut_by_length_is_truncated() -> None:
    snapshot = accumulate(CHAT, sdk_deltas(CHAT, sample_bytes("openai/text_response.sse")))
    assert snapshot.state == "truncated"
    assert snapshot.text == '{"'


def test_stream_without_terminal_event_is_streaming_not_complete() -> None:
    accumulator = Accumulator(ANTHROPIC)
    accumulator.apply(TextChunk("Hello"))
    assert accumulator.snapshot().state == "streaming"
    assert accumulator.snapshot(failed=True).state == "failed"
    assert accumulator.snapshot(failed=True).text == "Hello"


def test_failure_mid_tool_call_discards_the_call_and_keeps_the_text() -> None:
    accumulator = Accumulator(CHAT)
    for delta in (
        TextChunk("Writing it."),
        ToolCallBegin(0, "c1", "write_file"),
        ToolArgsChunk(0, '{"path": "a.txt", "con'),
    ):
        accumulator.apply(delta)
    snapshot = accumulator.snapshot(failed=True)
    assert snapshot.state == "cut_mid_tool_call"
    assert snapshot.parts == (TextPart("Writing it."),)
    assert snapshot.cut_call is not None and snapshot.cut_call.target == "a.txt"


def test_invalid_json_arguments_are_kept_but_flagged() -> None:
    accumulator = Accumulator(CHAT)
    for delta in (
        ToolCallBegin(0, "c1", "read_file"),
        ToolArgsChunk(0, '{"path": oops}'),
        StopChunk("tool_calls", "tool_calls"),
        StreamEnd(),
    ):
        accumulator.apply(delta)
    (call,) = accumulator.snapshot().tool_calls
    assert call.arguments == {} and call.arguments_error is not None


def test_text_blocks_after_block_end_are_separate_parts() -> None:
    accumulator = Accumulator(ANTHROPIC)
    for delta in (
        TextChunk("a"),
        BlockEnd(),
        TextChunk("b"),
        StopChunk("completed", "end_turn"),
        StreamEnd(),
    ):
        accumulator.apply(delta)
    assert accumulator.snapshot().parts == (TextPart("a"), TextPart("b"))


def test_target_from_partial_json() -> None:
    assert target_from_partial('{"path": "src/a\\"b.py", "content": "x') == 'src/a"b.py'
    assert target_from_partial('{"content": "abc') is None
