"""Where cache_control breakpoints and cache keys go, decided by profile and catalog."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from agent.messages import Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart, user_message
from agent.prompts import default_system_prompt
from agent.providers.base import ModelRequest, ToolSpec
from agent.providers.caching import MAX_BREAKPOINTS, CachePolicy, session_cache_key
from agent.providers.factory import build_provider
from agent.providers.options import ProviderOptions
from agent.providers.profiles import resolve_profile
from agent.testing.validation import cache_control_limit, chat_cache_control_limit

TOOLS = [
    ToolSpec("read_file", "Read a file.", {"type": "object"}),
    ToolSpec("write_file", "Write a file.", {"type": "object"}),
]
SIGNED = ThinkingPart("hm", signature="sig", source_wire="anthropic_messages")


def loop_history(steps: int) -> list[Message]:
    history = [user_message("do it")]
    for i in range(steps):
        history.append(Message("assistant", [SIGNED, TextPart(f"step {i}"), ToolCallPart(f"c{i}", "read_file", {})]))
        history.append(Message("tool", [ToolResultPart(f"c{i}", f"result {i}")]))
    return history


def request(history: list[Message], **extra: Any) -> ModelRequest:
    return ModelRequest(model="m", system="You are a test.", messages=history, tools=TOOLS, **extra)


def params(provider: str, model: str, req: ModelRequest, **options: Any) -> dict[str, Any]:
    profile = resolve_profile(provider, options.pop("base_url", None))
    built = build_provider(profile, model, "k", None, ProviderOptions(**options))
    return built.build_params(req)  # type: ignore[attr-defined, no-any-return]


def marked(value: Any) -> list[str]:
    """Paths of every cache_control marker in a JSON value."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                if key == "cache_control":
                    found.append(path)
                else:
                    walk(child, f"{path}.{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}[{index}]")

    walk(value, "")
    return found


def test_anthropic_marks_tools_system_latest_and_previous_message() -> None:
    body = params("anthropic", "claude-sonnet-4-6", request(loop_history(3)))
    assert marked(body) == [
        ".messages[4].content[0]",  # the previous request's last message (its tool result)
        ".messages[6].content[0]",  # the latest message: the moving breakpoint
        ".system[0]",
        ".tools[1]",
    ]
    assert body["system"] == [{"type": "text", "text": "You are a test.", "cache_control": {"type": "ephemeral"}}]


def test_thinking_is_never_marked_and_a_prefill_is_marked_before() -> None:
    history = [user_message("go"), Message("assistant", [SIGNED, TextPart("partial")])]
    body = params("anthropic", "claude-sonnet-4-5", request(history, prefill="more text"))
    messages = body["messages"]
    assert messages[-1]["content"][-1] == {"type": "text", "text": "more text"}  # the prefill: unmarked
    assert "cache_control" not in messages[-1]["content"][0]  # thinking
    assert messages[-1]["content"][1]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize("seed", range(30))
def test_never_more_than_four_breakpoints(seed: int) -> None:
    rng = random.Random(seed)
    history = loop_history(rng.randint(0, 12))
    for _ in range(rng.randint(0, 3)):  # notes and extra user turns in between
        history.append(user_message(f"note {rng.random()}"))
    anchors = tuple(rng.sample(range(len(history)), k=min(len(history), rng.randint(0, 2))))
    req = request(history, prefill="cut" if rng.random() < 0.3 else None, cache_anchors=anchors)
    for provider, model in (("anthropic", "claude-sonnet-4-5"), ("openrouter", "anthropic/claude-sonnet-4.5")):
        body = params(provider, model, req)
        assert 1 <= len(marked(body)) <= MAX_BREAKPOINTS
        assert cache_control_limit(body) is None if provider == "anthropic" else chat_cache_control_limit(body) is None


def test_cache_anchors_take_the_places_of_the_previous_end_and_the_tools() -> None:
    # Messages 2 and 4 of the neutral history are the tool results that end two trims'
    # stubs; on the wire the user message comes first, so they are messages 2 and 4 too.
    body = params("anthropic", "claude-sonnet-4-6", request(loop_history(4), cache_anchors=(2, 4)))
    assert marked(body) == [
        ".messages[2].content[0]",  # the stubs of the trim before: cached by earlier requests
        ".messages[4].content[0]",  # the new end of the stubs: written for the requests after
        ".messages[8].content[0]",  # the latest message
        ".system[0]",  # tools and system together
    ]
    one = params("anthropic", "claude-sonnet-4-6", request(loop_history(4), cache_anchors=(4,)))
    assert marked(one) == [  # with one anchor, the previous request's end keeps its place; the tools yield theirs
        ".messages[4].content[0]",
        ".messages[6].content[0]",
        ".messages[8].content[0]",
        ".system[0]",
    ]


