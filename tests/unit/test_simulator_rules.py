"""The simulator refuses what the real APIs refuse (the rules table in agent.testing.rules),
in each wire's real error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.testing import ProviderSimulator, Reply, Text
from agent.testing.prompt_cache import prompt_size
from agent.testing.rules import RULES, refuses_prefill
from tests.unit.test_simulator import A_PATH, O_PATH, R_PATH, USER, Client

PREFILL_REFUSED = (
    "This model does not support assistant message prefill. The conversation must end with a user message."
)
TU = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
TR = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}


@pytest.fixture
def sim() -> Any:
    with ProviderSimulator() as simulator:
        yield simulator


@pytest.fixture
def client(sim: ProviderSimulator) -> Any:
    c = Client(sim)
    yield c
    c.close()


@pytest.mark.parametrize(
    ("model", "refused"),
    [
        ("claude-sonnet-4-6", True),
        ("claude-opus-4-6", True),
        ("claude-opus-4-8", True),
        ("claude-sonnet-5", True),
        ("anthropic/claude-sonnet-4.6", True),
        ("claude-sonnet-4-5", False),
        ("claude-sonnet-4-5-20250929", False),
        ("claude-opus-4-1", False),
        ("claude-opus-4-20250514", False),
        ("claude-3-5-sonnet-20241022", False),
        ("claude-3-7-sonnet-latest", False),
        ("some-unknown-model", True),
    ],
)
def test_which_models_refuse_prefill(model: str, refused: bool) -> None:
    assert refuses_prefill(model) is refused


def _anthropic(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": model, "max_tokens": 10, "messages": messages}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_anthropic("claude-sonnet-4-6", [*USER, {"role": "assistant", "content": "Hello"}]), PREFILL_REFUSED),
        (
            _anthropic("claude-opus-4-6", [*USER, {"role": "assistant", "content": [{"type": "text", "text": "a"}]}]),
            PREFILL_REFUSED,
        ),
        (
            _anthropic("claude-sonnet-4-5", [*USER, {"role": "user", "content": [{"type": "text", "text": " \n"}]}]),
            "messages: text content blocks must contain non-whitespace text",
        ),
        (
            _anthropic(
                "claude-sonnet-4-6",
                [*USER, {"role": "assistant", "content": [{**TU, "id": "call.1"}]}, {"role": "user", "content": "x"}],
            ),
            "messages.1.content.0.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'",
        ),
        (
            _anthropic(
                "claude-sonnet-4-6",
                [
                    *USER,
                    {"role": "assistant", "content": [TU]},
                    {"role": "user", "content": [TR]},
                    {"role": "assistant", "content": [TU]},
                    {"role": "user", "content": [TR]},
                ],
            ),
            "messages.3.content.0: `tool_use` ids must be unique",
        ),
    ],
)
def test_anthropic_rules(sim: ProviderSimulator, client: Client, body: dict[str, Any], message: str) -> None:
    sim.script(Reply(Text("unused")))
    resp = client.post(A_PATH, body)
    payload = json.loads(resp.read())
    assert resp.status == 400 and payload["type"] == "error"
    assert payload["error"] == {"type": "invalid_request_error", "message": message}
    assert sim.remaining == 1  # a refused request takes no scripted reply


def _status(client: Client, path: str, body: dict[str, Any]) -> int:
    resp = client.post(path, body)
    resp.read()  # one keep-alive connection: finish each response before the next request
    return resp.status


def test_whitespace_beside_real_text_and_prefill_on_older_models_pass(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("ok")), Reply(Text("ok")))
    mixed = [{"role": "user", "content": [{"type": "text", "text": " "}, {"type": "text", "text": "hi"}]}]
    assert _status(client, A_PATH, _anthropic("claude-sonnet-4-6", mixed)) == 200
    prefill = [*USER, {"role": "assistant", "content": "Once upon"}]
    assert _status(client, A_PATH, _anthropic("claude-sonnet-4-5", prefill)) == 200


def test_openai_refuses_tool_call_ids_over_40_characters(sim: ProviderSimulator, client: Client) -> None:
    call = {"id": "x" * 41, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "x" * 41, "content": "r"},
    ]
    resp = client.post(O_PATH, {"model": "gpt-4o", "messages": messages})
    error = json.loads(resp.read())["error"]
    assert resp.status == 400 and error["code"] == "string_above_max_length"
    assert error["param"] == "messages[1].tool_calls[0].id" and "maximum length 40" in error["message"]


def test_openrouter_wraps_the_upstream_prefill_refusal(sim: ProviderSimulator, client: Client) -> None:
    body = {"model": "anthropic/claude-opus-4.6", "messages": [*USER, {"role": "assistant", "content": "Hi"}]}
    resp = client.post(R_PATH, body)
    error = json.loads(resp.read())["error"]
    assert resp.status == 400 and error["message"] == "Provider returned error" and error["code"] == 400
    upstream = json.loads(error["metadata"]["raw"])
    assert upstream["error"]["message"] == PREFILL_REFUSED and error["metadata"]["provider_name"] == "Anthropic"
    # Claude before 4.6 still takes prefill there; non-Claude models write a new reply.
    sim.script(Reply(Text("ok")), Reply(Text("ok")))
    assert _status(client, R_PATH, {**body, "model": "anthropic/claude-sonnet-4.5"}) == 200
    assert _status(client, R_PATH, {**body, "model": "openai/gpt-4o"}) == 200


def test_every_rule_says_what_documented_behaviour_it_mirrors() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert all(rule.mirrors and rule.flavours for rule in RULES)


def _big(chars: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "w" * chars}]


def test_a_prompt_over_the_models_window_is_refused_like_anthropic(sim: ProviderSimulator, client: Client) -> None:
    sim.set_context_window("claude-small", 1_000)
    body = {"model": "claude-small", "max_tokens": 10, "messages": _big(4_400)}
    tokens = prompt_size("anthropic", "anthropic", body)
    assert tokens > 1_000
    resp = client.post(A_PATH, body)
    payload = json.loads(resp.read())
    assert resp.status == 400 and payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["message"] == f"prompt is too long: {tokens} tokens > 1000 maximum"
    fits = {"model": "claude-small", "max_tokens": 500, "messages": _big(2_000)}
    resp = client.post(A_PATH, fits)
    message = json.loads(resp.read())["error"]["message"]
    size = prompt_size("anthropic", "anthropic", fits)
    assert message == (
        f"input length and `max_tokens` exceed context limit: {size} + 500 > 1000, "
        "decrease input length or `max_tokens` and try again"
    )
    sim.script(Reply(Text("ok")), Reply(Text("ok")))
    assert _status(client, A_PATH, {**fits, "max_tokens": 100}) == 200
    assert _status(client, A_PATH, {**body, "model": "claude-other"}) == 200  # another model: no limit


def test_a_prompt_over_the_models_window_is_refused_like_openai(sim: ProviderSimulator, client: Client) -> None:
    sim.set_context_window("gpt-small", 1_000)
    body = {"model": "gpt-small", "messages": _big(4_400)}
    resp = client.post(O_PATH, body)
    error = json.loads(resp.read())["error"]
    assert resp.status == 400 and error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("This model's maximum context length is 1000 tokens. However, your messages")
    resp = client.post(O_PATH, {**body, "messages": _big(2_000), "max_tokens": 600})
    assert "in the messages, 600 in the completion" in json.loads(resp.read())["error"]["message"]
    resp = client.post(R_PATH, body)
    error = json.loads(resp.read())["error"]
    assert resp.status == 400 and error["message"].startswith("This endpoint's maximum context length is 1000")


def test_models_without_a_window_have_no_size_limit(sim: ProviderSimulator, client: Client) -> None:
    sim.script(Reply(Text("ok")))
    assert _status(client, O_PATH, {"model": "gpt-unlimited", "messages": _big(400_000)}) == 200
    with ProviderSimulator(context_windows={"GPT-Small": 50}) as other:
        assert other.context_window("gpt-small") == 50 and other.context_window("gpt-4o") is None
        other.set_context_window("gpt-small", None)
        assert other.context_window("gpt-small") is None
