"""Request shapes and limits decided once, in the provider profile, for local servers."""

from __future__ import annotations

import pytest

from agent.messages import Message, ToolCallPart, ToolResultPart, user_message
from agent.models import ModelCatalog, ModelInfo
from agent.providers.chat_completions import to_wire_messages
from agent.providers.profiles import PROFILES, resolve_profile
from agent.providers.server_info import server_root

UNKNOWN = ModelCatalog().lookup("gemma-3-270m")
KNOWN = ModelCatalog().lookup("qwen3-coder")  # 65,536 output tokens in the catalog
LOCAL = resolve_profile("custom", "http://127.0.0.1:8080/v1")
REMOTE = resolve_profile("custom", "https://llm.example.com/v1")


def history_with_a_tool_call() -> list[Message]:
    return [
        user_message("write it"),
        Message("assistant", [ToolCallPart("call_1", "write_file", {"path": "a", "content": "b"})]),
        Message("tool", [ToolResultPart("call_1", "wrote a")]),
    ]


@pytest.mark.parametrize(("name", "content"), [("custom", ""), ("openai", None), ("openrouter", None)])
def test_tool_call_content_per_profile(name: str, content: str | None) -> None:
    profile = PROFILES[name]
    wire = to_wire_messages("", history_with_a_tool_call(), None, profile.tool_call_content)
    assistant = next(m for m in wire if m["role"] == "assistant")
    assert "content" in assistant and assistant["content"] == content  # never a missing key


def test_a_local_server_gets_what_is_left_of_the_context_it_reports() -> None:
    assert LOCAL.reads_server_limits and not REMOTE.reads_server_limits
    # unknown model: all the room left (a margin of an eighth of a small window)
    assert LOCAL.output_tokens(UNKNOWN, None, 1_000, 2_048) == 2_048 - 1_000 - 256
    # a model the catalog knows keeps its own output limit below the room
    assert LOCAL.output_tokens(KNOWN, None, 1_000, 262_144) == KNOWN.max_output_tokens
    # the window unknown (llama-cpp-python says nothing): no limit, the server's default is the rest
    assert LOCAL.output_tokens(UNKNOWN, None, 1_000, None) is None
    # no room: no limit either, so the server reports the overflow in its own words
    assert LOCAL.output_tokens(UNKNOWN, None, 2_040, 2_048) is None
    assert LOCAL.output_tokens(UNKNOWN, 500, 1_000, 2_048) == 500  # the user's value wins
    assert REMOTE.output_tokens(UNKNOWN, None, 1_000, 2_048) is None  # a remote server decides itself


def test_which_length_cuts_are_a_full_context() -> None:
    def full(model: ModelInfo, explicit: int | None, sent: int | None, window: int | None = None) -> bool:
        return LOCAL.cut_means_full_context(model, explicit, sent, 1_000, window)

    assert full(UNKNOWN, None, None)  # no limit sent: only the context stops it
    assert full(UNKNOWN, None, 792)  # the room left was the limit
    assert full(KNOWN, None, 1_000)  # below the model's own limit: the room was
    assert not full(KNOWN, None, KNOWN.max_output_tokens)  # its output limit: continue
    assert not full(UNKNOWN, 500, 500, 8_192)  # a user's small limit: continue
    assert full(UNKNOWN, 6_900, 6_900, 8_192)  # a limit that took the rest of the context (the context keeper's)
    assert not REMOTE.cut_means_full_context(UNKNOWN, None, None, 1_000, None)


def test_tool_choice_can_be_turned_off_per_provider() -> None:
    assert LOCAL.sends_tool_choice
    assert not LOCAL.with_overrides(tool_choice=False).sends_tool_choice


def test_server_root() -> None:
    assert server_root("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080"
    assert server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert server_root("http://host:1/ollama/v1") == "http://host:1/ollama"


def test_lm_studio_says_its_loaded_context() -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from typing import Any

    from agent.providers.server_info import read_context_window

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answers: dict[str, Any] = {
                "/v1/models": {"data": [{"id": "qwen/qwen3-8b", "owned_by": "organization_owner"}]},
                "/api/v0/models/qwen%2Fqwen3-8b": {"loaded_context_length": 12_000, "max_context_length": 40_960},
            }
            body = json.dumps(answers.get(self.path, {"error": "no"})).encode()
            self.send_response(200 if self.path in answers else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        assert read_context_window(url, None, "qwen/qwen3-8b", timeout=5) == 12_000
    finally:
        server.shutdown()
        server.server_close()
