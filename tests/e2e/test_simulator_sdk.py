"""The provider simulator driven through the real anthropic and openai SDKs."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from agent.testing import (
    Disconnect,
    EndBody,
    HttpError,
    KeepAlives,
    ProviderSimulator,
    RawSSE,
    RecordedRequest,
    Reply,
    Reset,
    Silence,
    SseError,
    Text,
    Thinking,
    ToolCall,
)
from tests.wire import SAMPLES

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


@pytest.fixture
def claude(sim: ProviderSimulator) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(api_key="test", base_url=sim.base_url, max_retries=0, timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def gpt(sim: ProviderSimulator) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key="test", base_url=sim.openai_base_url, max_retries=0, timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def router(sim: ProviderSimulator) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key="test", base_url=sim.openrouter_base_url, max_retries=0, timeout=5.0)
    yield client
    client.close()


def a_stream(client: anthropic.Anthropic, **kw: Any) -> Any:
    return client.messages.create(model="claude-test", max_tokens=100, messages=USER, stream=True, **kw)


def o_stream(client: openai.OpenAI, **kw: Any) -> Any:
    return client.chat.completions.create(model="gpt-test", messages=USER, stream=True, **kw)


def parse_sse(data: bytes) -> list[tuple[str | None, str]]:
    """Server-sent events as the spec reads them: an event without its closing blank line
    at the end of the stream is discarded."""
    events: list[tuple[str | None, str]] = []
    name: str | None = None
    lines: list[str] = []
    for line in re.split(r"\r\n|\r|\n", data.decode()):
        if line == "":
            if lines:
                events.append((name, "\n".join(lines)))
            name, lines = None, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                lines.append(value)
    return events


# --- content on both wires --------------------------------------------------------------------


def test_anthropic_text_tool_and_thinking(sim: ProviderSimulator, claude: anthropic.Anthropic) -> None:
    sim.script(
        Reply(
            Thinking("let me think", signature="sig-1", chunk=4),
            Text("Hello there", chunk=3),
            ToolCall("read_file", {"path": "a.txt"}, id="toolu_1", chunk=5),
            usage=(42, 7),
        )
    )
    with claude.messages.stream(model="claude-test", max_tokens=100, messages=USER) as stream:
        final = stream.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == "let me think" and final.content[0].signature == "sig-1"
    assert final.content[1].text == "Hello there"
    assert final.content[2].input == {"path": "a.txt"} and final.content[2].id == "toolu_1"
    assert final.stop_reason == "tool_use"
    assert final.usage.input_tokens == 42 and final.usage.output_tokens == 7
    assert sim.requests[0].wire == "anthropic" and sim.requests[0].body["max_tokens"] == 100


def test_anthropic_raw_events_include_ping_filtered(sim: ProviderSimulator, claude: anthropic.Anthropic) -> None:
    sim.script(Reply(Text("ab", chunk=1), stop="max_tokens"))
    events = list(a_stream(claude))
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[-2].delta.stop_reason == "max_tokens"


def test_openai_text_tool_and_reasoning(sim: ProviderSimulator, gpt: openai.OpenAI) -> None:
    sim.script(
        Reply(
            Thinking("hmm", chunk=1),
            Text("Hi there", chunk=2),
            ToolCall("grep", {"q": "x"}, id="call_1", chunk=3),
            ToolCall("ls", "{}"),
            usage=(10, 5),
        )
    )
    chunks = list(o_stream(gpt, stream_options={"include_usage": True}))
    reasoning = "".join(c.choices[0].delta.model_extra.get("reasoning_content", "") for c in chunks if c.choices)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
            slot["id"] = tc.id or slot["id"]
            slot["name"] += (tc.function.name or "") if tc.function else ""
            slot["args"] += (tc.function.arguments or "") if tc.function else ""
    assert reasoning == "hmm" and text == "Hi there"
    assert calls[0] == {"id": "call_1", "name": "grep", "args": '{"q":"x"}'}
    assert calls[1]["name"] == "ls" and calls[1]["args"] == "{}" and calls[1]["id"].startswith("call_")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15


def test_openrouter_reasoning_and_keepalive_comments(sim: ProviderSimulator, router: openai.OpenAI) -> None:
    sim.script(Reply(Thinking("r", chunk=1), KeepAlives(0.2, every=0.05), Text("ok")))
    chunks = list(o_stream(router))
    assert chunks[1].choices[0].delta.model_extra.get("reasoning") == "r"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ok"
    assert sim.requests[0].flavour == "openrouter"


def test_non_streaming_both_wires(sim: ProviderSimulator, claude: anthropic.Anthropic, gpt: openai.OpenAI) -> None:
    sim.script(Reply(Text("a"), Text("b"), ToolCall("t", {"x": 1})), Reply(Text("hey"), stop="max_tokens"))
    message = claude.messages.create(model="m", max_tokens=5, messages=USER)
    assert [b.type for b in message.content] == ["text", "tool_use"] and message.content[0].text == "ab"
    completion = gpt.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "hey" and completion.choices[0].finish_reason == "length"


def test_anthropic_gateway_url(sim: ProviderSimulator) -> None:
    sim.script(Reply(Text("via gateway")))
    with anthropic.Anthropic(api_key="t", base_url=sim.anthropic_gateway_url, max_retries=0) as client:
        message = client.messages.create(model="m", max_tokens=5, messages=USER)
    assert message.content[0].text == "via gateway"
    assert sim.requests[0].path.startswith("/anthropic/v1/messages")


# --- real recorded streams ---------------------------------------------------------------------


def _samples(wire: str) -> list[Path]:
    found = sorted((SAMPLES / wire).glob("*.sse"))
    assert found, f"no recorded {wire} samples in {SAMPLES}"  # a missing folder must not drop the tests
    return found


@pytest.mark.parametrize("sample", _samples("anthropic"), ids=lambda p: p.name)
def test_anthropic_wire_samples_replay(sim: ProviderSimulator, claude: anthropic.Anthropic, sample: Path) -> None:
    data = sample.read_bytes()
    expected = [(n, json.loads(d)) for n, d in parse_sse(data) if n is not None and n != "ping"]
    for body in (data, data.rstrip(b"\n") + b"\n\n"):
        sim.script(RawSSE(body, chunk_size=61))
        got = [(e.type, e.to_dict()) for e in a_stream(claude)]
        if body is data:
            assert got == expected
        else:  # properly terminated, the final event is no longer lost
            assert got[: len(expected)] == expected and got[-1][0] == "message_stop"


def test_anthropic_sample_without_final_blank_line_loses_message_stop(
    sim: ProviderSimulator, claude: anthropic.Anthropic
) -> None:
    """Pins an SSE rule the fixtures exercise: the unterminated last event is dropped."""
    sample = SAMPLES / "anthropic" / "basic_response.sse"
    sim.script(RawSSE(sample.read_bytes()))
    assert [e.type for e in a_stream(claude)][-1] == "message_delta"


@pytest.mark.parametrize("sample", _samples("openai"), ids=lambda p: p.name)
def test_openai_wire_samples_replay(sim: ProviderSimulator, gpt: openai.OpenAI, sample: Path) -> None:
    data = sample.read_bytes()
    expected = []
    for _, payload in parse_sse(data):
        if payload.startswith("[DONE]"):
            break
        expected.append(json.loads(payload))
    sim.script(RawSSE(data, chunk_size=97))
    assert [c.to_dict() for c in o_stream(gpt)] == expected


# --- connections --------------------------------------------------------------------------------


def test_anthropic_streams_reuse_connection_and_close_is_seen(sim: ProviderSimulator) -> None:
    client = anthropic.Anthropic(api_key="t", base_url=sim.base_url, max_retries=0)
    sim.script(Reply(Text("one")), Reply(Text("two")))
    list(a_stream(client))
    list(a_stream(client))
    first, second = sim.requests
    assert first.connection_id == second.connection_id
    client.close()
    closed = sim.wait_closed(first.connection_id, timeout=3)
    assert closed is not None
    assert sim.connections[0].closed_by == "client" and sim.connections[0].request_count == 2


def test_openai_non_stream_reuses_connection(sim: ProviderSimulator, gpt: openai.OpenAI) -> None:
    sim.script(Reply(Text("a")), Reply(Text("b")))
    gpt.chat.completions.create(model="m", messages=USER)
    gpt.chat.completions.create(model="m", messages=USER)
    assert sim.requests[0].connection_id == sim.requests[1].connection_id


def test_openai_sync_stream_does_not_return_connection(sim: ProviderSimulator, gpt: openai.OpenAI) -> None:
    """Pins SDK behaviour: Stream breaks on [DONE] and closes the response before reading the
    terminating chunk, so the connection is closed, not pooled."""
    sim.script(Reply(Text("a")), Reply(Text("b")))
    list(o_stream(gpt))
    list(o_stream(gpt))
    first, second = sim.requests
    assert first.connection_id != second.connection_id
    assert sim.wait_closed(first.connection_id, timeout=3) is not None


def test_silence_sees_client_socket_shutdown(sim: ProviderSimulator, claude: anthropic.Anthropic) -> None:
    sim.script(Reply(Text("partial"), Silence(5), Text("never")))
    stream = a_stream(claude)
    events = iter(stream)
    assert next(events).type == "message_start"
    sock = stream.response.extensions["network_stream"].get_extra_info("socket")
    shut: list[float] = []

    def watchdog() -> None:
        time.sleep(0.2)
        shut.append(time.monotonic())
        sock.shutdown(2)  # socket.SHUT_RDWR: wakes the blocked read

    threading.Thread(target=watchdog, daemon=True).start()
    with pytest.raises(httpx2.HTTPError):
        for _ in events:
            pass
    closed = sim.wait_closed(sim.requests[0].connection_id, timeout=3)
    assert closed is not None and shut
    assert closed - shut[0] < 2.0  # long before the 5 s silence would have ended


# --- faults -------------------------------------------------------------------------------------


def test_anthropic_sse_error_is_api_status_error(sim: ProviderSimulator, claude: anthropic.Anthropic) -> None:
    sim.script(Reply(Text("x"), SseError("Overloaded", type="overloaded_error")))
    with pytest.raises(anthropic.APIStatusError) as info:
        list(a_stream(claude))
    assert info.value.status_code == 200
    assert isinstance(info.value.body, dict) and info.value.body["error"]["type"] == "overloaded_error"


def test_openai_and_openrouter_error_chunks_raise_api_error(
    sim: ProviderSimulator, gpt: openai.OpenAI, router: openai.OpenAI
) -> None:
    sim.script(Reply(Text("x"), SseError()), Reply(Text("x"), SseError("Network connection lost.", code=502)))
    with pytest.raises(openai.APIError) as plain_info:
        list(o_stream(gpt))
    assert type(plain_info.value) is openai.APIError and plain_info.value.message == "Network connection lost."
    with pytest.raises(openai.APIError) as router_info:
        list(o_stream(router))
    assert router_info.value.body == {"message": "Network connection lost.", "code": 502}


def test_http_error_with_retry_after(sim: ProviderSimulator, claude: anthropic.Anthropic, gpt: openai.OpenAI) -> None:
    sim.script(
        HttpError(429, "slow down", headers={"retry-after": "7"}),
        HttpError(529, "Overloaded"),
        HttpError(429, "tokens", headers={"retry-after-ms": "5"}),
    )
    with pytest.raises(anthropic.RateLimitError) as info:
        a_stream(claude)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        a_stream(claude)
    assert overloaded.value.status_code == 529 and overloaded.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(openai.RateLimitError) as rate:
        o_stream(gpt)
    assert rate.value.code == "rate_limit_exceeded"


def test_sdk_retry_honours_retry_after_ms(sim: ProviderSimulator) -> None:
    sim.script(HttpError(529, "Overloaded", headers={"retry-after-ms": "10"}), Reply(Text("ok")))
    with anthropic.Anthropic(api_key="t", base_url=sim.base_url, max_retries=1) as client:
        assert [e.type for e in a_stream(client)][-1] == "message_stop"
    assert len(sim.requests) == 2


def test_reset_mid_stream_and_client_comes_back_on_new_connection(
    sim: ProviderSimulator, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    sim.script(Reply(Text("partial"), Reset()), Reply(Text("again")), Reply(Text("p"), Reset()))
    with pytest.raises(httpx2.ReadError):  # anthropic: raw transport error, not an SDK wrapper
        list(a_stream(claude))
    assert [e.type for e in a_stream(claude)][-1] == "message_stop"
    first, second = sim.requests
    assert second.connection_id != first.connection_id
    assert sim.connections[0].closed_by == "server"
    with pytest.raises(openai.APIConnectionError) as info:  # openai wraps transport errors
        list(o_stream(gpt))
    assert isinstance(info.value.__cause__, httpx2.ReadError)


def test_disconnect_is_incomplete_chunked_read(
    sim: ProviderSimulator, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    sim.script(Reply(Text("partial"), Disconnect()), Reply(Text("partial"), Disconnect()))
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        list(a_stream(claude))
    with pytest.raises(openai.APIConnectionError) as info:
        list(o_stream(gpt))
    assert isinstance(info.value.__cause__, httpx2.RemoteProtocolError)


def test_end_body_ends_stream_silently(sim: ProviderSimulator, claude: anthropic.Anthropic, gpt: openai.OpenAI) -> None:
    sim.script(Reply(Text("cut"), EndBody()), Reply(Text("next")), Reply(Text("cut"), EndBody()))
    events = [e.type for e in a_stream(claude)]
    assert "message_stop" not in events and events[-1] == "content_block_delta"  # no exception!
    list(a_stream(claude))
    assert sim.requests[0].connection_id == sim.requests[1].connection_id  # connection stayed usable
    chunks = list(o_stream(gpt))
    assert all(c.choices[0].finish_reason is None for c in chunks)


def test_read_timeout_during_silence(sim: ProviderSimulator, claude: anthropic.Anthropic) -> None:
    sim.script(Reply(Text("a"), Silence(2), Text("b")))
    with pytest.raises(httpx2.ReadTimeout):
        list(a_stream(claude, timeout=0.3))
    assert sim.wait_closed(sim.requests[0].connection_id, timeout=3) is not None


# --- scripting ----------------------------------------------------------------------------------


def test_exhausted_script_is_500(sim: ProviderSimulator, claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError, match="no scripted reply left"):
        a_stream(claude)
    assert len(sim.requests) == 1


def test_callable_item_gets_recorded_request(sim: ProviderSimulator, gpt: openai.OpenAI) -> None:
    seen: list[RecordedRequest] = []

    def answer(request: RecordedRequest) -> Reply:
        seen.append(request)
        return Reply(Text(f"echo {request.body['messages'][0]['content']}"))

    sim.script(answer)
    text = "".join(c.choices[0].delta.content or "" for c in o_stream(gpt))
    assert text == "echo hi"
    assert seen[0].index == 0 and seen[0].wire == "openai" and seen[0].headers["authorization"] == "Bearer test"


def test_validation_surfaces_as_bad_request(
    sim: ProviderSimulator, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    sim.script(Reply(Text("unused")))
    bad = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "answer "}]
    with pytest.raises(anthropic.BadRequestError, match="trailing whitespace"):
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=bad)
    with pytest.raises(anthropic.BadRequestError, match="does not support assistant message prefill"):
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=bad)
    tool_bad = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "user", "content": "next"},
    ]
    with pytest.raises(openai.BadRequestError, match="call_9"):
        gpt.chat.completions.create(model="m", messages=tool_bad)
    assert sim.remaining == 1 and all(r.rejected for r in sim.requests)