def test_an_anchor_lands_on_its_own_block_when_tool_messages_merge() -> None:
    history = [
        user_message("go"),
        Message("assistant", [ToolCallPart("a", "read_file", {}), ToolCallPart("b", "read_file", {})]),
        Message("tool", [ToolResultPart("a", "stub a")]),
        Message("tool", [ToolResultPart("b", "whole b")]),
        user_message("and now?"),
    ]
    body = params("anthropic", "claude-sonnet-4-6", request(history, cache_anchors=(2,)))
    assert body["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral"}  # result a, not b
    assert "cache_control" not in body["messages"][2]["content"][1]
    chat = params("openrouter", "anthropic/claude-sonnet-4.6", request(history, cache_anchors=(2,)))
    tool_a = next(m for m in chat["messages"] if m.get("tool_call_id") == "a")
    assert tool_a["cache_control"] == {"type": "ephemeral"}


def test_one_hour_ttl_marker() -> None:
    body = params("anthropic", "claude-sonnet-4-6", request(loop_history(1)), caching=CachePolicy(ttl="1h"))
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_openrouter_claude_gets_markers_in_content_parts() -> None:
    body = params("openrouter", "anthropic/claude-sonnet-4.6", request(loop_history(2)))
    messages = body["messages"]
    assert messages[0]["content"] == [
        {"type": "text", "text": "You are a test.", "cache_control": {"type": "ephemeral"}}
    ]
    assert messages[-1]["role"] == "tool" and messages[-1]["cache_control"] == {"type": "ephemeral"}
    assert messages[3]["role"] == "tool" and messages[3]["cache_control"] == {"type": "ephemeral"}  # previous end
    assert messages[1]["content"] == [{"type": "text", "text": "do it"}]  # user text always as parts
    assert len(marked(body)) == 3 and "cache_control" not in json.dumps(body["tools"])


@pytest.mark.parametrize(
    ("provider", "model", "base_url"),
    [
        ("openai", "gpt-4o", None),
        ("openrouter", "openai/gpt-4o", None),  # OpenRouter caches other models by itself
        ("custom", "qwen3-coder", "http://127.0.0.1:11434/v1"),
        ("custom", "minimax-m2", "http://127.0.0.1:8000/anthropic"),
    ],
)
def test_no_markers_where_they_are_not_wanted(provider: str, model: str, base_url: str | None) -> None:
    body = params(provider, model, request(loop_history(2)), base_url=base_url)
    assert marked(body) == []


def test_the_profile_and_config_decide_the_cache_key() -> None:
    req = request(loop_history(1), cache_key="stayline-abc")
    openai = build_provider(resolve_profile("openai"), "gpt-4o", "k")
    assert openai.build_params(req)["prompt_cache_key"] == "stayline-abc"  # type: ignore[attr-defined]
    router = build_provider(resolve_profile("openrouter"), "anthropic/claude-sonnet-4.6", "k")
    assert "prompt_cache_key" not in router.build_params(req)  # type: ignore[attr-defined]
    assert router.cache_headers(req) == {"x-session-id": "stayline-abc"}  # type: ignore[attr-defined]
    custom_profile = resolve_profile("custom", "http://127.0.0.1:8000/v1")
    custom = build_provider(custom_profile, "qwen3-coder", None)
    assert "prompt_cache_key" not in custom.build_params(req)  # type: ignore[attr-defined]
    opted_in = build_provider(custom_profile.with_overrides(prompt_cache_key=True), "qwen3-coder", None)
    assert opted_in.build_params(req)["prompt_cache_key"] == "stayline-abc"  # type: ignore[attr-defined]
    off = build_provider(
        resolve_profile("openai"), "gpt-4o", "k", None, ProviderOptions(caching=CachePolicy(enabled=False))
    )
    assert "prompt_cache_key" not in off.build_params(req)  # type: ignore[attr-defined]


def test_the_session_cache_key_is_stable_and_reveals_nothing() -> None:
    key = session_cache_key("20261201-abcdef")
    assert key == session_cache_key("20261201-abcdef") and key != session_cache_key("20261201-abcdeg")
    assert key.startswith("stayline-") and "abcdef" not in key and len(key) <= 64


def test_the_default_system_prompt_is_the_same_every_time(tmp_path: Any) -> None:
    first = default_system_prompt(tmp_path)
    assert first == default_system_prompt(tmp_path)  # no clock, no counter: a byte-stable prefix
    assert str(tmp_path) in first
