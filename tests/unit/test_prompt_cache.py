"""The simulator's prompt cache: breakpoints, lookback, minimum length, TTL, automatic prefixes."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from agent.testing import ProviderSimulator, RecordedRequest, Reply, Text
from agent.testing.prompt_cache import (
    OPENAI_MIN_TOKENS,
    OPENAI_STEP,
    PromptCache,
    PromptUsage,
    minimum_cacheable_tokens,
)
from agent.testing.rules import check_request
from agent.testing.script import Flavour, Wire

MARK = {"type": "ephemeral"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def recorded(body: dict[str, Any], wire: Wire = "anthropic", flavour: Flavour = "anthropic", **headers: str) -> Any:
    return RecordedRequest(0, wire, flavour, "/v1/messages", dict(headers), body, 1, 0.0)


def text(n_chars: int, tag: str = "") -> str:
    return (tag + "lorem ipsum dolor sit amet " * (n_chars // 27 + 1))[:n_chars]


def anthropic_body(system_chars: int, *messages: dict[str, Any], model: str = "claude-sonnet-4-6") -> dict[str, Any]:
    system = [{"type": "text", "text": text(system_chars), "cache_control": MARK}]
    user = [{"role": "user", "content": "go"}]
    return {"model": model, "max_tokens": 5, "system": system, "messages": [*user, *messages]}


def turn(index: int, marked: bool) -> list[dict[str, Any]]:
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": f"t{index}", "content": f"out {index}"}
    if marked:
        result["cache_control"] = MARK
    use = {"type": "tool_use", "id": f"t{index}", "name": "f", "input": {}}
    return [{"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]


def test_a_breakpoint_writes_its_prefix_and_the_next_request_reads_it() -> None:
    cache = PromptCache(Clock())
    body = anthropic_body(8_000)
    first = cache.usage(recorded(body))
    assert first.cache_read == 0 and first.cache_write > 2_000 and first.input_tokens > 0
    second = cache.usage(recorded(body))
    assert second == PromptUsage(first.prompt_tokens, first.cache_write, 0)


def test_below_the_model_minimum_nothing_is_cached() -> None:
    cache = PromptCache(Clock())
    body = anthropic_body(2_000)  # about 500 tokens
    assert cache.usage(recorded(body)) == cache.usage(recorded(body))
    assert cache.usage(recorded(body)).cache_write == 0 and cache.usage(recorded(body)).cache_read == 0
    # about 2,500 tokens: enough for Sonnet 4.6 (1,024), not for Opus 4.6 (4,096)
    assert cache.usage(recorded(anthropic_body(10_000))).cache_write > 0
    assert cache.usage(recorded(anthropic_body(10_000, model="claude-opus-4-6"))).cache_write == 0
    assert minimum_cacheable_tokens("anthropic/claude-haiku-4.5") == 4_096
    assert minimum_cacheable_tokens("claude-3-5-haiku-20241022") == 2_048
    assert minimum_cacheable_tokens("gpt-4o") == OPENAI_MIN_TOKENS


@pytest.mark.parametrize(("added_turns", "hit"), [(9, True), (11, False)])
def test_a_breakpoint_looks_back_twenty_blocks(added_turns: int, hit: bool) -> None:
    cache = PromptCache(Clock())
    start = [m for i in range(2) for m in turn(i, marked=i == 1)]
    cache.usage(recorded(anthropic_body(8_000, *start)))
    later = [m for i in range(2, 2 + added_turns) for m in turn(i, marked=i == 1 + added_turns)]
    unmarked_start = [m for i in range(2) for m in turn(i, marked=False)]
    usage = cache.usage(recorded(anthropic_body(8_000, *unmarked_start, *later)))
    # 9 turns add 18 blocks (within reach); 11 add 22. The system breakpoint still hits.
    system_only = cache.usage(recorded(anthropic_body(8_000))).cache_read
    assert (usage.cache_read > system_only) is hit


def test_entries_live_for_their_ttl_from_last_use() -> None:
    clock = Clock()
    cache = PromptCache(clock)
    body = anthropic_body(8_000)
    cache.usage(recorded(body))
    clock.now = 200
    assert cache.usage(recorded(body)).cache_read > 0  # refreshed: now lives until 500
    clock.now = 450
    assert cache.usage(recorded(body)).cache_read > 0
    clock.now = 751
    assert cache.usage(recorded(body)).cache_read == 0  # 5 minutes after the last use


def test_a_one_hour_entry_survives_six_minutes_and_is_reported_as_such() -> None:
    clock = Clock()
    cache = PromptCache(clock)
    body = anthropic_body(8_000)
    body["system"][0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    first = cache.usage(recorded(body))
    assert first.write_1h == first.cache_write > 0
    clock.now = 360
    assert cache.usage(recorded(body)).cache_read == first.cache_write


def test_each_model_has_its_own_cache() -> None:
    cache = PromptCache(Clock())
    cache.usage(recorded(anthropic_body(8_000)))
    assert cache.usage(recorded(anthropic_body(8_000, model="claude-sonnet-4-5"))).cache_read == 0


def chat_body(chars: int, *extra: str, **fields: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": text(chars)}] + [{"role": "user", "content": e} for e in extra]
    return {"model": "gpt-4o", "messages": messages, **fields}


def test_chat_completions_caches_long_prefixes_in_128_token_steps() -> None:
    cache = PromptCache(Clock())
    first = cache.usage(recorded(chat_body(8_000, "hi"), "openai", "openai"))
    assert first.cache_read == 0
    second = cache.usage(recorded(chat_body(8_000, "hi", "more"), "openai", "openai"))
    assert second.cache_read >= OPENAI_MIN_TOKENS and second.cache_read % OPENAI_STEP == 0
    assert first.prompt_tokens - OPENAI_STEP < second.cache_read <= first.prompt_tokens
    short = chat_body(3_000, "hi")  # about 750 tokens: below 1,024, never cached
    cache.usage(recorded(short, "openai", "openai"))
    assert cache.usage(recorded(short, "openai", "openai")).cache_read == 0


def test_a_prompt_cache_key_keeps_a_conversation_on_its_own_cache() -> None:
    cache = PromptCache(Clock())
    cache.usage(recorded(chat_body(8_000, "hi", prompt_cache_key="a"), "openai", "openai"))
    assert cache.usage(recorded(chat_body(8_000, "hi", prompt_cache_key="b"), "openai", "openai")).cache_read == 0
    assert cache.usage(recorded(chat_body(8_000, "hi", prompt_cache_key="a"), "openai", "openai")).cache_read > 0


def test_openrouter_claude_uses_breakpoints_and_other_models_the_automatic_cache() -> None:
    cache = PromptCache(Clock())
    unmarked = {**chat_body(8_000, "hi"), "model": "anthropic/claude-sonnet-4.6"}
    cache.usage(recorded(unmarked, "openai", "openrouter"))
    assert cache.usage(recorded(unmarked, "openai", "openrouter")).cache_read == 0  # Claude needs markers
    marked = json.loads(json.dumps(unmarked))
    marked["messages"][0]["content"] = [{"type": "text", "text": text(8_000), "cache_control": MARK}]
    first = cache.usage(recorded(marked, "openai", "openrouter"))
    assert first.cache_write > 0
    # A string and a single text part render the same: the unmarked form reads it too.
    assert cache.usage(recorded(marked, "openai", "openrouter")).cache_read == first.cache_write
    gpt = {**chat_body(8_000, "hi"), "model": "openai/gpt-4o"}
    cache.usage(recorded(gpt, "openai", "openrouter"))
    assert cache.usage(recorded(gpt, "openai", "openrouter")).cache_read > 0


def five_markers() -> dict[str, Any]:
    blocks = [{"type": "text", "text": f"part {i}", "cache_control": MARK} for i in range(5)]
    return {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": blocks}]}


def test_a_fifth_breakpoint_is_refused_like_the_real_api() -> None:
    refusal = check_request("anthropic", five_markers())
    assert refusal is not None
    assert refusal.message == "A maximum of 4 blocks with cache_control may be provided. Found 5."
    four = five_markers()
    del four["messages"][0]["content"][0]["cache_control"]
    assert check_request("anthropic", four) is None
    chat = {"model": "anthropic/claude-sonnet-4.6", "messages": five_markers()["messages"]}
    wrapped = check_request("openrouter", chat)
    assert wrapped is not None and wrapped.upstream and "Found 5" in wrapped.message
    assert check_request("openrouter", {**chat, "model": "openai/gpt-4o"}) is None


def post(sim: ProviderSimulator, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    host, port = sim.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"content-type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_usage_carries_the_cache_figures_in_each_wires_shape() -> None:
    with ProviderSimulator() as sim:
        sim.script(*(Reply(Text("ok")) for _ in range(4)))
        body = anthropic_body(8_000)
        post(sim, "/v1/messages", body)
        status, message = post(sim, "/v1/messages", body)
        usage = message["usage"]
        assert status == 200 and usage["cache_read_input_tokens"] > 2_000
        assert usage["cache_creation_input_tokens"] == 0 and usage["input_tokens"] > 0  # the unmarked user turn
        assert usage["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
        system = {"role": "system", "content": body["system"]}  # marked content parts
        chat = {"model": "anthropic/claude-sonnet-4.6", "messages": [system, {"role": "user", "content": "go"}]}
        _, first = post(sim, "/api/v1/chat/completions", chat)
        details = first["usage"]["prompt_tokens_details"]
        assert details["cached_tokens"] == 0 and details["cache_write_tokens"] > 2_000
        status, refused = post(sim, "/v1/messages", five_markers())
        assert status == 400 and "A maximum of 4 blocks with cache_control" in refused["error"]["message"]
