"""The provider simulator over plain HTTP (stdlib clients): wire shapes, validation, faults."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agent.testing import (
    Disconnect,
    EndBody,
    HttpError,
    KeepAlives,
    Pace,
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

A_PATH = "/v1/messages"
O_PATH = "/v1/chat/completions"
R_PATH = "/api/v1/chat/completions"
USER = [{"role": "user", "content": "hi"}]
A_BODY: dict[str, Any] = {"model": "claude-test", "max_tokens": 10, "messages": USER}
O_BODY: dict[str, Any] = {"model": "gpt-test", "messages": USER}


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


class Client:
    """A keep-alive HTTP/1.1 client on one connection."""

    def __init__(self, sim: ProviderSimulator) -> None:
        host, port = sim.base_url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=5)

    def post(self, path: str, body: Any, **extra: Any) -> http.client.HTTPResponse:
        payload = {**body, **extra} if isinstance(body, dict) else body
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.conn.request("POST", path, body=data, headers={"content-type": "application/json"})
        return self.conn.getresponse()

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def client(sim: ProviderSimulator) -> Iterator[Client]:
    c = Client(sim)
    yield c
    c.close()


def events(data: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) pairs; comments are kept as ("comment", text)."""
    out: list[tuple[str | None, str]] = []
    for block in data.decode().split("\n\n"):
        if not block.strip():
            continue
        name, lines = None, []
        for line in block.split("\n"):
            if line.startswith(":"):
                out.append(("comment", line[1:].strip()))
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                lines.append(line[6:])
        if lines:
            out.append((name, "\n".join(lines)))
    return out


def datas(data: bytes) -> list[Any]:
    return [json.loads(d) if d != "[DONE]" else d for n, d in events(data) if n != "comment"]


# --- anthropic wire -----------------------------------------------------------------------------


def test_anthropic_stream_shape(sim: ProviderSimulator, client: Client) -> None:
    sim.script(
        Reply(
            Thinking("th", signature="s1"),
            Text("Hello", chunk=2),
            Text("!"),
            ToolCall("f", '{"a":', id="toolu_x", chunk=3),
            usage=(3, 4),
        )
    )
    resp = client.post(A_PATH, A_BODY, stream=True)
    assert resp.status == 200 and resp.getheader("transfer-encoding") == "chunked"
    assert resp.getheader("content-type").startswith("text/event-stream") and resp.getheader("request-id")
    evs = events(resp.read())
    names = [n for n, _ in evs]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [json.loads(d) for _, d in evs]
    start = payloads[0]["message"]
    assert start["model"] == "claude-test" and start["usage"]["input_tokens"] == 3 and start["id"].startswith("msg_")
    assert payloads[2] == {"type": "ping"}
    assert payloads[4]["delta"] == {"type": "signature_delta", "signature": "s1"}
    text = "".join(p["delta"].get("text", "") for p in payloads if p["type"] == "content_block_delta")
    assert text == "Hello!"
    tool_start = payloads[12]["content_block"]
    assert tool_start == {"type": "tool_use", "id": "toolu_x", "name": "f", "input": {}}
    assert "".join(p["delta"].get("partial_json", "") for p in payloads[13:16]) == '{"a":'
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use" and payloads[-2]["usage"] == {"output_tokens": 4}


@pytest.mark.parametrize(
    ("stop", "anthropic_reason", "openai_reason"),
    [
        ("end_turn", "end_turn", "stop"),
        ("max_tokens", "max_tokens", "length"),
        ("refusal", "refusal", "content_filter"),
        ("content_filter", "refusal", "content_filter"),
        ("pause_turn", "pause_turn", "pause_turn"),
    ],
)
def test_stop_mapping(
    sim: ProviderSimulator, client: Client, stop: str, anthropic_reason: str, openai_reason: str
) -> None:
    sim.script(Reply(Text("x"), stop=stop), Reply(Text("x"), stop=stop))
    a = json.loads(client.post(A_PATH, A_BODY).read())
    o = json.loads(client.post(O_PATH, O_BODY).read())
    assert a["stop_reason"] == anthropic_reason and o["choices"][0]["finish_reason"] == openai_reason


def test_anthropic_non_stream_message(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Thinking("t"), Text("a"), Text("b"), ToolCall("f", {"k": 1}), model="claude-x"))
    resp = client.post(A_PATH, A_BODY)
    assert resp.getheader("content-length") and resp.getheader("content-type") == "application/json"
    msg = json.loads(resp.read())
    assert msg["type"] == "message" and msg["model"] == "claude-x" and msg["stop_reason"] == "tool_use"
    assert [b["type"] for b in msg["content"]] == ["thinking", "text", "tool_use"]
    assert msg["content"][1]["text"] == "ab" and msg["content"][2]["input"] == {"k": 1}


