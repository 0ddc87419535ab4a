"""The fallback chain end to end: two simulators on two ports, across wires."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import AIAgent
from agent.config import FallbackSpec, Settings
from agent.testing import HttpError, ProviderSimulator, Reply, Silence, SseError, Text, Thinking, ToolCall
from tests.e2e.conftest import of_kind


@pytest.fixture
def primary() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as sim:
        yield sim


@pytest.fixture
def backup() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as sim:
        yield sim


def multi_step_script(sim: ProviderSimulator) -> None:
    sim.script(
        Reply(ToolCall("read_file", {"path": "plan.txt"})),
        Reply(ToolCall("patch", {"path": "plan.txt", "edits": [{"old": "draft", "new": "final"}]})),
        Reply(Text("The plan is final.")),
    )


def test_anthropic_primary_stalls_and_openai_fallback_finishes_the_task(
    primary: ProviderSimulator, backup: ProviderSimulator, tmp_path: Path
) -> None:
    # The primary writes the file, then stalls on every later request.
    primary.script(Reply(ToolCall("write_file", {"path": "plan.txt", "content": "a draft plan\n"})))
    primary.behaviour(lambda request: Reply(Silence(30)))
    multi_step_script(backup)
    agent = AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=primary.base_url,
        api_key="k",
        workdir=tmp_path,
        stale_timeout=0.5,
        fallbacks=[f"custom:gpt-4o@{backup.openai_base_url}"],
    )
    with agent:
        events = list(agent.stream("write the plan, read it, make it final"))
    finished = events[-1]
    assert finished.status == "completed" and finished.final_text == "The plan is final."
    assert (tmp_path / "plan.txt").read_text() == "a final plan\n"
    (switch,) = of_kind(events, "fallback_activated")
    assert switch.from_ == "claude-sonnet-4-6 via anthropic" and switch.to == "gpt-4o via custom"
    assert "Model fallback: claude-sonnet-4-6 via anthropic unavailable" in switch.message
    started = [e.name for e in of_kind(events, "tool_call_started")]
    assert started == ["write_file", "read_file", "patch"]  # nothing ran twice
    assert len(primary.requests) == 1 + 2  # the write, then two stalls: a fallback exists, so no third
    assert all(r.rejected is None for r in backup.requests)
    first = backup.requests[0].body["messages"]
    assert any(m.get("tool_calls") for m in first) and any(m["role"] == "tool" for m in first)
    resets = [e.caller for e in of_kind(events, "connection_reset")]
    assert resets.count("fallback") == 1
    assert primary.wait_closed(primary.requests[-1].connection_id, timeout=5) is not None


def test_openai_primary_with_thinking_falls_back_to_anthropic(
    primary: ProviderSimulator, backup: ProviderSimulator, tmp_path: Path
) -> None:
    lost = SseError("Network connection lost.", code=502)
    primary.script(
        Reply(Thinking("I should write the file first."), ToolCall("write_file", {"path": "a.txt", "content": "x"})),
        Reply(Text("par"), lost),
    )
    primary.behaviour(lambda request: Reply(lost))
    backup.script(Reply(Text("Written and checked.")))
    with AIAgent(
        provider="openai",
        model="gpt-4o",
        base_url=primary.openai_base_url,
        api_key="k",
        workdir=tmp_path,
        fallbacks=[FallbackSpec("anthropic", "claude-sonnet-4-6", base_url=backup.base_url, api_key="k2")],
    ) as agent:
        result = agent.run("write a.txt")
    assert result.status == "completed"
    assert result.final_text == "parWritten and checked."  # shown text is continued, not repeated
    request = backup.requests[0]
    assert request.rejected is None
    blocks = [b for m in request.body["messages"] for b in (m["content"] if isinstance(m["content"], list) else [])]
    assert not any(b.get("type") == "thinking" for b in blocks)  # signatures cannot cross providers
    assert any(b.get("type") == "tool_use" for b in blocks) and any(b.get("type") == "tool_result" for b in blocks)
    assert (tmp_path / "a.txt").read_text() == "x"


def test_overloaded_primary_switches_at_the_second_overload_when_a_fallback_exists(
    primary: ProviderSimulator, backup: ProviderSimulator, tmp_path: Path
) -> None:
    primary.behaviour(lambda request: HttpError(529, "Overloaded", headers={"retry-after": "0"}))
    backup.script(Reply(Text("From the backup.")))
    with AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=primary.base_url,
        api_key="k",
        workdir=tmp_path,
        fallbacks=[f"custom:gpt-4o@{backup.openai_base_url}"],
    ) as agent:
        events = list(agent.stream("hi"))
    assert events[-1].status == "completed" and events[-1].final_text == "From the backup."
    assert len(primary.requests) == 2  # not the whole five-minute budget: the fallback can answer now
    assert len(of_kind(events, "retrying")) == 1
    assert len(of_kind(events, "fallback_activated")) == 1


def test_next_turn_after_the_cooldown_goes_back_to_the_primary(
    primary: ProviderSimulator, backup: ProviderSimulator, tmp_path: Path
) -> None:
    primary.script(HttpError(404, "model: claude-sonnet-4-6 not found"), Reply(Text("Primary is back.")))
    backup.behaviour(lambda request: Reply(Text("Backup answer.")))
    settings = Settings(fallback_cooldown=60)
    now = [1000.0]  # the injectable clock: the cooldown passes when the test says so
    with AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=primary.base_url,
        api_key="k",
        workdir=tmp_path,
        settings=settings,
        fallbacks=[f"custom:gpt-4o@{backup.openai_base_url}"],
        clock=lambda: now[0],
    ) as agent:
        assert agent.run("one").final_text == "Backup answer."
        now[0] += 59
        assert agent.run("two").final_text == "Backup answer."  # still cooling down
        now[0] += 2
        third = agent.run("three")
    assert third.final_text == "Primary is back."
    assert len(primary.requests) == 2 and primary.requests[1].rejected is None


def test_a_chain_that_runs_out_names_every_failure(
    primary: ProviderSimulator, backup: ProviderSimulator, tmp_path: Path
) -> None:
    primary.behaviour(lambda request: HttpError(401, "invalid x-api-key"))
    backup.behaviour(lambda request: HttpError(404, "The model `gpt-9` does not exist"))
    with AIAgent(
        provider="anthropic",
        model="claude-sonnet-4-6",
        base_url=primary.base_url,
        api_key="k",
        workdir=tmp_path,
        fallbacks=[f"custom:gpt-9@{backup.openai_base_url}", "openai:gpt-4o"],
    ) as agent:
        events = list(agent.stream("hi"))
    finished = events[-1]
    assert finished.status == "failed"
    assert len(of_kind(events, "fallback_exhausted")) == 1
    error = finished.error or ""
    assert "claude-sonnet-4-6 via anthropic" in error and "401" in error
    assert "gpt-9 via custom" in error and "does not exist" in error
    assert "gpt-4o via openai" in error and "OPENAI_API_KEY" in error  # an entry that could not be built
    assert len(primary.requests) == 1 and len(backup.requests) == 1  # neither error is retried


def test_fallback_spec_parsing() -> None:
    assert FallbackSpec.parse("openrouter:anthropic/claude-opus-4.6") == FallbackSpec(
        "openrouter", "anthropic/claude-opus-4.6"
    )
    spec = FallbackSpec.parse("custom:qwen3:32b@http://127.0.0.1:11434/v1")
    assert spec == FallbackSpec("custom", "qwen3:32b", "http://127.0.0.1:11434/v1")
    from agent.errors import ConfigError

    with pytest.raises(ConfigError):
        FallbackSpec.parse("gpt-4o")
    with pytest.raises(ConfigError):
        FallbackSpec.parse("custom:model-without-url")


def test_a_fallback_uses_its_own_stale_limit_from_the_config_file(
    primary: ProviderSimulator, backup: ProviderSimulator, tmp_path: Path
) -> None:
    from agent.config_file import resolve_settings
    from agent.config_reader import FileConfig
    from agent.testing import Pace

    config = FileConfig(top={"stale_timeout": 0.5}, providers={"custom": {"stale_timeout": 5.0}})
    settings = resolve_settings(config, {"provider": "anthropic", "model": "claude-sonnet-4-6"}, {})
    assert settings.stale_timeout == 0.5 and not settings.stale_timeout_explicit
    primary.behaviour(lambda request: Reply(Silence(30)))
    backup.script(Reply(Pace(0.8), Text("slow but steady", chunk=5)))  # would be killed at 0.5 s
    with AIAgent(
        base_url=primary.base_url,
        api_key="k",
        workdir=tmp_path,
        settings=settings,
        max_retries=0,
        fallbacks=[f"custom:gpt-4o@{backup.openai_base_url}"],
    ) as agent:
        events = list(agent.stream("hi"))
    assert events[-1].status == "completed" and events[-1].final_text == "slow but steady"
    assert len(of_kind(events, "stalled")) == 1  # only the primary's
    assert len(backup.requests) == 1


def test_an_explicit_stale_limit_holds_for_fallbacks_too(tmp_path: Path) -> None:
    from agent.assembly import fallback_settings
    from agent.config_file import resolve_settings
    from agent.config_reader import FileConfig

    config = FileConfig(top={"stale_timeout": 11.0}, providers={"openai": {"stale_timeout": 7.0}})
    spec = FallbackSpec("openai", "gpt-4o")
    from_file = resolve_settings(config, {"provider": "anthropic"}, {})
    assert fallback_settings(from_file, spec).stale_timeout == 7.0
    assert fallback_settings(from_file, FallbackSpec("openrouter", "x/y")).stale_timeout == 11.0
    flagged = resolve_settings(config, {"provider": "anthropic", "stale_timeout": 3.0}, {})
    assert fallback_settings(flagged, spec).stale_timeout == 3.0
    from_env = resolve_settings(config, {"provider": "anthropic"}, {"STAYLINE_STALE_TIMEOUT": "4"})
    assert fallback_settings(from_env, spec).stale_timeout == 4.0
