"""Provider quirks are decided once (profile and catalog) and show up on the wire."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import AIAgent
from agent.providers.profiles import FINE_GRAINED_TOOL_STREAMING
from agent.testing import ProviderSimulator, Reply, Text


def run_once(sim: ProviderSimulator, tmp_path: Path, **options: object) -> dict:
    sim.script(Reply(Text("ok")))
    with AIAgent(api_key="test", workdir=tmp_path, stale_timeout=5, **options) as agent:  # type: ignore[arg-type]
        assert agent.run("hi").status == "completed"
    request = sim.requests[-1]
    assert request.rejected is None
    return {"body": request.body, "headers": request.headers, "path": request.path}


def test_openrouter_claude_gets_real_output_limit_and_fine_grained_streaming(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    sent = run_once(
        sim,
        tmp_path,
        provider="openrouter",
        model="anthropic/claude-opus-4.6",
        base_url=sim.openrouter_base_url,
    )
    assert sent["path"] == "/api/v1/chat/completions"
    assert sent["body"]["max_tokens"] == 128_000
    assert sent["headers"]["x-anthropic-beta"] == FINE_GRAINED_TOOL_STREAMING


def test_openrouter_claude_output_limit_is_clamped_to_the_context_window(
    sim: ProviderSimulator, tmp_path: Path
) -> None:
    sim.script(Reply(Text("ok")))
    big = "word " * 100_000  # 500k characters: about 125k estimated tokens
    with AIAgent(
        provider="openrouter",
        model="anthropic/claude-opus-4.6",
        base_url=sim.openrouter_base_url,
        api_key="test",
        workdir=tmp_path,
        stale_timeout=5,
    ) as agent:
        agent.run(big)
    limit = sim.requests[-1].body["max_tokens"]
    assert 1_024 <= limit < 128_000
    assert limit + len(big) // 4 <= 200_000


def test_user_max_tokens_wins(sim: ProviderSimulator, tmp_path: Path) -> None:
    sent = run_once(
        sim,
        tmp_path,
        provider="openrouter",
        model="anthropic/claude-opus-4.6",
        base_url=sim.openrouter_base_url,
        max_tokens=2_000,
    )
    assert sent["body"]["max_tokens"] == 2_000


@pytest.mark.parametrize("model", ["openai/gpt-4o", "meta-llama/llama-3.3-70b-instruct"])
def test_other_openrouter_models_get_neither(sim: ProviderSimulator, tmp_path: Path, model: str) -> None:
    sent = run_once(sim, tmp_path, provider="openrouter", model=model, base_url=sim.openrouter_base_url)
    assert "max_tokens" not in sent["body"]
    assert "x-anthropic-beta" not in sent["headers"]


def test_anthropic_wire_always_sends_max_tokens_from_the_catalog(sim: ProviderSimulator, tmp_path: Path) -> None:
    sent = run_once(sim, tmp_path, provider="anthropic", model="claude-sonnet-4-6", base_url=sim.base_url)
    assert sent["body"]["max_tokens"] == 64_000


def test_claude_gets_eager_input_streaming_behind_any_host(sim: ProviderSimulator, tmp_path: Path) -> None:
    sent = run_once(sim, tmp_path, provider="custom", model="claude-opus-4-6", base_url=sim.anthropic_gateway_url)
    assert sent["path"] == "/anthropic/v1/messages"  # inferred from the URL
    assert sent["body"]["tools"] and all(t["eager_input_streaming"] is True for t in sent["body"]["tools"])


def test_models_known_to_reject_eager_streaming_do_not_get_it(sim: ProviderSimulator, tmp_path: Path) -> None:
    sent = run_once(sim, tmp_path, provider="custom", model="MiniMax-M2", base_url=sim.anthropic_gateway_url)
    assert all("eager_input_streaming" not in t for t in sent["body"]["tools"])
    assert sent["body"]["max_tokens"] > 0  # unknown limits still send an explicit max_tokens


def test_eager_streaming_can_be_switched_off(sim: ProviderSimulator, tmp_path: Path) -> None:
    from agent.config import Settings

    settings = Settings(eager_tool_streaming=False)
    sent = run_once(
        sim, tmp_path, provider="anthropic", model="claude-opus-4-6", base_url=sim.base_url, settings=settings
    )
    assert all("eager_input_streaming" not in t for t in sent["body"]["tools"])


def test_local_custom_endpoint_without_a_key(sim: ProviderSimulator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("STAYLINE_API_KEY", raising=False)
    sim.script(Reply(Text("local ok")))
    with AIAgent(provider="custom", model="qwen3-coder", base_url=sim.openai_base_url, workdir=tmp_path) as agent:
        assert agent.provider.is_local
        result = agent.run("hi")
    assert result.final_text == "local ok"


def test_eager_streaming_by_beta_header_where_the_field_is_refused(sim: ProviderSimulator, tmp_path: Path) -> None:
    from agent.config import Settings

    settings = Settings(eager_tool_streaming="header")  # type: ignore[arg-type]
    sent = run_once(
        sim, tmp_path, provider="custom", model="claude-opus-4-6", base_url=sim.anthropic_gateway_url, settings=settings
    )
    assert sent["headers"]["anthropic-beta"] == FINE_GRAINED_TOOL_STREAMING
    assert all("eager_input_streaming" not in t for t in sent["body"]["tools"])