# --- openai wire ----------------------------------------------------------------------------------


def test_openai_stream_shape_with_usage(sim: ProviderSimulator, client: Client) -> None:
    sim.script(
        Reply(
            Thinking("r"),
            Text("ab", chunk=1),
            ToolCall("f", {"a": 1}, id="call_1", chunk=4),
            ToolCall("g", "{}"),
            usage=(10, 5),
        )
    )
    resp = client.post(O_PATH, O_BODY, stream=True, stream_options={"include_usage": True})
    chunks = datas(resp.read())
    assert chunks[-1] == "[DONE]"
    usage, final = chunks[-2], chunks[-3]
    assert usage["choices"] == [] and usage["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
    }
    assert final["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    body = chunks[:-3]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == body[0]["id"] for c in body)
    assert body[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in body[1:]]
    assert deltas[0] == {"reasoning_content": "r"} and deltas[1:3] == [{"content": "a"}, {"content": "b"}]
    assert deltas[3] == {
        "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]
    }
    assert deltas[4:6] == [
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]},
    ]
    assert deltas[6]["tool_calls"][0]["index"] == 1 and deltas[7]["tool_calls"][0]["function"] == {"arguments": "{}"}


def test_openai_no_usage_chunk_without_include_usage(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("x")))
    chunks = datas(client.post(O_PATH, O_BODY, stream=True).read())
    assert chunks[-1] == "[DONE]" and chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_openai_quirks(sim: ProviderSimulator, client: Client) -> None:
    sim.script(
        Reply(
            ToolCall("f", "abcd", id="c1", chunk=2),
            ToolCall("g", "xy", id="c2"),
            quirks={"reuse_index_zero", "repeat_ids", "resend_name"},
        )
    )
    chunks = datas(client.post(O_PATH, O_BODY, stream=True).read())
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-2]]
    assert all(call["index"] == 0 for call in calls)
    assert calls[1] == {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "ab"}}
    assert calls[4] == {"index": 0, "id": "c2", "function": {"name": "g", "arguments": "xy"}}
    with pytest.raises(ValueError):
        Reply(quirks={"nope"})


def test_openai_non_stream_completion(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Thinking("why"), Text("hi"), ToolCall("f", {"a": 1}, id="call_z")))
    out = json.loads(client.post(O_PATH, O_BODY).read())
    message = out["choices"][0]["message"]
    assert out["object"] == "chat.completion" and out["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] == "hi" and message["reasoning_content"] == "why"
    assert message["tool_calls"] == [
        {"id": "call_z", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    ]


def test_openrouter_flavour(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Thinking("r"), KeepAlives(1.0, every=0.1), Text("x"), SseError("Network connection lost.")))
    evs = events(client.post(R_PATH, O_BODY, stream=True).read())
    assert evs[0] == ("comment", "OPENROUTER PROCESSING")
    assert [n for n, _ in evs].count("comment") >= 3
    payloads = [json.loads(d) for n, d in evs if n != "comment"]
    assert payloads[1]["choices"][0]["delta"] == {"reasoning": "r"} and payloads[1]["id"].startswith("gen-")
    error = payloads[-1]
    assert error["error"] == {"message": "Network connection lost.", "code": 502}
    assert error["object"] == "chat.completion.chunk" and error["choices"][0]["finish_reason"] == "error"
    assert sim.requests[0].flavour == "openrouter" and sim.requests[0].wire == "openai"


def test_openai_sse_error_chunk(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("x"), SseError("boom", code=500)))
    chunks = datas(client.post(O_PATH, O_BODY, stream=True).read())
    assert chunks[-1]["error"]["message"] == "boom" and chunks[-1]["error"]["code"] == 500


def test_anthropic_sse_error_event(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("x"), SseError("Overloaded", type="overloaded_error")))
    evs = events(client.post(A_PATH, A_BODY, stream=True).read())
    assert evs[-1][0] == "error"
    assert json.loads(evs[-1][1])["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert "message_stop" not in [n for n, _ in evs]


# --- routing, errors, scripting -----------------------------------------------------------------


def test_unknown_path_is_404_in_wire_shape(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("kept")))
    resp = client.post("/v1/complete", A_BODY)
    body = json.loads(resp.read())
    assert resp.status == 404 and body["type"] == "error" and body["error"]["type"] == "not_found_error"
    resp = client.post("/v1/embeddings", O_BODY)
    assert resp.status == 404 and "error" in json.loads(resp.read())
    assert sim.remaining == 1 and sim.requests[0].rejected


