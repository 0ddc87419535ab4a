"""AIAgent's conversation features end to end: sessions, undo/retry, switching models,
approval of dangerous commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import AIAgent
from agent.config import Settings
from agent.testing import LargeWriteModel, ProviderSimulator, Reply, Text, ToolCall

MODEL = "claude-sonnet-4-6"


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


def make(sim: ProviderSimulator, tmp_path: Path, **options: object) -> AIAgent:
    defaults: dict[str, object] = {
        "provider": "anthropic",
        "model": MODEL,
        "base_url": sim.base_url,
        "api_key": "k",
        "workdir": tmp_path,
        "stale_timeout": 5,
        "session_home": tmp_path / "home",
    }
    defaults.update(options)
    return AIAgent(**defaults)  # type: ignore[arg-type]


def test_a_session_is_persisted_and_resumed(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(
        Reply(ToolCall("write_file", {"path": "a.txt", "content": "A"})),
        Reply(Text("Wrote a.txt.")),
        Reply(Text("Still here.")),
    )
    with make(sim, tmp_path, session="new") as first:
        result = first.run("write a.txt")
        session_id = first.session_id
    assert session_id is not None and result.session_id == session_id
    with make(sim, tmp_path, session=session_id) as resumed:
        assert [m.role for m in resumed.history] == ["user", "assistant", "tool", "assistant"]
        assert resumed.run("are you there?").final_text == "Still here."
    last = sim.requests[-1]
    assert last.rejected is None and "write_file" in str(last.body["messages"])
    with make(sim, tmp_path, session="latest") as latest:
        assert latest.session_id == session_id


def test_unknown_session_is_a_clear_error(sim: ProviderSimulator, tmp_path: Path) -> None:
    from agent.errors import ConfigError

    with pytest.raises(ConfigError, match="no session with id"):
        make(sim, tmp_path, session="nope")


def test_the_stall_ledger_survives_a_resumed_session(sim: ProviderSimulator, tmp_path: Path) -> None:
    content = "x" * 30_000
    sim.behaviour(LargeWriteModel("big.txt", content, obeys_guidance=False))
    settings = Settings(eager_tool_streaming=False)
    with make(sim, tmp_path, session="new", settings=settings) as first:
        assert first.run("write big.txt").status == "failed"
        session_id = first.session_id
    sim.clear_log()
    sim.behaviour(LargeWriteModel("big.txt", content))
    with make(sim, tmp_path, session=session_id, settings=settings) as resumed:
        result = resumed.run("continue")
    assert result.status == "completed"
    assert (tmp_path / "big.txt").read_text() == content
    assert '"append"' in str(sim.requests[0].body["messages"][-1])


def test_undo_and_retry(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("one")), Reply(Text("two")), Reply(Text("two again")))
    with make(sim, tmp_path, session="new") as agent:
        agent.run("first")
        agent.run("second")
        events = list(agent.retry())
        assert events[-1].final_text == "two again"
        assert [m.text for m in agent.history] == ["first", "one", "second", "two again"]
        assert agent.undo() == "second"
        assert [m.text for m in agent.history] == ["first", "one"]
        session_id = agent.session_id
    with make(sim, tmp_path, session=session_id) as resumed:
        assert [m.text for m in resumed.history] == ["first", "one"]
    retried = sim.requests[2]
    assert retried.rejected is None and "second" in str(retried.body["messages"][-1])


def test_switching_model_across_wires_mid_conversation(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(
        Reply(ToolCall("write_file", {"path": "n.txt", "content": "1"})),
        Reply(Text("Done on Claude.")),
        Reply(Text("Done on GPT.")),
    )
    with make(sim, tmp_path) as agent:
        agent.run("write n.txt")
        agent.switch_model("custom", "gpt-4o", base_url=sim.openai_base_url)
        assert agent.provider.wire == "chat_completions"
        assert agent.run("and now?").final_text == "Done on GPT."
    request = sim.requests[-1]
    assert request.wire == "openai" and request.rejected is None
    assert any(m.get("tool_calls") for m in request.body["messages"])


def test_dangerous_commands_are_refused_unless_approved(sim: ProviderSimulator, tmp_path: Path) -> None:
    command = {"command": "git push --force origin main"}
    sim.script(
        Reply(ToolCall("terminal", command)),
        Reply(Text("Refused, fine.")),
        Reply(ToolCall("terminal", command)),
        Reply(Text("Ran it.")),
    )
    with make(sim, tmp_path) as agent:
        assert agent.run("force push").status == "completed"
    refused = str(sim.requests[1].body["messages"][-1])
    assert "refused" in refused and "force" in refused
    asked: list[str] = []

    def approve(tool: str, action: str) -> bool:
        asked.append(action)
        return True

    with make(sim, tmp_path, approve=approve) as agent:
        assert agent.run("force push").status == "completed"
    assert asked and "git push --force" in asked[0]
    ran = str(sim.requests[3].body["messages"][-1])
    assert "refused" not in ran and "exit code" in ran


def test_resume_session_in_place(sim: ProviderSimulator, tmp_path: Path) -> None:
    sim.script(Reply(Text("first answer")), Reply(Text("other answer")), Reply(Text("back")))
    with make(sim, tmp_path, session="new") as agent:
        agent.run("first")
        first_id = agent.session_id
        agent.new_conversation()
        agent.run("other")
        assert agent.session_id != first_id
        agent.resume_session(first_id or "")
        assert [m.text for m in agent.history] == ["first", "first answer"]
        assert agent.run("again").final_text == "back"
    assert "first answer" in str(sim.requests[-1].body["messages"])


def test_switching_provider_does_not_carry_the_old_key_or_endpoint(
    sim: ProviderSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "openai-key")
    with make(sim, tmp_path, api_key="anthropic-key") as agent:
        provider = agent.switch_model("openai", "gpt-4o")
        assert provider.base_url == "https://api.openai.com/v1"
        assert agent.settings.api_key is None  # the new provider's own key variable is used
