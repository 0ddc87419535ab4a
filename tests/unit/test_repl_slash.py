"""Slash commands: parsing, completion and dispatch on a fake agent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.cli import slash
from agent.cli.slash import ModelSpec, SlashContext, completions, dispatch, is_command, parse, parse_model_spec
from agent.cost import Spend, Waste
from agent.errors import MissingKeyError
from agent.events import AgentEvent, TextDelta, TurnFinished
from agent.messages import user_message
from agent.pricing import CostTally
from agent.sessions import SessionStore


@dataclass
class FakeProvider:
    name: str = "anthropic"
    model: str = "claude-sonnet-4-6"
    wire: str = "anthropic_messages"
    base_url: str = "https://api.anthropic.com"


@dataclass(frozen=True)
class FakeSettings:
    provider: str | None = "anthropic"
    model: str | None = "claude-sonnet-4-6"
    base_url: str | None = "http://sim/anthropic"
    api_key: str | None = "sk-ant"
    api_mode: str | None = None


@dataclass
class FakeTool:
    name: str
    description: str


@dataclass
class FakeResult:
    usage: dict[str, int | None]
    api_calls: int


@dataclass
class FakeAgent:
    provider: FakeProvider = field(default_factory=FakeProvider)
    settings: FakeSettings = field(default_factory=FakeSettings)
    session_id: str | None = None
    history: list[str] = field(default_factory=list)
    total_usage: dict[str, int | None] = field(
        default_factory=lambda: {"prompt_tokens": 0, "output_tokens": 0, "api_calls": 0}
    )
    last_result: FakeResult | None = None
    total_spend: Spend | None = None
    tools: list[FakeTool] = field(
        default_factory=lambda: [FakeTool("read_file", "Read a text file. Long files come in pages.")]
    )
    switched: list[tuple[str, str | None, str | None, FakeSettings]] = field(default_factory=list)
    switch_error: Exception | None = None
    renewed: int = 0

    def undo(self) -> str | None:
        return self.history.pop() if self.history else None

    def retry(self) -> Iterator[AgentEvent]:
        text = self.undo()
        if text is None:
            raise ValueError("there is no turn to retry yet")
        return self.stream(text)

    def stream(self, text: str) -> Iterator[AgentEvent]:
        self.history.append(text)
        yield TextDelta("again")
        yield TurnFinished("completed", "again")

    def new_conversation(self) -> None:
        self.history.clear()
        self.renewed += 1

    def switch_model(self, provider: str, model: str | None = None, base_url: str | None = None) -> FakeProvider:
        self.switched.append((provider, model, base_url, self.settings))
        if self.switch_error is not None:
            raise self.switch_error
        self.provider = FakeProvider(provider, model or "default-model", "chat_completions", base_url or "")
        return self.provider


class Harness:
    def __init__(self, agent: FakeAgent, home: Path | None = None) -> None:
        self.agent = agent
        self.lines: list[tuple[str, str]] = []
        self.turns: list[list[AgentEvent]] = []
        self.new_calls = 0

        def run_turn(start: Callable[[], Iterator[AgentEvent]]) -> None:
            self.turns.append(list(start()))

        def on_new() -> None:
            self.new_calls += 1

        self.ctx = SlashContext(agent, lambda line, style: self.lines.append((line, style)), run_turn, home)
        self.ctx.extra["on_new"] = on_new

    def run(self, line: str) -> str | None:
        return dispatch(line, self.ctx)

    @property
    def text(self) -> str:
        return "\n".join(line for line, _ in self.lines)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(FakeAgent(), tmp_path / "home")


# -- parsing --------------------------------------------------------------------------------


def test_parse_and_is_command() -> None:
    assert parse("/model openai:gpt-4o") == ("model", "openai:gpt-4o")
    assert parse("  /HELP  ") == ("help", "")
    assert parse("/resume  abc ") == ("resume", "abc")
    assert is_command("/undo") and not is_command("//etc/hosts is odd") and not is_command("hello /undo")


@pytest.mark.parametrize(
    ("arg", "current", "expected"),
    [
        ("openai:gpt-4o", "anthropic", ModelSpec("openai", "gpt-4o", None)),
        ("openrouter:x/claude-sonnet-4.6", "anthropic", ModelSpec("openrouter", "x/claude-sonnet-4.6", None)),
        ("custom:qwen3:8b@http://127.0.0.1:11434/v1", "anthropic", ModelSpec("custom", "qwen3:8b", "http://127.0.0.1:11434/v1")),
        ("openai:gpt-4o@https://proxy.example/v1", "anthropic", ModelSpec("openai", "gpt-4o", "https://proxy.example/v1")),
        ("claude-opus-4-6", "anthropic", ModelSpec("anthropic", "claude-opus-4-6", None)),
        ("qwen3:8b", "custom", ModelSpec("custom", "qwen3:8b", None)),
        ("openai", "anthropic", ModelSpec("openai", None, None)),
        ("OpenAI:gpt-4o", "anthropic", ModelSpec("openai", "gpt-4o", None)),
        ("m@http://127.0.0.1:8080/v1", "anthropic", ModelSpec("custom", "m", "http://127.0.0.1:8080/v1")),
    ],
)  # fmt: skip
def test_model_specs(arg: str, current: str, expected: ModelSpec) -> None:
    assert parse_model_spec(arg, current) == expected


@pytest.mark.parametrize("arg", ["custom:m", "custom@http://127.0.0.1:1/v1"])
def test_bad_model_specs_say_what_to_type(arg: str) -> None:
    with pytest.raises(ValueError, match="/model custom:"):
        parse_model_spec(arg, "anthropic")


def test_completions() -> None:
    assert [c[0] for c in completions("/")] == [f"/{c.name}" for c in slash.COMMANDS]
    assert completions("/us") == [
        ("/usage", -3, "tokens, cost and model calls so far, and how full the context window is")
    ]
    assert [c[0] for c in completions("/model op")] == ["openai:", "openrouter:"]
    assert completions("/model openai:gp") == []
    assert completions("hello") == [] and completions("//x") == []


# -- dispatch -------------------------------------------------------------------------------


def test_help_lists_every_command_and_the_keys(harness: Harness) -> None:
    assert harness.run("/help") is None
    for command in slash.COMMANDS:
        assert f"/{command.name}" in harness.text
    assert "Alt+Enter" in harness.text and "Esc then Enter" in harness.text and "Ctrl+D" in harness.text


def test_unknown_command_suggests(harness: Harness) -> None:
    assert harness.run("/modle gpt") is None
    assert harness.lines[-1][0].startswith("Unknown command /modle. Did you mean /model?")
    harness.run("/zzz")
    assert "Type /help" in harness.lines[-1][0] and "Did you mean" not in harness.lines[-1][0]


def test_quit_and_aliases(harness: Harness) -> None:
    assert harness.run("/quit") == slash.QUIT
    assert harness.run("/exit") == slash.QUIT


def test_new_undo_retry(harness: Harness) -> None:
    agent = harness.agent
    harness.run("/undo")
    assert harness.lines[-1][0] == "nothing to undo"
    harness.run("/retry")
    assert harness.lines[-1][0] == "nothing to retry yet" and harness.turns == []
    agent.history += ["first", "second"]
    harness.run("/undo")
    assert harness.lines[-1][0] == "undone: second" and agent.history == ["first"]
    harness.run("/retry")
    assert [e.kind for e in harness.turns[0]] == ["text_delta", "turn_finished"]
    assert agent.history == ["first"]  # undone, then run again
    harness.run("/new")
    assert agent.renewed == 1 and agent.history == [] and harness.new_calls == 1


def test_model_without_argument_shows_the_current_one(harness: Harness) -> None:
    harness.run("/model")
    assert (
        harness.lines[0][0] == "model: anthropic · claude-sonnet-4-6 · anthropic_messages · https://api.anthropic.com"
    )


def test_model_switch_to_another_provider_drops_the_old_endpoint_and_key(harness: Harness) -> None:
    harness.run("/model openai:gpt-4o")
    provider, model, base_url, settings = harness.agent.switched[0]
    assert (provider, model, base_url) == ("openai", "gpt-4o", None)
    # switch_model keeps unset values: the Anthropic key and URL must not reach OpenAI
    assert (settings.base_url, settings.api_key, settings.api_mode, settings.model) == (None, None, None, None)
    assert harness.lines[-1][0].startswith("now using openai · gpt-4o")


def test_model_switch_on_the_same_provider_keeps_the_endpoint(harness: Harness) -> None:
    harness.run("/model claude-opus-4-6")
    provider, model, _, settings = harness.agent.switched[0]
    assert (provider, model) == ("anthropic", "claude-opus-4-6")
    assert settings == FakeSettings()


def test_a_failed_switch_changes_nothing_and_says_why(harness: Harness) -> None:
    agent = harness.agent
    agent.switch_error = MissingKeyError("no API key for provider openai: set OPENAI_API_KEY or pass --api-key")
    harness.run("/model openai:gpt-4o")
    assert agent.settings == FakeSettings()  # restored
    line, style = harness.lines[-1]
    assert "OPENAI_API_KEY" in line and "still on claude-sonnet-4-6" in line and style == "red"


def test_tools_and_usage(harness: Harness) -> None:
    harness.run("/tools")
    assert "read_file" in harness.text and "Read a text file" in harness.text
    harness.agent.total_usage = {"prompt_tokens": 12345, "output_tokens": 678, "api_calls": 3}
    harness.agent.last_result = FakeResult({"prompt_tokens": 100, "output_tokens": None}, 1)
    harness.run("/usage")
    assert "12,345 input + 678 output tokens in 3 model calls" in harness.text
    assert "last turn: 100 input + not reported output tokens in 1 model calls, cost unknown" in harness.text


def test_usage_shows_cache_cost_and_recovery(harness: Harness) -> None:
    harness.agent.total_usage = {
        "prompt_tokens": 10_000, "cache_read_tokens": 9_000, "cache_write_tokens": 500,
        "output_tokens": 300, "api_calls": 4,
    }  # fmt: skip
    waste = Waste(input_tokens=100, cache_read_tokens=1_900, output_tokens=40, estimated=True)
    harness.agent.total_spend = Spend(CostTally(0.0123), waste, CostTally(0.0011))
    harness.run("/usage")
    assert "cache: 9,000 tokens read (90% of input), 500 written" in harness.text
    assert "cost: $0.0123" in harness.text
    assert "recovery: 2,000 input tokens re-sent, 40 output tokens thrown away (estimated), $0.0011" in harness.text


def test_usage_says_unknown_cost_and_where_prices_go(harness: Harness) -> None:
    harness.agent.total_usage = {"prompt_tokens": 50, "output_tokens": 5, "api_calls": 1}
    harness.agent.total_spend = Spend(CostTally(0.0, ("qwen3-coder",)))
    harness.run("/usage")
    assert "cache: not reported by the provider" in harness.text
    assert "cost: unknown (no price or no usage for qwen3-coder" in harness.text
    assert '[models."ID"]' in harness.text and "recovery: nothing re-sent or thrown away" in harness.text


def test_usage_shows_how_full_the_context_window_is(harness: Harness) -> None:
    harness.agent.context_usage = {  # type: ignore[attr-defined]
        "window": 16_000,
        "tokens": 9_280,
        "fill": 0.58,
        "compactions": 2,
        "trimmed_results": 31,
    }
    harness.run("/usage")
    assert "context: 9,280 of 16,000 tokens (58%); so far 2 compactions, 31 tool outputs stubbed" in harness.text


def test_compact_runs_as_a_turn_with_the_focus(harness: Harness) -> None:
    asked: list[str | None] = []

    def compact(focus: str | None) -> Iterator[AgentEvent]:
        asked.append(focus)
        yield TurnFinished("completed", "")

    harness.agent.compact = compact  # type: ignore[attr-defined]
    harness.run("/compact the parser and its tests")
    harness.run("/compact")
    assert asked == ["the parser and its tests", None] and len(harness.turns) == 2
    assert [c[0] for c in completions("/comp")] == ["/compact"]


def test_a_failing_command_does_not_escape(harness: Harness) -> None:
    def boom() -> None:
        raise RuntimeError("disk full")

    harness.agent.new_conversation = boom  # type: ignore[method-assign]
    assert harness.run("/new") is None
    assert harness.lines[-1] == ("✗ /new failed: disk full", "red")


# -- sessions -------------------------------------------------------------------------------


def _store_with_sessions(home: Path) -> list[str]:
    clock = iter(range(1000, 2000, 10))
    with SessionStore(home, clock=lambda: float(next(clock))) as store:
        ids = [store.create("claude-sonnet-4-6", "anthropic", "/w") for _ in range(2)]
        store.append(ids[0], user_message("fix the tests"))
        store.append(ids[1], user_message("write docs"))
    return ids


def test_sessions_without_a_store_does_not_create_one(harness: Harness, tmp_path: Path) -> None:
    harness.run("/sessions")
    assert harness.lines[-1][0] == "no saved sessions yet"
    assert not (tmp_path / "home").exists()


def test_sessions_lists_and_marks_the_current_one(harness: Harness, tmp_path: Path) -> None:
    first, second = _store_with_sessions(tmp_path / "home")
    harness.agent.session_id = second
    harness.run("/sessions")
    rows = [line for line, _ in harness.lines if first in line or second in line]
    assert rows[0].startswith(f"* {second}") and "write docs" in rows[0]
    assert rows[1].startswith(f"  {first}") and "fix the tests" in rows[1] and "1 msgs" in rows[1]


def test_resume_tells_how_when_the_agent_cannot_switch_in_place(harness: Harness, tmp_path: Path) -> None:
    first, _ = _store_with_sessions(tmp_path / "home")
    harness.run("/resume")
    assert harness.lines[-1][0].startswith("usage: /resume ID")
    harness.run(f"/resume {first}")
    assert harness.lines[-1][0].endswith(f"Quit and run: stayline --resume {first}")
    harness.run("/resume nope")
    assert "no session matching 'nope'" in harness.lines[-1][0]


def test_resume_uses_the_agent_hook_and_unique_prefixes(harness: Harness, tmp_path: Path) -> None:
    first, _ = _store_with_sessions(tmp_path / "home")
    resumed: list[str] = []
    harness.agent.resume_session = resumed.append  # type: ignore[attr-defined]
    harness.run(f"/resume {first[:-4]}")  # ids differ in their random tail
    assert resumed == [first]
    assert harness.lines[-1][0] == f"resumed session {first} (1 messages)"


def test_resume_of_an_ambiguous_prefix(harness: Harness, tmp_path: Path) -> None:
    _store_with_sessions(tmp_path / "home")
    harness.run("/resume 0")
    assert "2 sessions matching '0'" in harness.lines[-1][0]


def test_switch_model_helper_on_a_real_settings_value() -> None:
    from agent.config import Settings

    class Agent:
        def __init__(self) -> None:
            self.settings = Settings(provider="anthropic", base_url="http://x/anthropic", api_key="k", model="m")
            self.provider = FakeProvider()
            self.seen: Settings | None = None

        def switch_model(self, provider: str, model: str | None = None, base_url: str | None = None) -> Any:
            self.seen = self.settings
            return FakeProvider(provider, model or "d")

    agent = Agent()
    slash.switch_model(agent, ModelSpec("openai", None, None))
    assert agent.seen is not None
    assert (agent.seen.base_url, agent.seen.api_key, agent.seen.model) == (None, None, None)