def test_http_error_shapes(sim: ProviderSimulator, client: Client) -> None:
    sim.script(
        HttpError(529, "Overloaded"),
        HttpError(429, "slow", headers={"retry-after": "2"}),
        HttpError(401, "bad key", type="authentication_error"),
        HttpError(418, body={"custom": True}),
        HttpError(400, "bad", body="not json"),
    )
    resp = client.post(A_PATH, A_BODY)
    assert resp.status == 529 and resp.getheader("request-id", "").startswith("req_")
    assert json.loads(resp.read())["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    resp = client.post(O_PATH, O_BODY)
    assert resp.status == 429 and resp.getheader("retry-after") == "2"
    assert json.loads(resp.read()) == {
        "error": {"message": "slow", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }
    resp = client.post(O_PATH, O_BODY)
    assert json.loads(resp.read())["error"]["type"] == "authentication_error"
    resp = client.post(A_PATH, A_BODY)
    assert resp.status == 418 and json.loads(resp.read()) == {"custom": True}
    assert client.post(A_PATH, A_BODY).read() == b"not json"


def test_exhausted_script_is_500_and_recorded(sim: ProviderSimulator, client: Client) -> None:
    resp = client.post(O_PATH, O_BODY)
    body = json.loads(resp.read())
    assert resp.status == 500 and body["error"]["message"] == "simulator: no scripted reply left"
    assert body["error"]["type"] == "server_error"
    assert len(sim.requests) == 1 and sim.requests[0].rejected is None


def test_callables_and_behaviour(sim: ProviderSimulator, client: Client) -> None:
    seen: list[RecordedRequest] = []

    def once(request: RecordedRequest) -> Reply:
        seen.append(request)
        return Reply(Text("once"))

    def fallback(request: RecordedRequest) -> Reply | HttpError:
        return Reply(Text(f"n{request.index}"))

    def broken(request: RecordedRequest) -> Reply:
        raise RuntimeError("kaput")

    sim.script(once)
    sim.behaviour(fallback)
    texts = []
    for _ in range(3):
        texts.append(json.loads(client.post(A_PATH, A_BODY).read())["content"][0]["text"])
    assert texts == ["once", "n1", "n2"]
    assert seen[0].index == 0 and seen[0].body == A_BODY and seen[0].headers["content-type"] == "application/json"
    sim.reset_script()
    sim.script(broken)
    resp = client.post(A_PATH, A_BODY)
    assert resp.status == 500 and b"kaput" in resp.read()
    assert client.post(A_PATH, A_BODY).status == 500  # behaviour cleared by reset_script
    with pytest.raises(TypeError):
        sim.script("not an item")  # type: ignore[arg-type]


def test_logs_and_clear(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("a")))
    client.post(A_PATH, A_BODY).read()
    snapshot = sim.requests
    snapshot.clear()
    assert len(sim.requests) == 1 and sim.wait_for_requests(1, timeout=0.1)
    assert not sim.wait_for_requests(2, timeout=0.05)
    assert sim.connections[0].request_count == 1 and sim.connections[0].peer[0] == "127.0.0.1"
    sim.clear_log()
    assert sim.requests == [] and sim.connections == []


# --- validation --------------------------------------------------------------------------------

TU = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
TR = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "m", "messages": USER}, "max_tokens: Field required"),
        ({"model": "m", "max_tokens": 5}, "messages: Field required"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "at least one message"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": ""}]}, "non-empty content"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": []}]}, "non-empty content"),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}],
            },
            "text content blocks must be non-empty",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [
                    *USER,
                    {"role": "assistant", "content": [TU]},
                    {"role": "user", "content": "no result"},
                ],
            },
            "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [*USER, {"role": "assistant", "content": [TU]}]},
            "without `tool_result`",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [*USER, {"role": "assistant", "content": "x"}, {"role": "user", "content": [TR]}],
            },
            "unexpected `tool_use_id` found in `tool_result` blocks: toolu_1",
        ),
        (
            {
                "model": "claude-sonnet-4-5",  # accepts prefill, so its whitespace rule is reached
                "max_tokens": 5,
                "messages": [*USER, {"role": "assistant", "content": "ends with \n"}],
            },
            "final assistant content cannot end with trailing whitespace",
        ),
        (
            {
                "model": "claude-3-5-sonnet-20241022",
                "max_tokens": 5,
                "messages": [*USER, {"role": "assistant", "content": [{"type": "text", "text": "x "}]}],
            },
            "trailing whitespace",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [
                    *USER,
                    {
                        "role": "assistant",
                        "content": [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "x"}],
                    },
                    {"role": "user", "content": "y"},
                ],
            },
            "signature: Field required",
        ),
    ],
)
def test_anthropic_validation(sim: ProviderSimulator, client: Client, body: dict[str, Any], fragment: str) -> None:
    sim.script(Reply(Text("unused")))
    resp = client.post(A_PATH, body)
    payload = json.loads(resp.read())
    assert resp.status == 400 and payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error" and fragment in payload["error"]["message"]
    assert sim.requests[0].rejected == payload["error"]["message"] and sim.remaining == 1


def test_anthropic_valid_conversation_passes(sim: ProviderSimulator, client: Client) -> None:
    messages = [
        *USER,
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "text", "text": "x"},
                TU,
            ],
        },
        {"role": "user", "content": [TR, {"type": "text", "text": "more"}]},
        {"role": "assistant", "content": ""},
    ]  # the optional final (prefill) assistant message may be empty, on a model that takes prefill
    sim.script(Reply(Text("fine")))
    assert client.post(A_PATH, {**A_BODY, "model": "claude-sonnet-4-5", "messages": messages}).status == 200


CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"messages": USER}, "you must provide a model parameter"),
        ({"model": "m"}, "Missing required parameter: 'messages'"),
        ({"model": "m", "messages": []}, "empty array"),
        ({"model": "m", "messages": [{"role": "user", "content": ""}]}, "string too short"),
        ({"model": "m", "messages": [{"role": "system", "content": ""}, *USER]}, "messages[0].content"),
        (
            {
                "model": "m",
                "messages": [*USER, {"role": "assistant", "content": None, "tool_calls": [CALL]}, *USER],
            },
            "did not have response messages: call_1",
        ),
        (
            {"model": "m", "messages": [*USER, {"role": "assistant", "content": None, "tool_calls": [CALL]}]},
            "did not have response messages: call_1",
        ),
        (
            {
                "model": "m",
                "messages": [
                    *USER,
                    {"role": "assistant", "content": "x"},
                    {"role": "tool", "tool_call_id": "call_1", "content": "r"},
                ],
            },
            "must be a response to a preceeding message with 'tool_calls'",
        ),
    ],
)
def test_openai_validation(sim: ProviderSimulator, client: Client, body: dict[str, Any], fragment: str) -> None:
    sim.script(Reply(Text("unused")))
    resp = client.post(O_PATH, body)
    payload = json.loads(resp.read())
    assert resp.status == 400 and set(payload["error"]) == {"message", "type", "param", "code"}
    assert payload["error"]["type"] == "invalid_request_error" and fragment in payload["error"]["message"]
    assert sim.requests[0].rejected and sim.remaining == 1


def test_openai_valid_tool_round_passes(sim: ProviderSimulator, client: Client) -> None:
    messages = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "r"},
    ]
    sim.script(Reply(Text("fine")))
    assert client.post(O_PATH, {**O_BODY, "messages": messages}).status == 200


def test_invalid_json_is_400(sim: ProviderSimulator, client: Client) -> None:
    resp = client.post(A_PATH, b"{not json")
    assert resp.status == 400 and json.loads(resp.read())["error"]["type"] == "invalid_request_error"


# --- connections and faults --------------------------------------------------------------------


def test_keep_alive_reuses_connection(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("a")), Reply(Text("b"), EndBody()), Reply(Text("c")))
    for body in (A_BODY, A_BODY, O_BODY):
        client.post(A_PATH if body is A_BODY else O_PATH, body, stream=True).read()
    assert {r.connection_id for r in sim.requests} == {1}
    client.close()
    closed = sim.wait_closed(1, timeout=3)
    assert closed is not None and sim.connections[0].closed_by == "client"
    other = Client(sim)
    sim.script(Reply(Text("d")))
    other.post(A_PATH, A_BODY).read()
    assert sim.requests[-1].connection_id == 2
    other.close()


def test_end_body_has_no_terminal_event(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("a"), EndBody(), Text("never")))
    names = [n for n, _ in events(client.post(A_PATH, A_BODY, stream=True).read())]
    assert names[-1] == "content_block_delta" and "message_stop" not in names


def test_reset_sends_rst(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("a"), Reset()))
    resp = client.post(A_PATH, A_BODY, stream=True)
    with pytest.raises(ConnectionResetError):
        resp.read()
    assert sim.connections[0].closed_by == "server"
    assert sim.wait_closed(1, timeout=0.1) is None


def test_disconnect_is_incomplete_read(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("a"), Disconnect()), Reply(Text("plain"), Disconnect()))
    with pytest.raises(http.client.IncompleteRead):
        client.post(A_PATH, A_BODY, stream=True).read()
    again = Client(sim)
    with pytest.raises(http.client.IncompleteRead):  # non-streamed: half the JSON body, then close
        again.post(O_PATH, O_BODY).read()
    again.close()


def test_non_stream_faults(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("a"), SseError("Overloaded", type="overloaded_error", code=529)), Reply(Reset()))
    resp = client.post(A_PATH, A_BODY)
    assert resp.status == 529 and json.loads(resp.read())["error"]["type"] == "overloaded_error"
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        client.post(A_PATH, A_BODY).read()


def _raw_request(sim: ProviderSimulator, path: str, body: dict[str, Any]) -> socket.socket:
    host, port = sim.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    data = json.dumps(body).encode()
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        part = sock.recv(65536)
        assert part, "server closed early"
        seen += part
    return seen


@pytest.mark.parametrize("fault", [Silence(5), KeepAlives(5, every=0.05), Pace(5)])
def test_client_close_mid_wait_is_recorded(sim: ProviderSimulator, fault: Any) -> None:
    sim.script(Reply(Text("first"), fault, Text("second"), Text("third")))
    sock = _raw_request(sim, A_PATH, {**A_BODY, "stream": True})
    _read_until(sock, b"first")
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    shut = time.monotonic()
    closed = sim.wait_closed(1, timeout=3)
    assert closed is not None and closed - shut < 2.0  # well before the 5 s wait ends
    assert sim.connections[0].closed_by == "client"


def test_delay_headers_and_close(sim: ProviderSimulator) -> None:
    sim.script(Reply(Text("x"), delay_headers=5))
    sock = _raw_request(sim, O_PATH, {**O_BODY, "stream": True})
    assert sim.wait_for_requests(1, timeout=3)
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recv(10)  # nothing at all, not even the status line
    sock.close()
    assert sim.wait_closed(1, timeout=3) is not None


def test_pace_and_keepalives_timing(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Pace(0.05), Text("abcd", chunk=1)), Reply(KeepAlives(1.0, every=0.05), Text("x")))
    start = time.monotonic()
    client.post(A_PATH, A_BODY, stream=True).read()
    assert time.monotonic() - start >= 0.05 * 6  # >= 6 paced events after Pace
    evs = events(client.post(A_PATH, A_BODY, stream=True).read())
    assert [n for n, _ in evs].count("ping") >= 3


def test_raw_sse_verbatim_in_chunks(sim: ProviderSimulator) -> None:
    data = b"event: x\ndata: {}\n\n" * 20
    sim.script(RawSSE(data, chunk_size=7), Reply(Text("a"), RawSSE(b"event: odd\ndata: {}\n\n")))
    sock = _raw_request(sim, A_PATH, {**A_BODY, "stream": True})
    raw = _read_until(sock, b"\r\n0\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    pieces, rest = [], body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        pieces.append(rest[:size])
        rest = rest[size + 2 :]
    sock.close()
    assert b"".join(pieces) == data and max(len(p) for p in pieces) == 7
    client = Client(sim)
    names = [n for n, _ in events(client.post(A_PATH, A_BODY, stream=True).read())]
    client.close()
    assert "odd" in names and names[-1] == "message_stop"


def test_long_text_renders_fast(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("x" * 20_000, chunk=1)))
    start = time.monotonic()
    data = client.post(O_PATH, O_BODY, stream=True).read()
    assert time.monotonic() - start < 5.0  # generous: takes well under a second
    assert len(datas(data)) == 20_000 + 3


def test_close_ends_idle_connections() -> None:
    simulator = ProviderSimulator()
    other = Client(simulator)
    simulator.script(Reply(Text("a")))
    other.post(A_PATH, A_BODY).read()
    simulator.close()
    assert simulator.connections[0].closed_by == "server"
    assert simulator.wait_closed(1, timeout=0.1) is None
    other.close()
